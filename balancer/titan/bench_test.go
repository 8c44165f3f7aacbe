package titan_test

import (
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
