package balancer

import (
	"net/netip"

	"github.com/titanlb/titanlb/internal/murmur"
)

// DefaultSeed is the flow hash seed used when a configuration leaves it 0.
// It is the same in the Go models and in the eBPF program's defaults.
const DefaultSeed uint32 = 0x54495441 // "TITA"

// be16 returns the little-endian word value of a 16-bit field stored in
// network byte order.
func be16(v uint16) uint32 { return uint32(v>>8) | uint32(v&0xff)<<8 }

// Hash5 returns the murmur3 hash of the 16-byte 5-tuple key of p (see the
// package doc for the layout). Addresses that are not IPv4 hash as 0.0.0.0.
// It does not allocate.
func Hash5(p *Packet, seed uint32) uint32 {
	h := seed
	h = murmur.Mix(h, murmur.Word(v4(p.Src)))
	h = murmur.Mix(h, murmur.Word(v4(p.Dst)))
	h = murmur.Mix(h, be16(p.SrcPort)|be16(p.DstPort)<<16)
	h = murmur.Mix(h, uint32(p.Proto))
	h ^= 16
	return murmur.Fmix(h)
}

// Hash3 returns the murmur3 hash of the 12-byte 3-tuple key of p (source,
// destination, protocol). It does not allocate.
func Hash3(p *Packet, seed uint32) uint32 {
	h := seed
	h = murmur.Mix(h, murmur.Word(v4(p.Src)))
	h = murmur.Mix(h, murmur.Word(v4(p.Dst)))
	h = murmur.Mix(h, uint32(p.Proto))
	h ^= 12
	return murmur.Fmix(h)
}

// Key5 returns the 16-byte 5-tuple key that [Hash5] hashes.
func Key5(p *Packet) [16]byte {
	var k [16]byte
	s, d := v4(p.Src), v4(p.Dst)
	copy(k[0:4], s[:])
	copy(k[4:8], d[:])
	k[8], k[9] = byte(p.SrcPort>>8), byte(p.SrcPort)
	k[10], k[11] = byte(p.DstPort>>8), byte(p.DstPort)
	k[12] = p.Proto
	return k
}

// Key3 returns the 12-byte 3-tuple key that [Hash3] hashes.
func Key3(p *Packet) [12]byte {
	var k [12]byte
	s, d := v4(p.Src), v4(p.Dst)
	copy(k[0:4], s[:])
	copy(k[4:8], d[:])
	k[8] = p.Proto
	return k
}

// v4 returns a's four bytes, or zeros when a is not an IPv4 address.
func v4(a netip.Addr) [4]byte {
	if !a.Is4() {
		return [4]byte{}
	}
	return a.As4()
}
