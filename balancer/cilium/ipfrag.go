package cilium

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// l4Ports models ipv4_handle_fragmentation: a non-first fragment reads its
// ports from the fragment map (dropped when absent); a first fragment writes
// them. It fills t's ports.
func (b *Balancer) l4Ports(m *cost.Meter, p, t *balancer.Packet) (balancer.Decision, bool) {
	if !p.IsFragment() {
		return balancer.Decision{}, true
	}
	k := fragKey{dst: p.Dst.As4(), src: p.Src.As4(), id: p.IPID, proto: p.Proto}
	if p.FragOffset != 0 {
		m.Charge(cost.OpMapRead) // ipv4_frag_get_l4ports
		v, ok := b.frag.Get(k)
		if !ok {
			return drop(ReasonFragNotFound), false
		}
		b.stats.FragHits++
		t.SrcPort, t.DstPort = v.sport, v.dport
		return balancer.Decision{}, true
	}
	m.Charge(cost.OpMapWrite) // map_update_elem(cilium_ipv4_frag_datagrams, BPF_ANY)
	b.stats.FragWrites++
	b.frag.Put(k, ports{p.SrcPort, p.DstPort})
	return balancer.Decision{}, true
}
