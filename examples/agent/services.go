package main

import (
	"fmt"
	"slices"

	"github.com/titanlb/titanlb/balancer"
)

// servicesFor returns the services to write for the backend set want
// (every backend the agent tracks, with its health and its weight, 0 for
// a draining one): each configured service's pool with those backends,
// the weight the pool gives each and its health. A
// backend draining out of the config stays in the pools it was in when
// last written (prev), at weight 0, so that it keeps its flows there
// until it goes. Nil without services.
func servicesFor(cfg *Config, want []balancer.Backend, prev []balancer.Service) []balancer.Service {
	if len(cfg.Services) == 0 {
		return nil
	}
	byID := make(map[balancer.BackendID]balancer.Backend, len(want))
	for _, b := range want {
		byID[b.ID] = b
	}
	configured := make(map[balancer.BackendID]bool, len(cfg.Backends))
	for _, b := range cfg.Backends {
		configured[b.ID] = true
	}
	ss := make([]balancer.Service, len(cfg.Services))
	for i, s := range cfg.Services {
		ss[i] = balancer.Service{Key: s.Key, RingSize: s.RingSize}
		for _, m := range s.Pool {
			b, ok := byID[m.ID]
			if !ok {
				continue
			}
			b.Weight = m.Weight // a configured backend: the pool's weight
			ss[i].Backends = append(ss[i].Backends, b)
		}
		j := slices.IndexFunc(prev, func(p balancer.Service) bool { return p.Key == s.Key })
		if j < 0 {
			continue
		}
		for _, p := range prev[j].Backends {
			b, ok := byID[p.ID]
			if !ok || configured[p.ID] {
				continue // gone, or configured: its pools are the config's
			}
			b.Weight = 0
			ss[i].Backends = append(ss[i].Backends, b)
		}
	}
	return ss
}

// writeDatapath writes the backend set want to dp, or with services the
// services ss (see [servicesFor]), which dp must then serve.
func writeDatapath(dp Datapath, want []balancer.Backend, ss []balancer.Service) error {
	if ss == nil {
		return dp.SetBackends(want)
	}
	sd, ok := dp.(ServiceDatapath)
	if !ok {
		return fmt.Errorf("set services: %w: the datapath does not serve services", ErrDatapath)
	}
	return sd.SetServices(ss)
}

// sameServices reports whether two service sets are the same.
func sameServices(a, b []balancer.Service) bool {
	return slices.EqualFunc(a, b, func(x, y balancer.Service) bool {
		return x.Key == y.Key && x.RingSize == y.RingSize && slices.Equal(x.Backends, y.Backends)
	})
}

// servingIn reports, by backend ID, whether the written set gives each
// backend new flows: up with a weight, in the catch-all set want or, with
// services, in some service's pool.
func servingIn(want []balancer.Backend, ss []balancer.Service) map[balancer.BackendID]bool {
	serving := make(map[balancer.BackendID]bool, len(want))
	if ss == nil {
		for _, b := range want {
			serving[b.ID] = b.Up && b.Weight > 0
		}
		return serving
	}
	for _, b := range want {
		serving[b.ID] = false
	}
	for _, s := range ss {
		for _, b := range s.Backends {
			serving[b.ID] = serving[b.ID] || b.Up && b.Weight > 0
		}
	}
	return serving
}
