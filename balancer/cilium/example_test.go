package cilium_test

import (
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/sim"
)

// Cilium tracks fragments in an LRU map: in-order fragments follow their
// first fragment; a fragment that arrives before it is dropped.
func Example() {
	lb, err := cilium.New(cilium.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := lb.SetBackends(sim.Backends(3)); err != nil {
		fmt.Println(err)
		return
	}
	meter := cost.NewMeter(cost.Default())
	env := &balancer.Env{Meter: meter}
	first := balancer.Packet{
		Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("198.51.100.1"),
		Proto: balancer.ProtoUDP, SrcPort: 5000, DstPort: 53, Len: 1500, IPID: 1, MoreFragments: true,
	}
	rest := first
	rest.SrcPort, rest.DstPort, rest.MoreFragments, rest.FragOffset, rest.Len = 0, 0, false, 185, 600

	a := lb.Process(env, &first)
	b := lb.Process(env, &rest)
	fmt.Println("in order:", a.Action, b.Action, "same backend:", a.Backend == b.Backend)

	rest.IPID = 2 // the next datagram's second fragment arrives first
	meter.Reset()
	d := lb.Process(env, &rest)
	fmt.Printf("reordered: %v %q after %d tail call, %d reads\n", d.Action, d.Reason,
		meter.Count(cost.OpTailCall), meter.Count(cost.OpMapRead))
	// Output:
	// in order: forward forward same backend: true
	// reordered: drop "first logical datagram fragment not found" after 1 tail call, 2 reads
}

// The per-packet price of the SNAT pipeline against DSR with IPIP dispatch,
// for an established flow.
func ExampleMode() {
	for _, mode := range []cilium.Mode{cilium.ModeSNAT, cilium.ModeDSR} {
		lb, _ := cilium.New(cilium.Config{Mode: mode})
		_ = lb.SetBackends(sim.Backends(3))
		p := balancer.Packet{
			Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("198.51.100.1"),
			Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443, Len: 60, TCPFlags: balancer.TCPSyn,
		}
		lb.Process(&balancer.Env{}, &p)
		p.TCPFlags = balancer.TCPAck
		m := cost.NewMeter(cost.Default())
		lb.Process(&balancer.Env{Meter: m}, &p)
		fmt.Printf("%s: %d STU (%d reads, %d tail calls)\n", mode, m.Total(), m.Count(cost.OpMapRead), m.Count(cost.OpTailCall))
	}
	// Output:
	// snat: 240 STU (9 reads, 2 tail calls)
	// dsr: 170 STU (4 reads, 2 tail calls)
}

// Services: two services on one VIP with their own pools. A non-first
// fragment carries no ports, but Cilium reads them from its fragment map
// before the service lookup, so each datagram stays with its service.
func ExampleBalancer_SetServices() {
	vip := netip.MustParseAddr("2001:db8:100::1")
	lb, err := cilium.New(cilium.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	be := func(id balancer.BackendID, addr string) []balancer.Backend {
		return []balancer.Backend{{ID: id, Addr: netip.MustParseAddr(addr), Weight: 1, Up: true}}
	}
	err = lb.SetServices([]balancer.Service{
		{Key: balancer.ServiceKey{VIP: vip, Port: 53, Proto: balancer.ProtoUDP}, Backends: be(1, "2001:db8:1::1")},
		{Key: balancer.ServiceKey{VIP: vip, Port: 123, Proto: balancer.ProtoUDP}, Backends: be(2, "2001:db8:1::2")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := netip.MustParseAddr("2001:db8::7")
	for i, port := range []uint16{53, 123} {
		first := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 40000, DstPort: port,
			FragID: uint32(i), MoreFragments: true, ExtHeaders: 1, Len: 1280}
		rest := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoUDP,
			FragID: uint32(i), FragOffset: 154, ExtHeaders: 1, Len: 648}
		a := lb.Process(&balancer.Env{}, &first)
		b := lb.Process(&balancer.Env{}, &rest)
		fmt.Printf("port %d: first fragment to %v, rest to %v\n", port, a.Backend, b.Backend)
	}
	orphan := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoUDP, FragID: 9, FragOffset: 154, ExtHeaders: 1, Len: 648}
	fmt.Println(lb.Process(&balancer.Env{}, &orphan).Reason)
	// Output:
	// port 53: first fragment to 1, rest to 1
	// port 123: first fragment to 2, rest to 2
	// first logical datagram fragment not found
}
