package main

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

// lanes are the balancers the dashboard compares, in display order.
func lanes() []Lane {
	return []Lane{
		{"titan", func() (balancer.Balancer, error) { return titan.New(titan.Config{}) }},
		{"katran", func() (balancer.Balancer, error) { return katran.New(katran.Config{}) }},
		{"cilium", func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) }},
	}
}

// twoServices are the services of -services: one VIP (sim.DefaultVIP)
// with two UDP services, 443 on the first two backends and 8443 on the
// last two (of three: they share the middle one).
func twoServices(bs []balancer.Backend) []ServiceConfig {
	n := (2*len(bs) + 2) / 3
	ids := func(bs []balancer.Backend) []balancer.BackendID {
		var out []balancer.BackendID
		for _, b := range bs {
			out = append(out, b.ID)
		}
		return out
	}
	return []ServiceConfig{
		{Key: balancer.ServiceKey{VIP: sim.DefaultVIP, Port: 443, Proto: balancer.ProtoUDP}, Pool: ids(bs[:n])},
		{Key: balancer.ServiceKey{VIP: sim.DefaultVIP, Port: 8443, Proto: balancer.ProtoUDP}, Pool: ids(bs[len(bs)-n:])},
	}
}

// scenario is one tick's scenario: the page's settings over the backends
// as they are now, or over the services ss when there are some, each with
// half the flows (from a fifth as many client hosts, the same for both)
// and half the default rate.
func scenario(cfg Config, s Settings, bs []balancer.Backend, ss []balancer.Service, seed int64) sim.Scenario {
	sc := sim.Scenario{Seed: seed, Duration: cfg.Duration}
	if len(ss) == 0 {
		sc.Backends = bs
		sc.Traffic.Flows = cfg.Flows
		sc.Traffic.FragmentRate = s.FragmentRate
		sc.Traffic.Reorder = s.Reorder
		return sc
	}
	flows := max(1, cfg.Flows/2)
	for _, svc := range ss {
		sc.Services = append(sc.Services, sim.ServiceTraffic{Service: svc, Traffic: sim.Traffic{
			Flows: flows, Clients: max(1, flows/5), Rate: sim.DefaultRate / 2,
			FragmentRate: s.FragmentRate, Reorder: s.Reorder,
		}})
	}
	return sc
}

// simulate runs one tick for one lane with [sim.Run] and reads its figures
// from the Result.
func simulate(cfg Config, s Settings, bs []balancer.Backend, ss []balancer.Service, seed int64, lane Lane) (Figures, error) {
	r, err := sim.Run(scenario(cfg, s, bs, ss, seed), lane.New)
	if err != nil {
		return Figures{}, err
	}
	return figures(r), nil
}

// figures reads a Result's figures, and each service's.
func figures(r sim.Result) Figures {
	f := Figures{
		Reliability:      r.Reliability,
		FragmentAccuracy: r.FragmentAccuracy,
		Affinity:         r.Affinity,
		AvgCost:          r.AvgCost,
		LatencyP99us:     float64(r.LatencyP99.Nanoseconds()) / 1000,
		Datagrams:        r.Datagrams,
		Packets:          r.Packets,
		Fragments:        r.Fragments,
	}
	for _, n := range r.Drops {
		f.Drops += n
	}
	for k, sr := range r.Services {
		if f.Services == nil {
			f.Services = make(map[string]Figures, len(r.Services))
		}
		sf := Figures{
			Reliability:      sr.Reliability,
			FragmentAccuracy: sr.FragmentAccuracy,
			Affinity:         sr.Affinity,
			AvgCost:          sr.AvgCost,
			LatencyP99us:     float64(sr.LatencyP99.Nanoseconds()) / 1000,
			Datagrams:        sr.Datagrams,
			Packets:          sr.Packets,
			Fragments:        sr.Fragments,
		}
		for _, n := range sr.Drops {
			sf.Drops += n
		}
		f.Services[k] = sf
	}
	return f
}
