package xdp_test

import (
	"fmt"
	"log"
	"net"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/xdp"
)

// Load the program, give it backends and run one packet through it with
// BPF_PROG_TEST_RUN. Needs root; compile-only.
func ExampleLoad() {
	p, err := xdp.Load(xdp.Options{Config: titan.Config{VIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	err = p.SetBackends([]balancer.Backend{
		{ID: 101, Addr: netip.MustParseAddr("10.1.0.1"), Weight: 1, Up: true},
		{ID: 102, Addr: netip.MustParseAddr("10.1.0.2"), Weight: 1, Up: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	frame := balancer.Encode(balancer.Packet{
		Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("192.0.2.10"),
		Proto: balancer.ProtoUDP, SrcPort: 40000, DstPort: 53,
	}, 100)
	res, err := p.Run(frame)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Action, res.Backend, len(res.Out)-len(frame))
}

// Measure the established-flow path in the kernel.
func ExampleProgram_Bench() {
	p, err := xdp.Load(xdp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	if err := p.SetBackends([]balancer.Backend{{ID: 1, Addr: netip.MustParseAddr("10.1.0.1"), Weight: 1, Up: true}}); err != nil {
		log.Fatal(err)
	}
	frame := balancer.Encode(balancer.Packet{
		Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("192.0.2.10"),
		Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443,
	}, 100)
	if _, err := p.Run(frame); err != nil { // the flow's first packet
		log.Fatal(err)
	}
	d, err := p.Bench(frame, 100_000)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("per packet (wrapper included):", d)
}

// A backend without an ipip device unwraps what the load balancer sends it
// by attaching Decap to the interface that traffic arrives on. Needs root;
// compile-only.
func ExampleLoadDecap() {
	d, err := xdp.LoadDecap()
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	ifc, err := net.InterfaceByName("eth0")
	if err != nil {
		log.Fatal(err)
	}
	l, err := d.Attach(ifc.Index, xdp.AttachGeneric)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	// ... serve; then see what the program did:
	st, err := d.Stats()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("decapsulated %d (%d fragments), passed %d, dropped %d\n",
		st.Decapsulated, st.InnerFragments, st.Passed, st.Malformed+st.OuterFragment)
}

// Attach the program to an interface in generic mode, which works on any
// device; without a mode the kernel chooses (native where the driver
// supports XDP). Needs root; compile-only.
func ExampleProgram_Attach() {
	p, err := xdp.Load(xdp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ifc, err := net.InterfaceByName("eth0")
	if err != nil {
		log.Fatal(err)
	}
	l, err := p.Attach(ifc.Index, xdp.AttachGeneric)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close() // detaches
}
