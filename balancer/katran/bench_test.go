package katran

import (
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

func benchProcess(b *testing.B, cfg Config, next func(i int) balancer.Packet, warm []balancer.Packet) {
	lb := newTest(b, cfg)
	m := cost.NewMeter(cost.Default())
	env := &balancer.Env{Meter: m}
	for _, p := range warm {
		lb.Process(env, &p)
	}
	m.Reset()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := next(i)
		lb.Process(env, &p)
		i++
	}
	b.ReportMetric(float64(m.Total())/float64(i), "stu/op")
}

func BenchmarkProcessEstablished(b *testing.B) {
	syn, ack := tcp(1000, balancer.TCPSyn), tcp(1000, balancer.TCPAck)
	benchProcess(b, Config{}, func(int) balancer.Packet { return ack }, []balancer.Packet{syn})
}

func BenchmarkProcessNewFlow(b *testing.B) {
	// A bounded table, warmed to its bound: every new flow evicts one.
	warm := make([]balancer.Packet, 0, 20000)
	for i := range 20000 {
		p := udp(uint16(i))
		p.Src = p.Src.Next()
		warm = append(warm, p)
	}
	benchProcess(b, Config{CPUs: 1, LRUSize: 16384}, func(i int) balancer.Packet {
		p := udp(uint16(i))
		return p
	}, warm)
}

func BenchmarkProcessFragment(b *testing.B) {
	f := nonFirstFrag()
	benchProcess(b, Config{}, func(int) balancer.Packet { return f }, nil)
}

func BenchmarkProcessFragmentNaive(b *testing.B) {
	f := nonFirstFrag()
	benchProcess(b, Config{Naive: true}, func(int) balancer.Packet { return f }, nil)
}
