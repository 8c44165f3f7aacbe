package cilium

import (
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// BenchmarkBaselineHash5 is the floor every balancer's Process sits on: the
// shared flow hash alone.
func BenchmarkBaselineHash5(b *testing.B) {
	p := udp(5000)
	var h uint32
	b.ReportAllocs()
	for b.Loop() {
		h += balancer.Hash5(&p, balancer.DefaultSeed)
	}
	_ = h
}

func benchProcess(b *testing.B, cfg Config, warm []balancer.Packet, next func(i int) []balancer.Packet) {
	lb := newTest(b, cfg)
	m := cost.NewMeter(cost.Default())
	env := &balancer.Env{Meter: m}
	for _, p := range warm {
		lb.Process(env, &p)
	}
	m.Reset()
	b.ReportAllocs()
	n := 0
	for i := 0; b.Loop(); i++ {
		for _, p := range next(i) {
			lb.Process(env, &p)
			n++
		}
	}
	b.ReportMetric(float64(m.Total())/float64(n), "stu/packet")
}

func BenchmarkProcessEstablished(b *testing.B) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b.Run(mode.String(), func(b *testing.B) {
			p := []balancer.Packet{udp(5000)}
			benchProcess(b, Config{Mode: mode}, p, func(int) []balancer.Packet { return p })
		})
	}
}

func BenchmarkProcessNewFlow(b *testing.B) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b.Run(mode.String(), func(b *testing.B) {
			// Bounded tables warmed to their bound: new flows evict.
			cfg := Config{Mode: mode, CTMapSizeAny: 8192, NATMapSize: 8192, NeighMapSize: 1024}
			warm := make([]balancer.Packet, 0, 10000)
			for i := range 10000 {
				p := udp(uint16(i))
				p.Src = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
				warm = append(warm, p)
			}
			var buf [1]balancer.Packet
			benchProcess(b, cfg, warm, func(i int) []balancer.Packet {
				buf[0] = udp(uint16(i))
				buf[0].Src = netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)})
				return buf[:]
			})
		})
	}
}

// BenchmarkProcessFragment runs a two-fragment datagram of a known flow per
// iteration (stu/packet averages the two).
func BenchmarkProcessFragment(b *testing.B) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b.Run(mode.String(), func(b *testing.B) {
			var buf [2]balancer.Packet
			benchProcess(b, Config{Mode: mode}, []balancer.Packet{udp(5000)}, func(i int) []balancer.Packet {
				buf[0], buf[1] = firstFrag(5000), nonFirstFrag()
				buf[0].IPID, buf[1].IPID = uint16(i), uint16(i)
				return buf[:]
			})
		})
	}
}
