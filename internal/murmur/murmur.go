// Package murmur holds the steps of MurmurHash3 (x86, 32-bit) that the
// project's hashes are built from: balancer's flow hashes (Hash5, Hash3)
// and frag's fragment set hash (SetHash), which the kernel program
// (xdp/titan.c) computes with the same steps. Each hash feeds its key's
// little-endian words to [Mix] from the seed, XORs in the key's length in
// bytes, and finishes with [Fmix]. It imports nothing of the project.
package murmur

import "math/bits"

// Mix mixes the key word k into the hash state h.
func Mix(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = bits.RotateLeft32(k, 15)
	k *= 0x1b873593
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

// Fmix is the final avalanche of the state h (after the length is XORed
// in).
func Fmix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// Word returns 4 bytes (an IPv4 address in network order) as murmur3
// reads them: a little-endian word.
func Word(b [4]byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// Fmix64 is MurmurHash3's 64-bit finalizer: the index hash of the Go
// models' tables (connection, hint, fragment reassembly), which only place
// keys in memory and decide nothing a packet's backend depends on.
func Fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
