package katran_test

import (
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/sim"
)

// Katran drops every IPv4 fragment, the first one included, and prices a
// whole packet by the map lookups its XDP program makes.
func Example() {
	lb, err := katran.New(katran.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := lb.SetBackends(sim.Backends(3)); err != nil {
		fmt.Println(err)
		return
	}
	meter := cost.NewMeter(cost.Default())
	env := &balancer.Env{CPU: 0, Meter: meter}
	p := balancer.Packet{
		Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("198.51.100.1"),
		Proto: balancer.ProtoUDP, SrcPort: 5000, DstPort: 53, Len: 1400,
	}
	d := lb.Process(env, &p)
	fmt.Println("new UDP flow:", d.Action, meter.Count(cost.OpMapRead), "reads,", meter.Total(), "STU")

	meter.Reset()
	lb.Process(env, &p)
	fmt.Println("established:", meter.Count(cost.OpMapRead), "reads,", meter.Total(), "STU")

	p.MoreFragments = true
	d = lb.Process(env, &p)
	fmt.Println("first fragment:", d.Action, d.Reason)
	fmt.Println("fragment drops:", lb.Stats().DropFragment)
	// Output:
	// new UDP flow: forward 13 reads, 370 STU
	// established: 10 reads, 240 STU
	// first fragment: drop katran: ipv4 fragment
	// fragment drops: 1
}

// The naive variant balances fragments like whole packets: a non-first
// fragment has no ports, so it follows the hash of (src, dst, 0, 0, proto).
func ExampleConfig_naive() {
	lb, _ := katran.New(katran.Config{Naive: true})
	_ = lb.SetBackends(sim.Backends(3))
	first := balancer.Packet{
		Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("198.51.100.1"),
		Proto: balancer.ProtoUDP, SrcPort: 5000, DstPort: 53, Len: 1500, IPID: 9, MoreFragments: true,
	}
	rest := first
	rest.SrcPort, rest.DstPort, rest.MoreFragments, rest.FragOffset = 0, 0, false, 185
	a := lb.Process(&balancer.Env{}, &first)
	b := lb.Process(&balancer.Env{}, &rest)
	fmt.Println(a.Action, b.Action, "same backend:", a.Backend == b.Backend)
	// Output: forward forward same backend: false
}
