package titanlb_test

import (
	"fmt"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

// Example runs Titan and Cilium on the same traffic: every datagram is
// fragmented, and the fragments of half of them arrive out of order.
// Titan follows a fragment that overtakes its first one; Cilium drops it,
// and that datagram never reaches a backend whole.
func Example() {
	sc := sim.Scenario{
		Seed:     1,
		Duration: 200 * time.Millisecond,
		Backends: sim.Backends(3),
		Traffic:  sim.Traffic{Flows: 1000, FragmentRate: 1, Reorder: 0.5},
	}
	for _, newLB := range []func() (balancer.Balancer, error){
		func() (balancer.Balancer, error) { return titan.New(titan.Config{}) },
		func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) },
	} {
		res, err := sim.Run(sc, newLB)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %d of %d datagrams whole\n", res.Balancer, res.Whole, res.Datagrams)
	}
	// Output:
	// titan: 19920 of 19920 datagrams whole
	// cilium: 12296 of 19920 datagrams whole
}
