package sim_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/sim"
)

// A scenario with services: one VIP, a TCP service on two backends and a
// UDP one, fragmented and half reordered, on two others; the Result
// reports each service. Cilium keeps the TCP service whole and drops the
// UDP fragments that overtake their first one.
func ExampleServiceTraffic() {
	vip := netip.MustParseAddr("192.0.2.10")
	bs := sim.Backends(4)
	web := balancer.ServiceKey{VIP: vip, Port: 443, Proto: balancer.ProtoTCP}
	dns := balancer.ServiceKey{VIP: vip, Port: 53, Proto: balancer.ProtoUDP}
	sc := sim.Scenario{
		Seed:     1,
		Duration: 100 * time.Millisecond,
		Services: []sim.ServiceTraffic{
			{Service: balancer.Service{Key: web, Backends: bs[:2]}, Traffic: sim.Traffic{Flows: 500, Rate: 10000}},
			{Service: balancer.Service{Key: dns, Backends: bs[2:]}, Traffic: sim.Traffic{Flows: 500, Rate: 10000, FragmentRate: 0.5, Reorder: 0.5}},
		},
	}
	r, err := sim.Run(sc, func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) })
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range []balancer.ServiceKey{web, dns} {
		s := r.Services[k.String()]
		fmt.Printf("%v: %d datagrams, %d fragments, reliability %.3f, on %d backends\n",
			k, s.Datagrams, s.Fragments, s.Reliability, len(s.PerBackend))
	}
	fmt.Println("total datagrams:", r.Datagrams)
	// Output:
	// 192.0.2.10:443/tcp: 994 datagrams, 0 fragments, reliability 1.000, on 2 backends
	// 192.0.2.10:53/udp: 1016 datagrams, 1491 fragments, reliability 0.805, on 2 backends
	// total datagrams: 2010
}

// IPv6 flows are a share of the traffic: with IPv6 backends beside the
// IPv4 ones, the balancer serves each family with its own (a catch-all
// per family), here Cilium, which tracks IPv6 fragments as it tracks
// IPv4 ones.
func ExampleTraffic_ipv6() {
	sc := sim.Scenario{
		Seed:     1,
		Duration: 100 * time.Millisecond,
		Backends: append(sim.Backends(2), sim.Backends6(2)...),
		Traffic:  sim.Traffic{Flows: 1000, Rate: 20000, UDPShare: 1, IPv6Share: 0.5, FragmentRate: 0.2},
	}
	r, err := sim.Run(sc, func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("reliability %.3f\n", r.Reliability)
	for _, b := range []string{"101", "102", "601", "602"} {
		fmt.Printf("backend %s: %.0f%% of the packets\n", b, 100*float64(r.PerBackend[b])/float64(r.Delivered))
	}
	// Output:
	// reliability 1.000
	// backend 101: 25% of the packets
	// backend 102: 25% of the packets
	// backend 601: 25% of the packets
	// backend 602: 25% of the packets
}
