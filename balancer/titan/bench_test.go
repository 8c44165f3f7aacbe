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

// benchProcess runs Process on the packets setup returns, in turn; vary, if
// not nil, makes the i-th packet a fresh one (a new flow or datagram) from
// its template.
func benchProcess(b *testing.B, setup func(lb *titan.Balancer) []balancer.Packet, vary func(i int, p *balancer.Packet)) {
	lb := newLB(b, titan.Config{})
	pkts := setup(lb)
	var buf [1]balancer.Packet // one packet buffer, as a NIC ring slot
	testutil.BenchProcess(b, lb, nil, balancer.Forward, func(i int) []balancer.Packet {
		buf[0] = pkts[i%len(pkts)]
		if vary != nil {
			vary(i, &buf[0])
		}
		return buf[:]
	})
}

// BenchmarkProcess measures Process per packet kind. Compare with
// BenchmarkBaseline in the same run.
func BenchmarkProcess(b *testing.B) {
	b.Run("established", func(b *testing.B) {
		benchProcess(b, func(lb *titan.Balancer) []balancer.Packet {
			pkts := make([]balancer.Packet, benchPackets)
			for i := range pkts {
				pkts[i] = testutil.Whole(testutil.ClientN(i), balancer.ProtoTCP, uint16(i))
				process(lb, 0, pkts[i])
			}
			return pkts
		}, nil)
	})
	b.Run("new-flow", func(b *testing.B) {
		// Ever new flows through a 131072-entry table: every packet misses,
		// stores and (once its sets are full) evicts.
		benchProcess(b, func(lb *titan.Balancer) []balancer.Packet {
			pkts := make([]balancer.Packet, benchPackets)
			for i := range pkts {
				pkts[i] = testutil.Whole(testutil.ClientN(i), balancer.ProtoTCP, 0)
			}
			return pkts
		}, func(i int, p *balancer.Packet) {
			p.SrcPort = uint16(i / benchPackets)
			p.Src = testutil.ClientN(i%benchPackets + i>>28<<12)
		})
	})
	b.Run("first-fragment", func(b *testing.B) {
		// First fragments of new datagrams of established flows.
		benchProcess(b, func(lb *titan.Balancer) []balancer.Packet {
			pkts := make([]balancer.Packet, benchPackets)
			for i := range pkts {
				pkts[i], _, _ = testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, 0)
				process(lb, 0, testutil.Whole(testutil.ClientN(i), balancer.ProtoUDP, 5000))
			}
			return pkts
		}, func(i int, p *balancer.Packet) { p.IPID = uint16(i / benchPackets) })
	})
	b.Run("non-first-fragment", func(b *testing.B) {
		// Non-first fragments that follow their datagram's entry.
		benchProcess(b, func(lb *titan.Balancer) []balancer.Packet {
			pkts := make([]balancer.Packet, benchPackets)
			for i := range pkts {
				first, mid, _ := testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, uint16(i))
				process(lb, 0, first)
				pkts[i] = mid
			}
			return pkts
		}, nil)
	})
	b.Run("orphan", func(b *testing.B) {
		// Non-first fragments of ever new datagrams between known hosts.
		benchProcess(b, func(lb *titan.Balancer) []balancer.Packet {
			pkts := make([]balancer.Packet, benchPackets)
			for i := range pkts {
				_, pkts[i], _ = testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, 0)
				process(lb, 0, testutil.Whole(testutil.ClientN(i), balancer.ProtoUDP, 5000))
			}
			return pkts
		}, func(i int, p *balancer.Packet) { p.IPID = uint16(i / benchPackets) })
	})
}

// to6 returns p, a packet of client i, as IPv6: client i's IPv6 address
// to the IPv6 VIP, a fragment with its Fragment header (identification
// id).
func to6(p balancer.Packet, i int, id uint32) balancer.Packet {
	p.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i)})
	p.Dst, p.IPID = vip6, 0
	if p.IsFragment() {
		p.ExtHeaders, p.FragID = 1, id
	}
	return p
}

// BenchmarkProcess6 is BenchmarkProcess's established and fragment paths
// for IPv6 packets (their keys are 40 bytes, not 16): compare the two in
// the same run.
func BenchmarkProcess6(b *testing.B) {
	setup := func(lb *titan.Balancer) {
		if err := lb.SetBackends(append(testutil.Backends(3), backend6(201, 1), backend6(202, 2), backend6(203, 3))); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("established", func(b *testing.B) {
		benchProcess(b, func(lb *titan.Balancer) []balancer.Packet {
			setup(lb)
			pkts := make([]balancer.Packet, benchPackets)
			for i := range pkts {
				pkts[i] = to6(testutil.Whole(testutil.ClientN(i), balancer.ProtoTCP, uint16(i)), i, 0)
				process(lb, 0, pkts[i])
			}
			return pkts
		}, nil)
	})
	b.Run("first-fragment", func(b *testing.B) {
		benchProcess(b, func(lb *titan.Balancer) []balancer.Packet {
			setup(lb)
			pkts := make([]balancer.Packet, benchPackets)
			for i := range pkts {
				first, _, _ := testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, 0)
				pkts[i] = to6(first, i, 0)
				process(lb, 0, to6(testutil.Whole(testutil.ClientN(i), balancer.ProtoUDP, 5000), i, 0))
			}
			return pkts
		}, func(i int, p *balancer.Packet) { p.FragID = uint32(i / benchPackets) })
	})
	b.Run("non-first-fragment", func(b *testing.B) {
		benchProcess(b, func(lb *titan.Balancer) []balancer.Packet {
			setup(lb)
			pkts := make([]balancer.Packet, benchPackets)
			for i := range pkts {
				first, mid, _ := testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, 0)
				process(lb, 0, to6(first, i, uint32(i)))
				pkts[i] = to6(mid, i, uint32(i))
			}
			return pkts
		}, nil)
	})
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
