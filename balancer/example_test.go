package balancer_test

import (
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
)

// A frame decodes into the header view every balancer reads; the flow hash
// is the one the eBPF program computes.
func ExampleDecode() {
	p := balancer.Packet{
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.10"),
		Proto: balancer.ProtoUDP, SrcPort: 5000, DstPort: 53, IPID: 42,
	}
	frame := balancer.Encode(p, 100)
	q, err := balancer.Decode(frame)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.Src, q.Dst, q.SrcPort, q.DstPort, q.Len, q.IsFragment())
	fmt.Printf("%#08x\n", balancer.Hash5(&q, balancer.DefaultSeed))

	_, err = balancer.Decode(frame[:20])
	fmt.Println(err)
	// Output:
	// 10.0.0.1 192.0.2.10 5000 53 128 false
	// 0x089149f2
	// decode 20-byte frame: ipv4: truncated
}

// A balancer resolves each packet to its service through a ServiceTable:
// the exact (VIP, port, protocol), each service with its own pool and
// ring; what is no service is passed. SetBackends instead makes one
// catch-all service per address family.
func ExampleServiceTable() {
	vip := netip.MustParseAddr("192.0.2.10")
	backend := func(id balancer.BackendID, addr string) balancer.Backend {
		return balancer.Backend{ID: id, Name: id.String(), Addr: netip.MustParseAddr(addr), Weight: 1, Up: true}
	}
	st := balancer.NewServiceTable(13)
	err := st.SetServices([]balancer.Service{
		{Key: balancer.ServiceKey{VIP: vip, Port: 443, Proto: balancer.ProtoTCP},
			Backends: []balancer.Backend{backend(101, "10.1.0.1"), backend(102, "10.1.0.2")}},
		{Key: balancer.ServiceKey{VIP: vip, Port: 53, Proto: balancer.ProtoUDP},
			Backends: []balancer.Backend{backend(102, "10.1.0.2"), backend(103, "10.1.0.3")}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range []balancer.Packet{
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 5000, DstPort: 53},
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: vip, Proto: balancer.ProtoTCP, SrcPort: 5000, DstPort: 22},
	} {
		e, ok := st.Lookup(&p)
		if !ok {
			fmt.Printf("%d/%d: no service: pass\n", p.DstPort, p.Proto)
			continue
		}
		id, _ := e.Pick(balancer.Hash5(&p, balancer.DefaultSeed))
		fmt.Printf("%d/%d: service %v, backend %v\n", p.DstPort, p.Proto, e.Key, id)
	}

	err = st.SetServices([]balancer.Service{
		{Key: balancer.ServiceKey{VIP: vip, Port: 80, Proto: balancer.ProtoTCP},
			Backends: []balancer.Backend{backend(101, "2001:db8::1")}},
	})
	fmt.Println(err)
	// Output:
	// 53/17: service 192.0.2.10:53/udp, backend 102
	// 22/6: no service: pass
	// services[0].backends[0].Addr 2001:db8::1: not the VIP's family
}

// A fragment offset has 13 bits on the wire: a Packet built in Go with a
// larger one is malformed, and no balancer forwards it.
func ExamplePacket_Malformed() {
	p := balancer.Packet{
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.10"),
		Proto: balancer.ProtoUDP, IPID: 42, FragOffset: balancer.MaxFragOffset, Len: 27,
	}
	fmt.Println(p.FragOffset, p.Malformed(), balancer.Encode(p, 7) != nil)
	p.FragOffset++
	fmt.Println(p.FragOffset, p.Malformed(), balancer.Encode(p, 7) != nil)
	// Output:
	// 8191 false true
	// 8192 true false
}

// An IPv6 first fragment behind a Destination Options header: Decode walks
// the extension chain to the UDP header; the flow hash takes the 40-byte
// IPv6 key.
func ExampleDecode_ipv6() {
	p := balancer.Packet{
		Src: netip.MustParseAddr("2001:db8:ff::1"), Dst: netip.MustParseAddr("2001:db8::10"),
		Proto: balancer.ProtoUDP, SrcPort: 5000, DstPort: 53,
		MoreFragments: true, FragID: 0xcafe, ExtHeaders: 2,
	}
	frame := balancer.Encode(p, 1200)
	q, err := balancer.Decode(frame)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.Src, q.Dst, q.SrcPort, q.DstPort, q.Len, q.ExtHeaders, q.IsFirstFragment(), q.FragID == p.FragID)
	fmt.Printf("%#08x\n", balancer.Hash5(&q, balancer.DefaultSeed))

	frame[balancer.EthLen+6] = balancer.ProtoHopByHop // two Hop-by-Hop headers: the second is not first
	frame[balancer.EthLen+40] = balancer.ProtoHopByHop
	_, err = balancer.Decode(frame)
	fmt.Println(err)
	// Output:
	// 2001:db8:ff::1 2001:db8::10 5000 53 1264 2 true true
	// 0xff256530
	// decode 1278-byte frame: ipv6.hop_by_hop: hop-by-hop options not first
}
