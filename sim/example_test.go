package sim_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

// The scheduler runs events in time order, and events at the same time in
// the order they were scheduled.
func ExampleScheduler() {
	s := sim.NewScheduler()
	s.At(20*time.Millisecond, func() { fmt.Println(s.Now(), "second") })
	s.At(10*time.Millisecond, func() {
		fmt.Println(s.Now(), "first")
		s.After(10*time.Millisecond, func() { fmt.Println(s.Now(), "third, scheduled by first") })
	})
	s.Run(time.Second)
	fmt.Println("now", s.Now(), "pending", s.Len())
	// Output:
	// 10ms first
	// 20ms second
	// 20ms third, scheduled by first
	// now 1s pending 0
}

// Typed events do not allocate: register a handler once, then post an
// argument, here an index into the caller's own table.
func ExampleScheduler_Post() {
	s := sim.NewScheduler()
	names := []string{"syn", "ack", "fin"}
	h := s.Handle(func(i uint32) { fmt.Println(s.Now(), names[i]) })
	for i := range names {
		s.Post(time.Duration(i)*time.Microsecond, h, uint32(i))
	}
	s.Drain()
	// Output:
	// 0s syn
	// 1µs ack
	// 2µs fin
}

// Titan keeps fragmented datagrams whole even when their fragments arrive
// out of order; Katran drops every fragment.
func ExampleRun() {
	sc := sim.Scenario{
		Seed:     1,
		Duration: 100 * time.Millisecond,
		Backends: []balancer.Backend{
			{ID: 101, Name: "101", Addr: netip.MustParseAddr("10.0.1.1"), Weight: 1, Up: true},
			{ID: 102, Name: "102", Addr: netip.MustParseAddr("10.0.1.2"), Weight: 1, Up: true},
			{ID: 103, Name: "103", Addr: netip.MustParseAddr("10.0.1.3"), Weight: 1, Up: true},
		},
		Traffic: sim.Traffic{Flows: 1000, Rate: 20000, UDPShare: 1, FragmentRate: 0.2, Reorder: 0.5},
	}
	for _, newLB := range []func() (balancer.Balancer, error){
		func() (balancer.Balancer, error) { return titan.New(titan.Config{}) },
		func() (balancer.Balancer, error) { return katran.New(katran.Config{}) },
	} {
		r, err := sim.Run(sc, newLB)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-6s datagrams %d, reliability %.2f, fragment accuracy %.2f\n",
			r.Balancer, r.Datagrams, r.Reliability, r.FragmentAccuracy)
	}
	// Output:
	// titan  datagrams 2000, reliability 1.00, fragment accuracy 1.00
	// katran datagrams 2000, reliability 0.81, fragment accuracy 0.00
}

// Validate names the field it rejects.
func ExampleScenario_Validate() {
	sc := sim.Scenario{
		Backends: []balancer.Backend{{ID: 101, Addr: netip.MustParseAddr("10.0.1.1"), Weight: 1, Up: true}},
		Traffic:  sim.Traffic{MTU: 20},
	}
	fmt.Println(sc.Validate())
	// Output:
	// sim: scenario.traffic.mtu 20: must be at least 68
}

// A control event takes a backend down half-way: its flows move, and
// hardly any other does.
func ExampleBackendDown() {
	sc := sim.Scenario{
		Seed:     1,
		Duration: 200 * time.Millisecond,
		Backends: []balancer.Backend{
			{ID: 101, Addr: netip.MustParseAddr("10.0.1.1"), Weight: 1, Up: true},
			{ID: 102, Addr: netip.MustParseAddr("10.0.1.2"), Weight: 1, Up: true},
			{ID: 103, Addr: netip.MustParseAddr("10.0.1.3"), Weight: 1, Up: true},
			{ID: 104, Addr: netip.MustParseAddr("10.0.1.4"), Weight: 1, Up: true},
		},
		Traffic: sim.Traffic{Flows: 1000, Rate: 50000},
		Events:  []sim.Event{sim.BackendDown(100*time.Millisecond, 104)},
	}
	r, err := sim.Run(sc, func() (balancer.Balancer, error) { return titan.New(titan.Config{}) })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("moved %d flows, disrupted %d, affinity %.3f\n", r.Moved, r.Disrupted, r.Affinity)
	// Output:
	// moved 265 flows, disrupted 0, affinity 1.000
}

// Sweep runs scenarios on all cores and returns results in input order.
func ExampleSweep() {
	base := sim.Scenario{
		Seed:     1,
		Duration: 50 * time.Millisecond,
		Backends: []balancer.Backend{
			{ID: 101, Addr: netip.MustParseAddr("10.0.1.1"), Weight: 1, Up: true},
			{ID: 102, Addr: netip.MustParseAddr("10.0.1.2"), Weight: 1, Up: true},
		},
		Traffic: sim.Traffic{Flows: 500, Rate: 20000, UDPShare: 1},
	}
	var jobs []sim.Job
	for _, share := range []float64{0, 0.25, 0.5} {
		sc := base
		sc.Traffic.FragmentRate = share
		jobs = append(jobs, sim.Job{Scenario: sc, NewLB: func() (balancer.Balancer, error) { return katran.New(katran.Config{}) }})
	}
	rs, err := sim.Sweep(jobs)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, r := range rs {
		fmt.Printf("fragmented %.2f: katran reliability %.2f\n", jobs[i].Scenario.Traffic.FragmentRate, r.Reliability)
	}
	// Output:
	// fragmented 0.00: katran reliability 1.00
	// fragmented 0.25: katran reliability 0.73
	// fragmented 0.50: katran reliability 0.47
}
