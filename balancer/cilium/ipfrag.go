package cilium

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// l4Ports models ipv4_handle_fragmentation and ipv6_handle_fragmentation
// (the family's fragment map, p's addresses src and dst as the family
// keys them): a non-first fragment reads its ports from
// the map (dropped when absent) into t; a first fragment writes its own
// (t's). An IPv6 atomic fragment is no fragment (ipfrag_encode_ipv6:
// frag_off & 0xfff9 is 0): it is not tracked.
//
// The program runs it twice per packet. With again set (the second time,
// the fragment map untouched since the first), it charges and counts what
// the first time did but leaves the map alone: the entry is the one the
// first time read or wrote, already the most recently used, so reading or
// writing it again would change nothing.
func l4Ports[T, F, A comparable](b *Balancer, f *family[T, F, A], m *cost.Meter, p *balancer.Packet, src, dst A, t *ports, again bool) (balancer.Decision, bool) {
	if !p.IsFragment() {
		return balancer.Decision{}, true
	}
	if again {
		if p.FragOffset != 0 {
			m.Charge(cost.OpMapRead)
			b.stats.FragHits++
		} else {
			m.Charge(cost.OpMapWrite)
			b.stats.FragWrites++
		}
		return balancer.Decision{}, true
	}
	k := f.fragK(src, dst, uint32(p.IPID)|p.FragID, p.Proto)
	if p.FragOffset != 0 {
		m.Charge(cost.OpMapRead) // ipv{4,6}_frag_get_l4ports
		v, ok := f.frag.Get(k)
		if !ok {
			return drop(ReasonFragNotFound), false
		}
		b.stats.FragHits++
		*t = v
		return balancer.Decision{}, true
	}
	m.Charge(cost.OpMapWrite) // map_update_elem(cilium_ipv{4,6}_frag_datagrams, BPF_ANY)
	b.stats.FragWrites++
	f.frag.Put(k, *t)
	return balancer.Decision{}, true
}
