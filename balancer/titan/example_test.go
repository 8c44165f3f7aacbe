package titan_test

import (
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
)

// A datagram whose last fragment overtakes the first: the orphan is
// forwarded and recorded, and the first fragment follows it.
func Example() {
	lb, err := titan.New(titan.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = lb.SetBackends([]balancer.Backend{
		{ID: 101, Addr: netip.MustParseAddr("10.1.0.101"), Weight: 1, Up: true},
		{ID: 102, Addr: netip.MustParseAddr("10.1.0.102"), Weight: 1, Up: true},
		{ID: 103, Addr: netip.MustParseAddr("10.1.0.103"), Weight: 1, Up: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.10")
	first := balancer.Packet{Src: src, Dst: dst, Proto: balancer.ProtoUDP, SrcPort: 5000, DstPort: 4789, IPID: 7, MoreFragments: true}
	last := balancer.Packet{Src: src, Dst: dst, Proto: balancer.ProtoUDP, IPID: 7, FragOffset: 185}

	m := cost.NewMeter(cost.Default())
	env := &balancer.Env{Meter: m}
	for _, p := range []balancer.Packet{last, first} {
		m.Reset()
		d := lb.Process(env, &p)
		fmt.Printf("offset %3d: %v to %d, %d STU\n", p.FragOffset, d.Action, d.Backend, m.Total())
	}
	s := lb.Stats()
	fmt.Println("orphans:", s.Orphans, "followed:", s.FragFollowed)
	// Output:
	// offset 185: forward to 103, 180 STU
	// offset   0: forward to 103, 110 STU
	// orphans: 1 followed: 1
}

// Resolve fills in the defaults of a Config, or names the bad field; New
// and the kernel program's loader (xdp.Load) both resolve with it.
func ExampleConfig_Resolve() {
	c, err := titan.Config{OrphanPolicy: titan.OrphanHash3}.Resolve()
	fmt.Println(c.RingSize, c.FragTableSize, c.FragTimeout, c.OrphanPolicy, c.OrphanAdmission, err)
	_, err = titan.Config{RingSize: 65536}.Resolve()
	fmt.Println(err)
	// Output:
	// 65537 16384 30s hash3 earned <nil>
	// titan: config.RingSize 65536: not prime
}

// OrphanServices names, for a VIP with several services of a protocol
// whose pools share backends, where their orphans (non-first fragments
// that cannot name their service) go: the shared backends, keyed as the
// lowest port.
func ExampleOrphanServices() {
	b := func(id balancer.BackendID) balancer.Backend {
		return balancer.Backend{ID: id, Name: id.String(), Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(id)}), Weight: 1, Up: true}
	}
	vip := netip.MustParseAddr("192.0.2.1")
	udp := func(port uint16, ids ...balancer.BackendID) balancer.Service {
		s := balancer.Service{Key: balancer.ServiceKey{VIP: vip, Port: port, Proto: balancer.ProtoUDP}}
		for _, id := range ids {
			s.Backends = append(s.Backends, b(id))
		}
		return s
	}
	for _, o := range titan.OrphanServices([]balancer.Service{udp(8443, 3, 4, 5, 6), udp(443, 1, 2, 3, 4)}) {
		fmt.Print(o.Key, ":")
		for _, be := range o.Backends {
			fmt.Print(" ", be.ID)
		}
		fmt.Println()
	}
	// Output:
	// 192.0.2.1:443/udp: 3 4
}
