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
