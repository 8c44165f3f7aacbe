package cilium

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/murmur"
	"github.com/titanlb/titanlb/lru"
)

// family is one address family's maps: Cilium keeps each family in maps
// of its own (cilium_ipv4_frag_datagrams and cilium_ipv6_frag_datagrams,
// the ct4 and ct6 conntrack maps, cilium_snat_v4_external and
// cilium_snat_v6_external, NODEPORT_NEIGH4 and NODEPORT_NEIGH6). T is
// the family's conntrack and NAT tuple (tupleKey, tuple6Key), F its
// fragment-map key (fragKey, frag6Key), A an address (addr32, addr128);
// the family's functions build them.
type family[T, F, A comparable] struct {
	frag         *lru.Map[F, ports]
	ctTCP, ctAny *lru.Map[T, ctEntry]
	nat          *lru.Map[T, natEntry]
	neigh        *lru.Map[A, struct{}]
	// The key builders take header fields, not the packet: a pointer
	// passed to a function value escapes (Process would allocate), and a
	// copy of the packet, a type switch on the key type or a method of a
	// type parameter each cost the IPv4 path more. They take addresses
	// as A, made once per address and packet (addr4, addr6, or addr for
	// the backend's): an IPv6 netip.Addr's bytes cost a stall each time
	// they are read out.
	tuple func(src, dst A, sport, dport uint16, proto, flags uint8) T // conntrack or SNAT tuple
	retag func(k T, flags uint8) T                                    // k with other flags
	rev   func(backend A, bport, port uint16, proto uint8) T          // reverse SNAT tuple
	fragK func(src, dst A, id uint32, proto uint8) F                  // fragment-map key
	addr  func(a netip.Addr) A                                        // an address as the keys hold it; the neighbour map's key
}

// newFamily makes a family's maps within c's bounds, hashed by hash,
// fhash and ahash: the fragment map reserves fragReserve entries (0: all
// of them), the conntrack and NAT maps reserve entries each, the
// neighbour map a quarter of that, and each doubles toward its bound on
// demand.
func newFamily[T, F, A comparable](c Config, f *family[T, F, A], hash func(T) uint64, fhash func(F) uint64, ahash func(A) uint64, fragReserve, reserve int) (*family[T, F, A], error) {
	var err error
	if f.frag, err = lru.NewWith[F, ports](c.FragMapSize, lru.Options[F]{Hash: fhash, Reserve: fragReserve}); err != nil {
		return nil, errField("FragMapSize", c.FragMapSize, err)
	}
	if f.ctTCP, err = lru.NewWith[T, ctEntry](c.CTMapSizeTCP, lru.Options[T]{Hash: hash, Reserve: reserve}); err != nil {
		return nil, errField("CTMapSizeTCP", c.CTMapSizeTCP, err)
	}
	if f.ctAny, err = lru.NewWith[T, ctEntry](c.CTMapSizeAny, lru.Options[T]{Hash: hash, Reserve: reserve}); err != nil {
		return nil, errField("CTMapSizeAny", c.CTMapSizeAny, err)
	}
	if f.nat, err = lru.NewWith[T, natEntry](c.NATMapSize, lru.Options[T]{Hash: hash, Reserve: reserve}); err != nil {
		return nil, errField("NATMapSize", c.NATMapSize, err)
	}
	if f.neigh, err = lru.NewWith[A, struct{}](c.NeighMapSize, lru.Options[A]{Hash: ahash, Reserve: max(reserve/4, 1)}); err != nil {
		return nil, errField("NeighMapSize", c.NeighMapSize, err)
	}
	return f, nil
}

// evictions returns the entries pushed out of the family's full maps.
func (f *family[T, F, A]) evictions() uint64 {
	return f.frag.Stats().Evictions + f.ctTCP.Stats().Evictions + f.ctAny.Stats().Evictions +
		f.nat.Stats().Evictions + f.neigh.Stats().Evictions
}

// newFamily4 makes the IPv4 maps: the fragment map is allocated whole,
// the others start with room for a few thousand entries.
func newFamily4(c Config) (*family[tupleKey, fragKey, addr32], error) {
	return newFamily(c, &family[tupleKey, fragKey, addr32]{
		tuple: tuple4, rev: revKey, addr: addr4,
		retag: func(k tupleKey, flags uint8) tupleKey { k.l4 = retagWord(k.l4, flags); return k },
		fragK: func(src, dst addr32, id uint32, proto uint8) fragKey {
			return fragKey{dst: uint32(dst), src: uint32(src), idp: uint32(uint16(id))<<8 | uint32(proto)}
		},
	}, hashTuple, hashFrag, hashAddr, 0, 4096)
}

// newFamily6 makes the IPv6 maps, each starting small (a run without
// IPv6 traffic does not pay for IPv4-sized tables) and growing on demand.
func newFamily6(c Config) (*family[tuple6Key, frag6Key, addr128], error) {
	return newFamily(c, &family[tuple6Key, frag6Key, addr128]{
		tuple: tuple6, rev: revKey6, addr: addr6,
		retag: func(k tuple6Key, flags uint8) tuple6Key { k.l4 = retagWord(k.l4, flags); return k },
		fragK: func(src, dst addr128, id uint32, proto uint8) frag6Key {
			return frag6Key{idp: uint64(id)<<8 | uint64(proto), src: src, dst: dst}
		},
	}, hashTuple6, hashFrag6, hashAddr6, 64, 64)
}

// tuple4 is an IPv4 tuple.
func tuple4(src, dst addr32, sport, dport uint16, proto, flags uint8) tupleKey {
	return tupleKey{addrs: uint64(src)<<32 | uint64(dst), l4: l4Word(sport, dport, proto, flags)}
}

// tuple6 is an IPv6 tuple.
func tuple6(src, dst addr128, sport, dport uint16, proto, flags uint8) tuple6Key {
	return tuple6Key{src: src, dst: dst, l4: l4Word(sport, dport, proto, flags)}
}

// addr32 is an IPv4 address as a number.
type addr32 uint32

// addr4 is IPv4 address a as an addr32.
func addr4(a netip.Addr) addr32 {
	b := a.As4()
	return addr32(binary.BigEndian.Uint32(b[:]))
}

// addr128 is an IPv6 address as two numbers, high then low: a struct of
// two words, which Go keeps in registers, where a [2]uint64 or a
// [16]byte is copied through memory in 16-byte loads that wait for the
// 8-byte stores that wrote it (docs/simulation.md).
type addr128 struct{ hi, lo uint64 }

// addr6 is IPv6 address a as an addr128.
func addr6(a netip.Addr) addr128 {
	b := a.As16()
	return addr128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// l4Word packs a tuple's ports, protocol and flags in one word.
func l4Word(sport, dport uint16, proto, flags uint8) uint64 {
	return uint64(sport)<<32 | uint64(dport)<<16 | uint64(proto)<<8 | uint64(flags)
}

// retagWord is l4 (an l4Word) with other flags.
func retagWord(l4 uint64, flags uint8) uint64 { return l4&^0xff | uint64(flags) }

// revKey is the reverse SNAT tuple set_v4_rtuple builds: backend ->
// node, backend port bport -> allocated port.
func revKey(backend addr32, bport, port uint16, proto uint8) tupleKey {
	return tuple4(backend, nodeAddr4, bport, port, proto, tupleIn)
}

// revKey6 is the reverse SNAT tuple set_v6_rtuple builds.
func revKey6(backend addr128, bport, port uint16, proto uint8) tuple6Key {
	return tuple6(backend, nodeAddr6, bport, port, proto, tupleIn)
}

// fragKey is struct ipv4_frag_id: daddr, saddr, IP ID, protocol.
type fragKey struct {
	dst, src uint32 // addr4
	idp      uint32 // IP ID<<8 | protocol
}

// frag6Key is struct ipv6_frag_id (bpf/lib/ipv6.h): the Fragment
// header's 32-bit Identification, the protocol (its Next Header), saddr,
// daddr.
type frag6Key struct {
	idp      uint64 // Identification<<8 | protocol
	src, dst addr128
}

// ports is struct ipv4_frag_l4ports (ipv6_frag_l4ports).
type ports struct{ sport, dport uint16 }

// CT tuple flags (TUPLE_F_*) distinguishing entries in one CT map.
const (
	tupleService uint8 = 1 + iota // CT_SERVICE entry (lb4_local)
	tupleEgress                   // CT_EGRESS entry (nodeport_lb4)
	tupleOut                      // SNAT forward entry
	tupleIn                       // SNAT reverse entry
)

// tupleKey is an IPv4 conntrack or SNAT tuple (struct ipv4_ct_tuple:
// saddr, daddr, sport, dport, nexthdr, flags), packed in two words so
// that building, comparing and hashing it is a few instructions.
type tupleKey struct {
	addrs uint64 // saddr<<32 | daddr
	l4    uint64 // l4Word: sport, dport, protocol, flags
}

// tuple6Key is an IPv6 conntrack or SNAT tuple (struct ipv6_ct_tuple).
type tuple6Key struct {
	src, dst addr128
	l4       uint64 // l4Word
}

// The key hashes fold two words a, b into one as Fmix64(a ^ spread(b)):
// spread and Fmix64 are bijections, so two keys alike in either word
// never collide in the 64 bits, and Fmix64 mixes every bit into the low
// 32 that pick a map's slot.
func fold(a, b uint64) uint64 { return murmur.Fmix64(a ^ spread(b)) }

// spread is a bijection moving every bit of b into the high half.
func spread(b uint64) uint64 { return bits.RotateLeft64(b*0x9e3779b97f4a7c15, 32) }

func hashTuple(k tupleKey) uint64 { return fold(k.addrs, k.l4) }

func hashTuple6(k tuple6Key) uint64 {
	return fold(k.dst.lo, fold(k.dst.hi, fold(k.src.lo, fold(k.src.hi, k.l4))))
}

func hashFrag(k fragKey) uint64 { return fold(uint64(k.dst)<<32|uint64(k.src), uint64(k.idp)) }

func hashFrag6(k frag6Key) uint64 {
	return fold(k.dst.lo, fold(k.dst.hi, fold(k.src.lo, fold(k.src.hi, k.idp))))
}

func hashAddr(k addr32) uint64 { return murmur.Fmix64(uint64(k)) }

func hashAddr6(k addr128) uint64 { return murmur.Fmix64(k.hi ^ murmur.Fmix64(k.lo)) }

// ctEntry is the part of struct ct_entry the model reads: the backend.
// next is no part of it: in a CT_SERVICE entry, the handle of the flow's
// CT_EGRESS entry in the same map; in a CT_EGRESS entry, the handle of
// its forward SNAT entry in the NAT map. The next lookup of that key
// starts there ([lru.Map.RefAt]), which saves hashing it and probing the
// index but changes neither the lookup's outcome nor what it is charged.
type ctEntry struct {
	backend balancer.BackendID
	next    lru.Handle
}

// natEntry is struct ipv{4,6}_nat_entry's port. next is no part of it:
// in a forward entry, the handle of its reverse entry (see ctEntry).
type natEntry struct {
	port uint16
	next lru.Handle
}
