package cilium_test

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/testutil/simtest"
	"github.com/titanlb/titanlb/sim"
)

var scenario = simtest.Scenario

func run(t *testing.T, cfg cilium.Config, sc sim.Scenario) sim.Result {
	t.Helper()
	return simtest.Run(t, sc, func() (balancer.Balancer, error) { return cilium.New(cfg) })
}

func TestSimUnfragmentedReliable(t *testing.T) {
	simtest.Unfragmented(t, "cilium", func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) })
}

func TestSimInOrderFragmentsReliable(t *testing.T) {
	for _, mode := range []cilium.Mode{cilium.ModeSNAT, cilium.ModeDSR} {
		res := run(t, cilium.Config{Mode: mode}, scenario(1, 0))
		if res.Fragments == 0 || res.Reliability < 0.999 {
			t.Errorf("%v, 100%% in-order fragments: Reliability %v over %d fragments, want >= 0.999", mode, res.Reliability, res.Fragments)
		}
		t.Logf("cilium %v, 100%% in-order fragments: reliability %.4f, avg cost %.1f STU", mode, res.Reliability, res.AvgCost)
	}
}

// With 20% of datagrams reordered (two fragments: the second arrives
// first), the orphan fragment misses the fragment map and is dropped.
func TestSimReorderingLosesDatagrams(t *testing.T) {
	inOrder := run(t, cilium.Config{}, scenario(1, 0))
	res := run(t, cilium.Config{}, scenario(1, 0.2))
	// Every reordered datagram loses its orphan fragment, so at most 80%
	// survive; the first fragments left behind also fill the backends'
	// reassembly tables, which loses more.
	if res.Reliability > 0.81 {
		t.Errorf("20%% reordering: Reliability %.4f, want at most 0.81 (each reordered datagram lost)", res.Reliability)
	}
	orphans := float64(res.Drops[cilium.ReasonFragNotFound]) / float64(res.Datagrams)
	if orphans < 0.18 || orphans > 0.22 {
		t.Errorf("%q drops are %.3f of datagrams, want about 0.2: %v", cilium.ReasonFragNotFound, orphans, res.Drops)
	}
	t.Logf("cilium, 100%% fragments: reliability %.4f in order, %.4f with 20%% reordered (%.1f points lower); drops %v",
		inOrder.Reliability, res.Reliability, 100*(inOrder.Reliability-res.Reliability), res.Drops)

	// The same run with backends whose reassembly never fills: what is
	// left is the loss the fragment map alone causes.
	big := scenario(1, 0.2)
	big.Reassembly.MaxDatagrams = 1 << 20
	roomy := run(t, cilium.Config{}, big)
	if roomy.Reliability > 0.81 || roomy.Reliability < 0.79 {
		t.Errorf("20%% reordering, roomy reassembly: Reliability %.4f, want about 0.8", roomy.Reliability)
	}
	t.Logf("cilium, 20%% reordered, reassembly never full: reliability %.4f", roomy.Reliability)
}

// Taking backend 103 down moves its flows and no other.
func TestSimBackendDownDisruptsNoOtherFlow(t *testing.T) {
	res := simtest.BackendDown(t, "cilium", func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) })
	if res.Moved == 0 {
		t.Errorf("no flow moved off the down backend: %+v", res)
	}
}

// The three balancers on one scenario (30% fragmented datagrams, in order,
// half the flows TCP): the average cost per packet that the sourced op
// counts give, and the Cilium/Titan ratio.
func TestSimCostComparison(t *testing.T) {
	sc := scenario(0.3, 0)
	sc.Traffic.UDPShare = 0.5
	avg := map[string]float64{}
	for _, c := range []struct {
		name string
		mk   func() (balancer.Balancer, error)
	}{
		{"titan", func() (balancer.Balancer, error) { return titan.New(titan.Config{}) }},
		{"katran", func() (balancer.Balancer, error) { return katran.New(katran.Config{}) }},
		{"katran-naive", func() (balancer.Balancer, error) { return katran.New(katran.Config{Naive: true}) }},
		{"cilium-snat", func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) }},
		{"cilium-dsr", func() (balancer.Balancer, error) { return cilium.New(cilium.Config{Mode: cilium.ModeDSR}) }},
	} {
		res := simtest.Run(t, sc, c.mk)
		avg[c.name] = res.AvgCost
		t.Logf("%-12s avg %.1f STU/pkt, reliability %.4f", c.name, res.AvgCost, res.Reliability)
	}
	if avg["cilium-snat"] <= avg["titan"] {
		t.Errorf("Cilium (SNAT) %.1f STU/pkt is not above Titan %.1f", avg["cilium-snat"], avg["titan"])
	}
	t.Logf("Cilium/Titan: SNAT %.2fx, DSR %.2fx; Katran/Titan %.2fx (naive %.2fx)",
		avg["cilium-snat"]/avg["titan"], avg["cilium-dsr"]/avg["titan"], avg["katran"]/avg["titan"], avg["katran-naive"]/avg["titan"])
}

// Half the flows IPv6 (with a Destination Options header before the
// Fragment header), every datagram fragmented: in order, both families'
// fragments follow their first fragment through their own fragment map;
// with 20% reordered, about 20% of datagrams lose their orphan
// fragment, IPv6 ones as IPv4 ones.
func TestSimIPv6Fragments(t *testing.T) {
	for _, reorder := range []float64{0, 0.2} {
		sc := scenario(1, reorder)
		sc.Traffic.IPv6Share, sc.Traffic.ExtHeaders, sc.Traffic.Flows = 0.5, 1, 2000
		sc.Backends = append(sim.Backends(3), sim.Backends6(3)...)
		sc.Reassembly.MaxDatagrams = 1 << 16
		res := run(t, cilium.Config{}, sc)
		orphans := float64(res.Drops[cilium.ReasonFragNotFound]) / float64(res.Datagrams)
		if reorder == 0 && (res.Reliability < 0.999 || res.FragmentAccuracy < 0.999) {
			t.Errorf("half IPv6, in order: reliability %v, fragment accuracy %v, drops %v; want 1", res.Reliability, res.FragmentAccuracy, res.Drops)
		}
		if reorder > 0 && (orphans < 0.18 || orphans > 0.22 || res.Reliability < 0.79 || res.Reliability > 0.81) {
			t.Errorf("half IPv6, 20%% reordered: reliability %v, %q drops %.3f of datagrams; want about 0.8 and 0.2", res.Reliability, cilium.ReasonFragNotFound, orphans)
		}
		t.Logf("cilium, half IPv6, 100%% fragments, %.0f%% reordered: reliability %.4f, fragment accuracy %.4f, avg cost %.1f STU, drops %v",
			100*reorder, res.Reliability, res.FragmentAccuracy, res.AvgCost, res.Drops)
	}
}
