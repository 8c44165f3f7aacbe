package frag

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"
)

// Defaults of [SetOptions].
const (
	// DefaultCapacity is the table capacity when SetOptions.Capacity is 0.
	DefaultCapacity = 16384
	// DefaultTimeout is the entry lifetime when SetOptions.Timeout is 0: 30 s,
	// Linux's net.ipv4.ipfrag_time.
	DefaultTimeout = 30 * time.Second
)

// Key identifies the datagram a fragment belongs to: source and
// destination addresses, protocol and identification, as RFC 791 does for
// IPv4 (16-bit ID) and RFC 8200 §4.5 for IPv6 (the Fragment header's
// 32-bit Identification; the protocol is the Fragment header's Next
// Header).
//
// Like [netip.Addr] it is a small comparable value: use it as a map key or
// compare it with ==; an IPv4 key never equals an IPv6 one. It does not
// allocate. The zero Key is the IPv4 key of 0.0.0.0 -> 0.0.0.0, protocol
// 0, ID 0.
type Key struct {
	// The addresses' bytes in network order, read as two little-endian
	// words each (an IPv4 address: src0's low 32 bits, the rest 0), and
	// the identification, protocol and family: five words, passed in
	// registers.
	src0, src1, dst0, dst1 uint64
	meta                   uint64 // id | proto<<32 | v6<<40
}

const metaV6 = 1 << 40

// MakeKey returns the IPv4 key of a fragment from src to dst with the
// given protocol and IP ID. An address that is not IPv4 is taken as
// 0.0.0.0 (an IPv4-mapped IPv6 address is unmapped first); IPv6 datagrams
// take [MakeKey6].
func MakeKey(src, dst netip.Addr, proto uint8, id uint16) Key {
	return KeyFrom4(as4(src), as4(dst), proto, id)
}

// KeyFrom4 returns the key built from raw network-order IPv4 addresses.
func KeyFrom4(src, dst [4]byte, proto uint8, id uint16) Key {
	return Key{
		src0: uint64(binary.LittleEndian.Uint32(src[:])),
		dst0: uint64(binary.LittleEndian.Uint32(dst[:])),
		meta: uint64(id) | uint64(proto)<<32,
	}
}

// KeyFromWords returns the key of the addresses given as the words a Key
// holds them in: an address's 16 bytes in network order read as two
// little-endian words, an IPv4 address's 4 bytes as the low half of the
// first word and 0 as the second (of an IPv4 key, v6 false, only those
// 32 bits of each address and the low 16 bits of id count). It is
// [KeyFrom4] or [KeyFrom16] for a caller that already holds those words,
// a balancer that hashed them, without converting the addresses again.
func KeyFromWords(src0, src1, dst0, dst1 uint64, proto uint8, id uint32, v6 bool) Key {
	if !v6 {
		return Key{src0: src0 & 0xffffffff, dst0: dst0 & 0xffffffff, meta: uint64(uint16(id)) | uint64(proto)<<32}
	}
	return Key{src0: src0, src1: src1, dst0: dst0, dst1: dst1, meta: uint64(id) | uint64(proto)<<32 | metaV6}
}

// MakeKey6 returns the IPv6 key of a fragment from src to dst whose
// Fragment header has the given Next Header (proto) and Identification.
// Addresses are taken in their 16-byte form (an IPv4 address
// IPv4-mapped, an unset one ::).
func MakeKey6(src, dst netip.Addr, proto uint8, id uint32) Key {
	return KeyFrom16(src.As16(), dst.As16(), proto, id)
}

// KeyFrom16 returns the IPv6 key built from raw network-order IPv6
// addresses.
func KeyFrom16(src, dst [16]byte, proto uint8, id uint32) Key {
	return Key{
		src0: binary.LittleEndian.Uint64(src[:8]), src1: binary.LittleEndian.Uint64(src[8:]),
		dst0: binary.LittleEndian.Uint64(dst[:8]), dst1: binary.LittleEndian.Uint64(dst[8:]),
		meta: uint64(id) | uint64(proto)<<32 | metaV6,
	}
}

func as4(a netip.Addr) [4]byte {
	a = a.Unmap()
	if !a.Is4() {
		return [4]byte{}
	}
	return a.As4()
}

// Is6 reports whether k is an IPv6 key.
func (k Key) Is6() bool { return k.meta&metaV6 != 0 }

// addr returns the address of the words w0, w1.
func (k Key) addr(w0, w1 uint64) netip.Addr {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], w0)
	binary.LittleEndian.PutUint64(b[8:], w1)
	if k.Is6() {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte(b[:4]))
}

// Src returns the source address.
func (k Key) Src() netip.Addr { return k.addr(k.src0, k.src1) }

// Dst returns the destination address.
func (k Key) Dst() netip.Addr { return k.addr(k.dst0, k.dst1) }

// Proto returns the IP protocol (IPv6: the Fragment header's Next Header).
func (k Key) Proto() uint8 { return uint8(k.meta >> 32) }

// ID returns the identification's low 16 bits: the whole IPv4 IP ID
// ([Key.ID32] gives an IPv6 key's 32 bits).
func (k Key) ID() uint16 { return uint16(k.meta) }

// ID32 returns the identification: 16 bits for IPv4, 32 for IPv6.
func (k Key) ID32() uint32 { return uint32(k.meta) }

// String returns the key as "src->dst/proto#id", e.g.
// "10.0.0.1->192.0.2.10/17#42" or "2001:db8::1->2001:db8::10/17#42".
func (k Key) String() string {
	return k.Src().String() + "->" + k.Dst().String() + "/" +
		strconv.Itoa(int(k.Proto())) + "#" + strconv.FormatUint(uint64(k.ID32()), 10)
}

// Entry is what a balancer records for a datagram: the backend its
// fragments go to and, once the first fragment has been seen, its ports.
type Entry struct {
	Backend          uint32        // the backend's ID (a balancer.BackendID)
	SrcPort, DstPort uint16        // the first fragment's ports, when HasPorts
	HasPorts         bool          // false while only non-first fragments were seen
	Created          time.Duration // when the entry was written, on the caller's clock
}

// TableStats counts what a [SetTable] did since it was made or cleared.
type TableStats struct {
	Hits      uint64 // lookups that found a live entry
	Misses    uint64 // lookups that found no live entry (expired ones included)
	Inserts   uint64 // Insert added a key
	Updates   uint64 // Insert replaced the entry of a present key
	Evictions uint64 // live or stale entries evicted by an Insert into a full table
	Expiries  uint64 // lookups that found an expired entry and removed it
}
