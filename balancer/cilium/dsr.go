package cilium

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// dsr models the DSR dispatch of a request to backend id:
// ep_tail_call(CILIUM_CALL_IPV4_NODEPORT_DSR) -> tail_nodeport_ipv4_dsr ->
// dsr_set_ipip4: rss_gen_src4 (hash_32) for the outer source, adjust
// room, the outer IPv4 header; for IPv6 tail_nodeport_ipv6_dsr ->
// dsr_set_ipip6: rss_gen_src6 (one hash_32 for a prefix of 96 bits or
// more), adjust room, the outer IPv6 header.
func (b *Balancer) dsr(m *cost.Meter, id balancer.BackendID) balancer.Decision {
	m.Charge(cost.OpTailCall)
	m.Charge(cost.OpHash)
	m.Charge(cost.OpEncap)
	return balancer.Decision{Action: balancer.Forward, Backend: id}
}
