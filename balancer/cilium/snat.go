package cilium

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// nodeAddr is the node's address that SNAT translates to (IPV4_DIRECT_ROUTING).
var nodeAddr = [4]byte{192, 0, 2, 254}

// snat models snat_v4_nat_handle_mapping (and snat_v4_new_mapping) for the
// post-DNAT tuple t: client -> backend.
func (b *Balancer) snat(m *cost.Meter, t *balancer.Packet) (balancer.Decision, bool) {
	fwd := tupleKey{balancer.Key5(t), tupleOut}
	m.Charge(cost.OpMapRead) // __snat_lookup(tuple)
	rev := t.Dst.As4()
	if e, ok := b.nat.Get(fwd); ok {
		// Check the reverse entry; restore it when it was evicted.
		m.Charge(cost.OpMapRead)
		rk := revKey(rev, t, e.port)
		if _, ok := b.nat.Get(rk); !ok {
			m.Charge(cost.OpMapWrite)
			b.nat.Put(rk, natEntry{port: t.SrcPort})
		}
		return balancer.Decision{}, true
	}
	// snat_v4_new_mapping: __snat_try_keep_port, then up to
	// SNAT_COLLISION_RETRIES attempts to create the reverse entry
	// (BPF_NOEXIST), then the retries histogram and the forward entry.
	port := t.SrcPort
	if port < NATPortMin {
		port = b.clampPort(uint16(b.random()))
	}
	for retry := 0; retry < SNATCollisionRetries; retry++ {
		rk := revKey(rev, t, port)
		m.Charge(cost.OpMapWrite)
		if _, taken := b.nat.Peek(rk); !taken { // BPF_NOEXIST: fails on a present key without touching it
			b.nat.Put(rk, natEntry{port: t.SrcPort})
			m.Charge(cost.OpMapRead) // cilium_snat_v4_alloc_retries
			m.Charge(cost.OpMapWrite)
			b.nat.Put(fwd, natEntry{port: port})
			b.stats.NATNew++
			return balancer.Decision{}, true
		}
		if retry == 0 {
			port = b.clampPort(uint16(b.random()))
		} else {
			port = b.clampPort(port + 1)
		}
	}
	m.Charge(cost.OpMapRead) // cilium_snat_v4_alloc_retries
	return drop(ReasonNATNoMapping), false
}

// revKey is the reverse SNAT tuple set_v4_rtuple builds: backend -> node,
// backend port -> allocated port.
func revKey(backend [4]byte, t *balancer.Packet, port uint16) tupleKey {
	var k tupleKey
	copy(k.t[0:4], backend[:])
	copy(k.t[4:8], nodeAddr[:])
	k.t[8], k.t[9] = byte(t.DstPort>>8), byte(t.DstPort)
	k.t[10], k.t[11] = byte(port>>8), byte(port)
	k.t[12] = t.Proto
	k.flags = tupleIn
	return k
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
