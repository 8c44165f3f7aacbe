package sim_test

import (
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

func newTitan() (balancer.Balancer, error) { return titan.New(titan.Config{}) }

func TestTitanKeepsReorderedDatagramsWhole(t *testing.T) {
	sc := mixed(4)
	r := mustRun(t, sc, newTitan)
	if r.Balancer != "titan" {
		t.Fatalf("balancer %q", r.Balancer)
	}
	if r.Fragments == 0 {
		t.Fatal("no fragments sent")
	}
	if r.Reliability != 1 || r.FragmentAccuracy != 1 {
		t.Errorf("titan with 50%% reordering: reliability %v fragment accuracy %v drops %v",
			r.Reliability, r.FragmentAccuracy, r.Drops)
	}
	// Stateful: only the flows of the backend that went down move.
	if r.Disrupted != 0 {
		t.Errorf("titan disrupted %d flows", r.Disrupted)
	}
	naive := mustRun(t, sc, newMaglev)
	if naive.Reliability >= r.Reliability || naive.FragmentAccuracy >= r.FragmentAccuracy {
		t.Errorf("stateless test balancer as reliable as titan: %v/%v vs %v/%v",
			naive.Reliability, naive.FragmentAccuracy, r.Reliability, r.FragmentAccuracy)
	}
	if r.AvgCost <= naive.AvgCost {
		t.Errorf("titan's tables cost nothing: %v STU vs %v", r.AvgCost, naive.AvgCost)
	}
}

func TestTitanDrainKeepsFlows(t *testing.T) {
	// Draining a backend (weight 0) keeps its flows on a stateful balancer.
	sc := sim.Scenario{Backends: sim.Backends(4), Duration: 100 * time.Millisecond,
		Traffic: sim.Traffic{Flows: 500, Rate: 50000},
		Events:  []sim.Event{sim.SetWeight(50*time.Millisecond, 101, 0)}}
	r := mustRun(t, sc, newTitan)
	if r.Affinity != 1 || r.Disrupted != 0 || r.Moved != 0 {
		t.Errorf("drain: affinity %v disrupted %d moved %d", r.Affinity, r.Disrupted, r.Moved)
	}
	m := mustRun(t, sc, newMaglev)
	if m.Disrupted == 0 {
		t.Errorf("stateless drain disrupted no flow")
	}
}
