package balancer

import (
	"encoding/binary"
	"net/netip"

	"github.com/titanlb/titanlb/internal/murmur"
)

// DefaultSeed is the flow hash seed used when a configuration leaves it 0.
// It is the same in the Go models and in the eBPF program's defaults.
const DefaultSeed uint32 = 0x54495441 // "TITA"

// be16 returns the little-endian word value of a 16-bit field stored in
// network byte order.
func be16(v uint16) uint32 { return uint32(v>>8) | uint32(v&0xff)<<8 }

// flow6 reports whether p's flow keys take the IPv6 layout: either address
// is IPv6 (an IPv4 one is then taken in its IPv4-mapped form, an unset one
// as ::).
func flow6(p *Packet) bool { return p.Src.Is6() || p.Dst.Is6() }

// Hash5 returns the murmur3 hash of the 5-tuple key of p: 16 bytes for
// IPv4, 40 for IPv6 (see the package doc for the layouts). Addresses that
// are neither hash as 0.0.0.0. It does not allocate.
func Hash5(p *Packet, seed uint32) uint32 {
	if !p.Dst.Is4() && flow6(p) {
		return hash5v6(p, seed)
	}
	h := murmur.Mix(murmur.Mix(seed, murmur.Word(v4(p.Src))), murmur.Word(v4(p.Dst)))
	h = murmur.Mix(h, be16(p.SrcPort)|be16(p.DstPort)<<16)
	h = murmur.Mix(h, uint32(p.Proto))
	return murmur.Fmix(h ^ 16)
}

// Hash3 returns the murmur3 hash of the 3-tuple key of p (source,
// destination, protocol): 12 bytes for IPv4, 36 for IPv6. It does not
// allocate.
func Hash3(p *Packet, seed uint32) uint32 {
	if !p.Dst.Is4() && flow6(p) {
		return hash3v6(p, seed)
	}
	h := murmur.Mix(murmur.Mix(seed, murmur.Word(v4(p.Src))), murmur.Word(v4(p.Dst)))
	return murmur.Fmix(murmur.Mix(h, uint32(p.Proto)) ^ 12)
}

// hash5v6 is [Hash5] of the 40-byte IPv6 key.
func hash5v6(p *Packet, seed uint32) uint32 {
	h := mix6(seed, p)
	h = murmur.Mix(h, be16(p.SrcPort)|be16(p.DstPort)<<16)
	h = murmur.Mix(h, uint32(p.Proto))
	return murmur.Fmix(h ^ 40)
}

// hash3v6 is [Hash3] of the 36-byte IPv6 key.
func hash3v6(p *Packet, seed uint32) uint32 {
	h := mix6(seed, p)
	h = murmur.Mix(h, uint32(p.Proto))
	return murmur.Fmix(h ^ 36)
}

// mix6 mixes the 32 bytes of an IPv6 host pair (source, then destination)
// into the state seeded with seed: the first eight rounds of the IPv6
// flow hashes.
func mix6(seed uint32, p *Packet) uint32 {
	s, d := p.Src.As16(), p.Dst.As16()
	le := binary.LittleEndian
	h := murmur.Mix(seed, le.Uint32(s[0:4]))
	h = murmur.Mix(h, le.Uint32(s[4:8]))
	h = murmur.Mix(h, le.Uint32(s[8:12]))
	h = murmur.Mix(h, le.Uint32(s[12:16]))
	h = murmur.Mix(h, le.Uint32(d[0:4]))
	h = murmur.Mix(h, le.Uint32(d[4:8]))
	h = murmur.Mix(h, le.Uint32(d[8:12]))
	return murmur.Mix(h, le.Uint32(d[12:16]))
}

// Key5 returns the 16-byte IPv4 5-tuple key that [Hash5] hashes for an
// IPv4 packet ([Key5IPv6] is the IPv6 one). Addresses that are not IPv4
// are written as 0.0.0.0.
func Key5(p *Packet) [16]byte {
	var k [16]byte
	s, d := v4(p.Src), v4(p.Dst)
	putKey(k[:], s[:], d[:], p, true)
	return k
}

// Key3 returns the 12-byte IPv4 3-tuple key that [Hash3] hashes for an
// IPv4 packet ([Key3IPv6] is the IPv6 one).
func Key3(p *Packet) [12]byte {
	var k [12]byte
	s, d := v4(p.Src), v4(p.Dst)
	putKey(k[:], s[:], d[:], p, false)
	return k
}

// Key5IPv6 returns the 40-byte IPv6 5-tuple key that [Hash5] hashes for a
// packet with an IPv6 address: source (16), destination (16), source port
// (2), destination port (2), protocol (1), three zero bytes. An IPv4
// address is written in its IPv4-mapped form, an unset one as ::.
func Key5IPv6(p *Packet) [40]byte {
	var k [40]byte
	s, d := p.Src.As16(), p.Dst.As16()
	putKey(k[:], s[:], d[:], p, true)
	return k
}

// Key3IPv6 returns the 36-byte IPv6 3-tuple key that [Hash3] hashes for a
// packet with an IPv6 address: source (16), destination (16), protocol
// (1), three zero bytes.
func Key3IPv6(p *Packet) [36]byte {
	var k [36]byte
	s, d := p.Src.As16(), p.Dst.As16()
	putKey(k[:], s[:], d[:], p, false)
	return k
}

// putKey writes a flow key into k, in the layout of every family: the
// source address src, the destination address dst, with ports set p's
// source and destination ports (2 bytes each, network order), then p's
// protocol; the rest of k stays zero.
func putKey(k, src, dst []byte, p *Packet, ports bool) {
	n := copy(k, src)
	n += copy(k[n:], dst)
	if ports {
		binary.BigEndian.PutUint16(k[n:], p.SrcPort)
		binary.BigEndian.PutUint16(k[n+2:], p.DstPort)
		n += 4
	}
	k[n] = p.Proto
}

// v4 returns a's four bytes, or zeros when a is not an IPv4 address.
func v4(a netip.Addr) [4]byte {
	if !a.Is4() {
		return [4]byte{}
	}
	return a.As4()
}
