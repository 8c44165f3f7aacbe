package frag

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/titanlb/titanlb/internal/murmur"
)

// Defaults of [SetOptions].
const (
	// DefaultCapacity is the table capacity when SetOptions.Capacity is 0.
	DefaultCapacity = 16384
	// DefaultTimeout is the entry lifetime when SetOptions.Timeout is 0: 30 s,
	// Linux's net.ipv4.ipfrag_time.
	DefaultTimeout = 30 * time.Second
)

// Key identifies the datagram a fragment belongs to, as RFC 791 does:
// source and destination IPv4 addresses, protocol and IP identification.
//
// Like [netip.Addr] it is a small comparable value: use it as a map key or
// compare it with ==. It does not allocate. The zero Key is the key of
// 0.0.0.0 -> 0.0.0.0, protocol 0, ID 0.
type Key struct {
	src, dst [4]byte
	proto    uint8
	id       uint16
}

// MakeKey returns the key of a fragment from src to dst with the given
// protocol and IP ID. An address that is not IPv4 is taken as 0.0.0.0 (an
// IPv4-mapped IPv6 address is unmapped first).
func MakeKey(src, dst netip.Addr, proto uint8, id uint16) Key {
	return Key{src: as4(src), dst: as4(dst), proto: proto, id: id}
}

// KeyFrom4 returns the key built from raw network-order IPv4 addresses.
func KeyFrom4(src, dst [4]byte, proto uint8, id uint16) Key {
	return Key{src: src, dst: dst, proto: proto, id: id}
}

func as4(a netip.Addr) [4]byte {
	a = a.Unmap()
	if !a.Is4() {
		return [4]byte{}
	}
	return a.As4()
}

// hash mixes the key's 11 bytes into 64 bits (a murmur3-style finalizer
// over two words): cheaper than a generic hash, and well spread in the low
// bits that pick a table slot.
func (k Key) hash() uint64 {
	a := uint64(k.src[0]) | uint64(k.src[1])<<8 | uint64(k.src[2])<<16 | uint64(k.src[3])<<24 |
		uint64(k.dst[0])<<32 | uint64(k.dst[1])<<40 | uint64(k.dst[2])<<48 | uint64(k.dst[3])<<56
	b := uint64(k.proto) | uint64(k.id)<<8
	return murmur.Fmix64(a ^ murmur.Fmix64(b+0x9e3779b97f4a7c15))
}

// Src returns the source address.
func (k Key) Src() netip.Addr { return netip.AddrFrom4(k.src) }

// Dst returns the destination address.
func (k Key) Dst() netip.Addr { return netip.AddrFrom4(k.dst) }

// Proto returns the IP protocol.
func (k Key) Proto() uint8 { return k.proto }

// ID returns the IP identification.
func (k Key) ID() uint16 { return k.id }

// String returns the key as "src->dst/proto#id", e.g.
// "10.0.0.1->192.0.2.10/17#42".
func (k Key) String() string {
	return k.Src().String() + "->" + k.Dst().String() + "/" +
		strconv.Itoa(int(k.proto)) + "#" + strconv.Itoa(int(k.id))
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
