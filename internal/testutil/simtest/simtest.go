// Package simtest holds the simulation fixtures the balancer models'
// tests share. It is apart from testutil so that package sim's own tests
// can import testutil.
package simtest

import (
	"testing"

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
