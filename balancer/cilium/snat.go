package cilium

import (
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/lru"
)

// The node's addresses that SNAT translates to (IPV4_DIRECT_ROUTING,
// IPV6_DIRECT_ROUTING), as the keys hold them.
var (
	nodeAddr4 = addr4(netip.AddrFrom4([4]byte{192, 0, 2, 254}))
	nodeAddr6 = addr6(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 15: 0xfe}))
)

// snat models snat_v4_nat_handle_mapping and snat_v4_new_mapping (their
// snat_v6 twins on the IPv6 family's NAT map) for the post-DNAT tuple:
// client -> backend dst, with ports t and protocol proto, whose CT_EGRESS
// key is eg (the forward SNAT tuple is the same with other flags). egv is
// that CT_EGRESS entry when the lookup found it (nil when it was
// created): its next handle leads to the forward entry, and learns it.
func snat[T, F, A comparable](b *Balancer, f *family[T, F, A], m *cost.Meter, dst A, t ports, proto uint8, eg T, egv *ctEntry) (balancer.Decision, bool) {
	fwd := f.retag(eg, tupleOut)
	m.Charge(cost.OpMapRead) // __snat_lookup(tuple)
	var hint lru.Handle
	if egv != nil {
		hint = egv.next
	}
	if e, h := f.nat.RefAt(fwd, hint); e != nil {
		if egv != nil {
			egv.next = h
		}
		// Check the reverse entry; restore it when it was evicted.
		m.Charge(cost.OpMapRead)
		rk := f.rev(dst, t.dport, e.port, proto)
		if r, h := f.nat.RefAt(rk, e.next); r == nil {
			m.Charge(cost.OpMapWrite)
			f.nat.Put(rk, natEntry{port: t.sport})
		} else {
			e.next = h
		}
		return balancer.Decision{}, true
	}
	// snat_v4_new_mapping: __snat_try_keep_port, then up to
	// SNAT_COLLISION_RETRIES attempts to create the reverse entry
	// (BPF_NOEXIST), then the retries histogram and the forward entry.
	port := t.sport
	if port < NATPortMin {
		port = b.clampPort(uint16(b.random()))
	}
	for retry := 0; retry < SNATCollisionRetries; retry++ {
		rk := f.rev(dst, t.dport, port, proto)
		m.Charge(cost.OpMapWrite)
		if _, taken := f.nat.Peek(rk); !taken { // BPF_NOEXIST: fails on a present key without touching it
			f.nat.Put(rk, natEntry{port: t.sport})
			m.Charge(cost.OpMapRead) // cilium_snat_v{4,6}_alloc_retries
			m.Charge(cost.OpMapWrite)
			f.nat.Put(fwd, natEntry{port: port})
			b.stats.NATNew++
			return balancer.Decision{}, true
		}
		if retry == 0 {
			port = b.clampPort(uint16(b.random()))
		} else {
			port = b.clampPort(port + 1)
		}
	}
	m.Charge(cost.OpMapRead) // cilium_snat_v{4,6}_alloc_retries
	return drop(ReasonNATNoMapping), false
}

// clampPort is __snat_clamp_port_range over [NATPortMin, NATPortMax].
func (b *Balancer) clampPort(v uint16) uint16 {
	n := uint32(NATPortMax-NATPortMin) + 1
	return uint16(NATPortMin + (uint32(v)*n)>>16)
}

// random is a deterministic stand-in for get_prandom_u32 (xorshift32).
func (b *Balancer) random() uint32 {
	x := b.rnd
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	b.rnd = x
	return x
}
