package titan

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/titanlb/titanlb/balancer"
)

// OrphanServices returns, for each (VIP, protocol) that several services
// of ss serve and whose pools share backends, the service its orphans are
// placed in: keyed as the VIP's lowest-port service of the protocol, its
// pool the backends every service of that VIP and protocol lists (with
// their weights in that lowest-port service), its RingSize that service's.
// An orphan (a non-first fragment with no usable entry) cannot name its
// service; a backend of that pool serves whichever it belongs to, so the
// orphan's datagram stays in its own service's pool. A (VIP, protocol)
// whose services share no backend has no such service: its orphans take
// the host-pair hint, else the lowest-port service's ring, and may guess
// wrong (docs/services-and-ipv6.md). The kernel program (package xdp)
// keeps the same services, so that both place orphans alike.
func OrphanServices(ss []balancer.Service) []balancer.Service {
	type group struct {
		vip   netip.Addr
		proto uint8
	}
	byGroup := map[group][]balancer.Service{}
	var order []group
	for _, s := range ss {
		g := group{s.Key.VIP, s.Key.Proto}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], s)
	}
	var out []balancer.Service
	for _, g := range order {
		members := byGroup[g]
		if len(members) < 2 {
			continue
		}
		low := slices.MinFunc(members, func(a, b balancer.Service) int { return cmp.Compare(a.Key.Port, b.Key.Port) })
		var pool []balancer.Backend
		for _, b := range low.Backends {
			if !slices.ContainsFunc(members, func(s balancer.Service) bool {
				return !slices.ContainsFunc(s.Backends, func(o balancer.Backend) bool { return o.ID == b.ID })
			}) {
				pool = append(pool, b)
			}
		}
		if len(pool) > 0 {
			out = append(out, balancer.Service{Key: low.Key, Backends: pool, RingSize: low.RingSize})
		}
	}
	return out
}
