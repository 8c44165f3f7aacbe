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

// scenario is one tick's scenario: the page's settings over the backends
// as they are now.
func scenario(cfg Config, s Settings, bs []balancer.Backend, seed int64) sim.Scenario {
	sc := sim.Scenario{Seed: seed, Duration: cfg.Duration, Backends: bs}
	sc.Traffic.Flows = cfg.Flows
	sc.Traffic.FragmentRate = s.FragmentRate
	sc.Traffic.Reorder = s.Reorder
	return sc
}

// simulate runs one tick for one lane with [sim.Run] and reads its figures
// from the Result.
func simulate(cfg Config, s Settings, bs []balancer.Backend, seed int64, lane Lane) (Figures, error) {
	r, err := sim.Run(scenario(cfg, s, bs, seed), lane.New)
	if err != nil {
		return Figures{}, err
	}
	return figures(r), nil
}

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
	return f
}
