package cilium

import (
	"encoding/binary"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/murmur"
)

// fragKey is struct ipv4_frag_id: daddr, saddr, IP ID, protocol.
type fragKey struct {
	dst, src [4]byte
	id       uint16
	proto    uint8
}

// ports is struct ipv4_frag_l4ports.
type ports struct{ sport, dport uint16 }

// CT tuple flags (TUPLE_F_*) distinguishing entries in one CT map.
const (
	tupleService uint8 = 1 + iota // CT_SERVICE entry (lb4_local)
	tupleEgress                   // CT_EGRESS entry (nodeport_lb4)
	tupleOut                      // SNAT forward entry
	tupleIn                       // SNAT reverse entry
)

type tupleKey struct {
	t     [16]byte // saddr, daddr, sport, dport, proto as balancer.Key5 lays out
	flags uint8
}

func hashTuple(k tupleKey) uint64 {
	a := binary.LittleEndian.Uint64(k.t[:8])
	b := binary.LittleEndian.Uint64(k.t[8:]) ^ uint64(k.flags)<<56
	return murmur.Fmix64(a ^ murmur.Fmix64(b))
}

func hashFrag(k fragKey) uint64 {
	a := uint64(binary.LittleEndian.Uint32(k.dst[:]))<<32 | uint64(binary.LittleEndian.Uint32(k.src[:]))
	return murmur.Fmix64(a ^ murmur.Fmix64(uint64(k.id)<<8|uint64(k.proto)))
}

func hashAddr(k [4]byte) uint64 { return murmur.Fmix64(uint64(binary.LittleEndian.Uint32(k[:]))) }

type ctEntry struct{ backend balancer.BackendID }

type natEntry struct{ port uint16 }
