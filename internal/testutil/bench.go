package testutil

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// BenchProcess measures lb.Process. It runs warm through lb first,
// unmetered; then each iteration runs the packets next(i) returns (one or
// more), each of which must get the action want, metered under
// [cost.Default]. It reports allocations and the per-packet figures
// STU/pkt and ns/pkt, the units every benchmark of this module shares.
func BenchProcess(b *testing.B, lb balancer.Balancer, warm []balancer.Packet, want balancer.Action, next func(i int) []balancer.Packet) {
	b.Helper()
	for _, p := range warm {
		lb.Process(&balancer.Env{}, &p)
	}
	m := cost.NewMeter(cost.Default())
	env := &balancer.Env{Meter: m}
	b.ReportAllocs()
	n := 0
	for i := 0; b.Loop(); i++ {
		ps := next(i)
		for j := range ps {
			if d := lb.Process(env, &ps[j]); d.Action != want {
				b.Fatalf("%+v: %+v, want %v", ps[j], d, want)
			}
		}
		n += len(ps)
	}
	ReportPerPacket(b, n, m.Total())
}

// ReportPerPacket reports ns/pkt (the benchmark's elapsed time over n
// packets) and, when stu is not 0, STU/pkt.
func ReportPerPacket(b *testing.B, n int, stu cost.STU) {
	if n == 0 {
		return
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/pkt")
	if stu != 0 {
		b.ReportMetric(float64(stu)/float64(n), "STU/pkt")
	}
}

// BenchHash5 measures the shared flow hash alone on [UDP](5000): the
// floor every balancer's Process sits on, for a baseline in the same run.
func BenchHash5(b *testing.B) {
	p := UDP(5000)
	var h uint32
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		h += balancer.Hash5(&p, balancer.DefaultSeed)
		n++
	}
	_ = h
	ReportPerPacket(b, n, 0)
}
