package katran_test

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/internal/testutil/simtest"
	"github.com/titanlb/titanlb/sim"
)

var scenario = simtest.Scenario

func run(t *testing.T, cfg katran.Config, sc sim.Scenario) sim.Result {
	t.Helper()
	return simtest.Run(t, sc, func() (balancer.Balancer, error) { return katran.New(cfg) })
}

func TestSimUnfragmentedReliable(t *testing.T) {
	simtest.Unfragmented(t, "katran", func() (balancer.Balancer, error) { return katran.New(katran.Config{}) })
}

func TestSimFragmentsNeverDelivered(t *testing.T) {
	res := run(t, katran.Config{}, scenario(1, 0))
	if res.Fragments == 0 {
		t.Fatal("no fragments sent")
	}
	if res.Reliability > 0.001 {
		t.Errorf("100%% fragmentation: Reliability %v, want ~0 (Katran drops every fragment)", res.Reliability)
	}
	if got := res.Drops[katran.ReasonFragment]; got < res.Fragments*99/100 {
		t.Errorf("%d drops for %q of %d fragments, want all of them", got, katran.ReasonFragment, res.Fragments)
	}
	t.Logf("katran, 100%% fragments: reliability %v, drops %v", res.Reliability, res.Drops)
}

func TestSimNaiveFragmentAccuracy(t *testing.T) {
	res := run(t, katran.Config{Naive: true}, scenario(1, 0))
	const n = 3
	want := 0.5 + 1.0/(2*n) // first fragment right, second right 1/N of the time
	if d := res.FragmentAccuracy - want; d < -0.03 || d > 0.03 {
		t.Errorf("naive Katran: FragmentAccuracy %.4f, want %.4f ± 0.03", res.FragmentAccuracy, want)
	}
	if res.Reliability > 0.5 {
		t.Errorf("naive Katran: Reliability %v, want about 1/N", res.Reliability)
	}
	t.Logf("naive katran, 100%% fragments: fragment accuracy %.4f (arithmetic %.4f), reliability %.4f, drops %v, per backend %v", res.FragmentAccuracy, want, res.Reliability, res.Drops, res.PerBackend)
}

// Taking backend 103 down moves no other flow. Katran keeps the flows that
// were on 103 there (their per-CPU LRU entries outlive the ring change), so
// none of them moves either: their packets are lost instead.
func TestSimBackendDownDisruptsNoOtherFlow(t *testing.T) {
	simtest.BackendDown(t, "katran", func() (balancer.Balancer, error) { return katran.New(katran.Config{}) })
}

// Half the flows IPv6, every datagram fragmented: Katran drops every
// fragment of both families, each under its own reason; with a
// Destination Options header before the Fragment header, its IPv6
// fragments' first Next Header is not a Fragment header and they are
// passed to the stack instead, lost all the same.
func TestSimIPv6FragmentsNeverDelivered(t *testing.T) {
	sc := scenario(1, 0)
	sc.Traffic.IPv6Share = 0.5
	sc.Backends = append(sim.Backends(3), sim.Backends6(3)...)
	res := run(t, katran.Config{}, sc)
	v4, v6 := res.Drops[katran.ReasonFragment], res.Drops[katran.ReasonFragment6]
	if res.Reliability > 0.001 || v4+v6 < res.Fragments*99/100 || v4 < res.Fragments*4/10 || v6 < res.Fragments*4/10 {
		t.Errorf("IPv6 share 0.5, 100%% fragments: reliability %v, %d IPv4 and %d IPv6 fragment drops of %d fragments", res.Reliability, v4, v6, res.Fragments)
	}
	t.Logf("katran, half IPv6, 100%% fragments: reliability %v, drops %v", res.Reliability, res.Drops)

	sc.Traffic.ExtHeaders = 1
	res = run(t, katran.Config{}, sc)
	if p := res.Drops[sim.DropPassed]; res.Reliability > 0.001 || res.Drops[katran.ReasonFragment6] != 0 || p < res.Fragments*4/10 {
		t.Errorf("IPv6 fragments behind a Destination Options header: reliability %v, drops %v; want them passed", res.Reliability, res.Drops)
	}
	t.Logf("katran, half IPv6 behind Destination Options, 100%% fragments: reliability %v, drops %v", res.Reliability, res.Drops)
}
