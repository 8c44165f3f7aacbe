package titan_test

import (
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/testutil"
)

// benchPackets is how many distinct flows or datagrams a benchmark cycles
// through: enough to defeat caching of one entry, well inside the tables.
const benchPackets = 4096

// family makes the benchmarks' packets of one address family out of
// testutil's IPv4 ones.
type family struct {
	// packet returns p, a packet of client i, as the family sends it.
	packet func(p balancer.Packet, i int) balancer.Packet
	// backends are the balancer's backends; nil leaves newLB's.
	backends []balancer.Backend
}

var (
	ipv4 = family{packet: func(p balancer.Packet, _ int) balancer.Packet { return p }}
	// ipv6 sends client i's packets from its IPv6 address to the IPv6
	// VIP, a fragment with a Fragment header whose Identification is
	// the IP ID.
	ipv6 = family{
		packet: func(p balancer.Packet, i int) balancer.Packet {
			p.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i)})
			p.Dst = vip6
			if p.IsFragment() {
				p.ExtHeaders, p.FragID = 1, uint32(p.IPID)
			}
			p.IPID = 0
			return p
		},
		backends: append(testutil.Backends(3), backend6(201, 1), backend6(202, 2), backend6(203, 3)),
	}
)

// setID sets p's datagram identification: an IPv6 fragment's
// Identification, or the IP ID.
func setID(p *balancer.Packet, id int) {
	if p.Dst.Is6() {
		p.FragID = uint32(id)
	} else {
		p.IPID = uint16(id)
	}
}

// processCase is a packet kind BenchmarkProcess measures: setup sends
// what it needs through lb and returns the packets of clients 0 to
// benchPackets-1 in family f; vary, if not nil, makes the i-th packet a
// fresh one (a new flow or datagram) from its template.
type processCase struct {
	name  string
	setup func(lb *titan.Balancer, f family) []balancer.Packet
	vary  func(i int, p *balancer.Packet)
	ipv6  bool // measured by BenchmarkProcess6 too
}

// clients returns the packets of clients 0 to benchPackets-1.
func clients(pkt func(i int) balancer.Packet) []balancer.Packet {
	pkts := make([]balancer.Packet, benchPackets)
	for i := range pkts {
		pkts[i] = pkt(i)
	}
	return pkts
}

var processCases = []processCase{
	{name: "established", ipv6: true, setup: func(lb *titan.Balancer, f family) []balancer.Packet {
		return clients(func(i int) balancer.Packet {
			p := f.packet(testutil.Whole(testutil.ClientN(i), balancer.ProtoTCP, uint16(i)), i)
			process(lb, 0, p)
			return p
		})
	}},
	// Ever new flows through a 131072-entry table: every packet misses,
	// stores and (once its sets are full) evicts.
	{name: "new-flow", setup: func(_ *titan.Balancer, f family) []balancer.Packet {
		return clients(func(i int) balancer.Packet {
			return f.packet(testutil.Whole(testutil.ClientN(i), balancer.ProtoTCP, 0), i)
		})
	}, vary: func(i int, p *balancer.Packet) {
		p.SrcPort = uint16(i / benchPackets)
		p.Src = testutil.ClientN(i%benchPackets + i>>28<<12)
	}},
	// First fragments of new datagrams of established flows.
	{name: "first-fragment", ipv6: true, setup: func(lb *titan.Balancer, f family) []balancer.Packet {
		return clients(func(i int) balancer.Packet {
			first, _, _ := testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, 0)
			process(lb, 0, f.packet(testutil.Whole(testutil.ClientN(i), balancer.ProtoUDP, 5000), i))
			return f.packet(first, i)
		})
	}, vary: func(i int, p *balancer.Packet) { setID(p, i/benchPackets) }},
	// Non-first fragments that follow their datagram's entry.
	{name: "non-first-fragment", ipv6: true, setup: func(lb *titan.Balancer, f family) []balancer.Packet {
		return clients(func(i int) balancer.Packet {
			first, mid, _ := testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, uint16(i))
			process(lb, 0, f.packet(first, i))
			return f.packet(mid, i)
		})
	}},
	// Non-first fragments of ever new datagrams between known hosts.
	{name: "orphan", setup: func(lb *titan.Balancer, f family) []balancer.Packet {
		return clients(func(i int) balancer.Packet {
			_, mid, _ := testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, 0)
			process(lb, 0, f.packet(testutil.Whole(testutil.ClientN(i), balancer.ProtoUDP, 5000), i))
			return f.packet(mid, i)
		})
	}, vary: func(i int, p *balancer.Packet) { setID(p, i/benchPackets) }},
}

// benchProcess runs case c's packets, of family f, through Process in
// turn.
func benchProcess(b *testing.B, c processCase, f family) {
	lb := newLB(b, titan.Config{})
	if f.backends != nil {
		if err := lb.SetBackends(f.backends); err != nil {
			b.Fatal(err)
		}
	}
	pkts := c.setup(lb, f)
	var buf [1]balancer.Packet // one packet buffer, as a NIC ring slot
	testutil.BenchProcess(b, lb, nil, balancer.Forward, func(i int) []balancer.Packet {
		buf[0] = pkts[i%len(pkts)]
		if c.vary != nil {
			c.vary(i, &buf[0])
		}
		return buf[:]
	})
}

// BenchmarkProcess measures Process per packet kind. Compare with
// BenchmarkBaseline in the same run.
func BenchmarkProcess(b *testing.B) {
	for _, c := range processCases {
		b.Run(c.name, func(b *testing.B) { benchProcess(b, c, ipv4) })
	}
}

// BenchmarkProcess6 is BenchmarkProcess's established and fragment paths
// on the same packets sent over IPv6 (their keys are 40 bytes, not 16):
// compare the two in the same run.
func BenchmarkProcess6(b *testing.B) {
	for _, c := range processCases {
		if c.ipv6 {
			b.Run(c.name, func(b *testing.B) { benchProcess(b, c, ipv6) })
		}
	}
}

// BenchmarkBaseline measures what Process builds on: the bare Maglev pick
// (flow hash and ring lookup, what a stateless balancer does), and the
// established-flow path with a Go map instead of the bounded set table.
func BenchmarkBaseline(b *testing.B) {
	pkts := make([]balancer.Packet, benchPackets)
	for i := range pkts {
		pkts[i] = testutil.Whole(testutil.ClientN(i), balancer.ProtoTCP, uint16(i))
	}
	r, err := balancer.NewRing(testutil.Backends(3), 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ring-lookup", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := r.Lookup(balancer.Hash5(&pkts[i%len(pkts)], balancer.DefaultSeed)); !ok {
				b.Fatal("no backend")
			}
			i++
		}
		testutil.ReportPerPacket(b, i, 0)
	})
	b.Run("gomap-established", func(b *testing.B) {
		conns := make(map[[16]byte]balancer.BackendID, benchPackets)
		for i := range pkts {
			id, _ := r.Lookup(balancer.Hash5(&pkts[i], balancer.DefaultSeed))
			conns[balancer.Key5(&pkts[i])] = id
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := &pkts[i%len(pkts)]
			_ = balancer.Hash5(p, balancer.DefaultSeed)
			if _, ok := conns[balancer.Key5(p)]; !ok {
				b.Fatal("miss")
			}
			i++
		}
		testutil.ReportPerPacket(b, i, 0)
	})
}
