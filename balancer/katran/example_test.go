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
	fmt.Println("new UDP flow:", d.Action, meter.Count(cost.OpArrayRead), "array reads,", meter.Count(cost.OpRingRead), "ring read,", meter.Count(cost.OpLRUInsert), "LRU insert,", meter.Total(), "STU")

	meter.Reset()
	lb.Process(env, &p)
	// A UDP entry's access time: a clock read (bpf_ktime_get_ns).
	fmt.Println("established:", meter.Count(cost.OpLRURead), "LRU read,", meter.Count(cost.OpClock), "clock read,", meter.Total(), "STU")

	p.MoreFragments = true
	d = lb.Process(env, &p)
	fmt.Println("first fragment:", d.Action, d.Reason)
	fmt.Println("fragment drops:", lb.Stats().DropFragment)
	// Output:
	// new UDP flow: forward 10 array reads, 1 ring read, 1 LRU insert, 390 STU
	// established: 1 LRU read, 1 clock read, 260 STU
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

// Services: each (VIP, port, protocol) is a Katran VIP with its own ring;
// a port-0 VIP (VIPOptions.AllPorts) serves the address's other ports;
// a packet to no VIP is passed; every IPv6 fragment is dropped.
func ExampleBalancer_SetServices() {
	vip, vip6 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8:100::1")
	web := balancer.ServiceKey{VIP: vip, Port: 443, Proto: balancer.ProtoTCP}
	rest := balancer.ServiceKey{VIP: vip, Port: 80, Proto: balancer.ProtoTCP}
	lb, err := katran.New(katran.Config{ServiceOptions: []katran.ServiceOption{
		{Key: rest, VIPOptions: katran.VIPOptions{AllPorts: true}},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	be := func(id balancer.BackendID, addr string) balancer.Backend {
		return balancer.Backend{ID: id, Addr: netip.MustParseAddr(addr), Weight: 1, Up: true}
	}
	err = lb.SetServices([]balancer.Service{
		{Key: web, Backends: []balancer.Backend{be(1, "10.1.0.1")}},
		{Key: rest, Backends: []balancer.Backend{be(2, "10.1.0.2")}},
		{Key: balancer.ServiceKey{VIP: vip6, Port: 443, Proto: balancer.ProtoTCP}, Backends: []balancer.Backend{be(3, "2001:db8:1::3")}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client, client6 := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")
	for _, p := range []balancer.Packet{
		{Src: client, Dst: vip, Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: balancer.TCPSyn},
		{Src: client, Dst: vip, Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 8080, TCPFlags: balancer.TCPSyn},
		{Src: client, Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 40000, DstPort: 53},
		{Src: client6, Dst: vip6, Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: balancer.TCPSyn},
		{Src: client6, Dst: vip6, Proto: balancer.ProtoUDP, SrcPort: 40000, DstPort: 443, FragID: 7, MoreFragments: true, ExtHeaders: 1},
	} {
		d := lb.Process(&balancer.Env{}, &p)
		switch d.Action {
		case balancer.Forward:
			fmt.Printf("%v:%d/%d -> backend %v\n", p.Dst, p.DstPort, p.Proto, d.Backend)
		case balancer.Pass:
			fmt.Printf("%v:%d/%d -> pass\n", p.Dst, p.DstPort, p.Proto)
		default:
			fmt.Printf("%v:%d/%d -> drop: %s\n", p.Dst, p.DstPort, p.Proto, d.Reason)
		}
	}
	// Output:
	// 198.51.100.1:443/6 -> backend 1
	// 198.51.100.1:8080/6 -> backend 2
	// 198.51.100.1:53/17 -> pass
	// 2001:db8:100::1:443/6 -> backend 3
	// 2001:db8:100::1:443/17 -> drop: katran: ipv6 fragment
}
