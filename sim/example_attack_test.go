package sim_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

// An orphan-fragment flood at ten times the legitimate packet rate against
// Titan with each orphan admission policy: the attack's packets are
// counted apart from the legitimate traffic's.
func ExampleAttack() {
	sc := sim.Scenario{
		Seed: 1, Duration: 50 * time.Millisecond,
		Backends: []balancer.Backend{
			{ID: 101, Name: "101", Addr: netip.MustParseAddr("10.1.0.1"), Weight: 1, Up: true},
			{ID: 102, Name: "102", Addr: netip.MustParseAddr("10.1.0.2"), Weight: 1, Up: true},
		},
		Traffic: sim.Traffic{Flows: 500, UDPShare: 1, Rate: 20_000, FragmentRate: 0.5, LargeSize: 4000, FragmentGap: time.Millisecond},
		Attacks: []sim.Attack{{Kind: sim.AttackOrphanFlood, Rate: 400_000}},
	}
	for _, adm := range []titan.OrphanAdmission{titan.AdmitAll, titan.AdmitEarned} {
		r, err := sim.Run(sc, func() (balancer.Balancer, error) { return titan.New(titan.Config{OrphanAdmission: adm}) })
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-6s reliability %.3f; attack: %d sent, %d reached a backend\n", adm, r.Reliability, r.Attack.Packets, r.Attack.Delivered)
	}
	// Output:
	// all    reliability 0.687; attack: 20012 sent, 20012 reached a backend
	// earned reliability 1.000; attack: 20012 sent, 1460 reached a backend
}
