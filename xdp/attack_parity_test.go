package xdp

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
)

// TestAttackParity runs the simulator's attacks (every kind at once,
// beside fragmented and reordered legitimate traffic with spaced
// fragments, and a backend going down and back) through balancer/titan
// and through the kernel program, with a small orphan credit so that
// AdmitEarned refuses orphans: the two Results, legitimate and attack
// counters, drops by reason and costs included, must be identical.
func TestAttackParity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: attack parity run")
	}
	cfg := titan.Config{OrphanCredits: 16}
	p := mustLoad(t, Options{Config: cfg})
	bs := testutil.Backends(3)
	sc := sim.Scenario{
		Seed: 11, Duration: 20 * time.Millisecond, Backends: bs,
		Traffic: sim.Traffic{
			Flows: 500, UDPShare: 0.5, Rate: 50_000, FragmentRate: 0.3, Reorder: 0.3,
			LargeSize: 6000, FragmentGap: 200 * time.Microsecond, VIP: netip.MustParseAddr("192.0.2.10"),
		},
		Events: []sim.Event{sim.BackendDown(8*time.Millisecond, 102), sim.BackendUp(14*time.Millisecond, 102)},
	}
	// The orphan flood outpaces the credit the other attacks' new flows
	// earn, so some orphans are refused.
	for k := sim.AttackOrphanFlood; k <= sim.AttackSYNFlood; k++ {
		sc.Attacks = append(sc.Attacks, sim.Attack{Kind: k, Rate: 10_000, Sources: 1000})
	}
	sc.Attacks[0].Rate = 200_000
	gores, err := sim.Run(sc, func() (balancer.Balancer, error) { return titan.New(cfg) })
	if err != nil {
		t.Fatal(err)
	}
	kb := NewBalancer(p).(*Balancer)
	kres, err := sim.Run(sc, func() (balancer.Balancer, error) { return kb, nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := kb.Err(); err != nil {
		t.Fatal(err)
	}
	s, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.DropUnknownOrphan == 0 || gores.Attack.Drops[titan.ReasonUnknownOrphan] == 0 {
		t.Errorf("no orphan refused (kernel %d, Go %v): the run does not exercise AdmitEarned", s.DropUnknownOrphan, gores.Attack.Drops)
	}
	kres.Balancer = gores.Balancer
	gj, _ := json.Marshal(gores)
	kj, _ := json.Marshal(kres)
	if string(gj) != string(kj) {
		t.Errorf("results differ:\ntitan  %s\nkernel %s", gj, kj)
	}
	t.Logf("%d legitimate and %d attack packets; reliability %.4f; attack drops %v", gores.Packets, gores.Attack.Packets, gores.Reliability, gores.Attack.Drops)
}
