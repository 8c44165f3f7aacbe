// Package simtest holds the simulation fixtures the balancer models'
// tests share. It is apart from testutil so that package sim's own tests
// can import testutil.
package simtest

import (
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

// Scenario is the setup of the models' simulation tests: 3 backends,
// 10,000 UDP flows, a share fragRate of the datagrams of two fragments
// (MTU 1500, 2000 bytes), a share reorder of those with the second
// fragment first.
func Scenario(fragRate, reorder float64) sim.Scenario {
	return sim.Scenario{
		Seed:     1,
		Backends: sim.Backends(3),
		Traffic: sim.Traffic{
			Flows: 10000, UDPShare: 1, FragmentRate: fragRate, Reorder: reorder,
			MTU: 1500, Size: 1000, LargeSize: 2000,
		},
	}
}

// Run runs sc with the balancer mk makes and returns the result; it skips
// t in -short mode and fails it when the run fails.
func Run(t testing.TB, sc sim.Scenario, mk func() (balancer.Balancer, error)) sim.Result {
	t.Helper()
	if testing.Short() {
		t.Skip("simulation: skipped in -short mode")
	}
	res, err := sim.Run(sc, mk)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Unfragmented runs Scenario(0, 0) and fails t unless every datagram is
// delivered; it logs the figures as name's.
func Unfragmented(t *testing.T, name string, mk func() (balancer.Balancer, error)) sim.Result {
	t.Helper()
	res := Run(t, Scenario(0, 0), mk)
	if res.Datagrams == 0 || res.Reliability != 1 {
		t.Errorf("0%% fragmentation: Reliability %v over %d datagrams, want 1", res.Reliability, res.Datagrams)
	}
	t.Logf("%s, 0%% fragments: %d datagrams, reliability %v, avg cost %.1f STU/pkt", name, res.Datagrams, res.Reliability, res.AvgCost)
	return res
}

// BackendDown runs Scenario(0, 0) with backend 103 going down at 500 ms
// and fails t when more than 1% of the flows are disrupted (moved off a
// backend that stayed up); it logs the figures as name's.
func BackendDown(t *testing.T, name string, mk func() (balancer.Balancer, error)) sim.Result {
	t.Helper()
	sc := Scenario(0, 0)
	sc.Events = []sim.Event{sim.BackendDown(500*time.Millisecond, 103)}
	res := Run(t, sc, mk)
	if limit := uint64(sc.Traffic.Flows / 100); res.Disrupted > limit {
		t.Errorf("Disrupted %d flows, want below 1%% of %d", res.Disrupted, sc.Traffic.Flows)
	}
	t.Logf("%s, backend 103 down: moved %d, disrupted %d, reliability %.4f, drops %v", name, res.Moved, res.Disrupted, res.Reliability, res.Drops)
	return res
}
