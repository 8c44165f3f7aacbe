package sim_test

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
)

// benchScenario is the throughput scenario of the issue: 10,000 flows, 30%
// of datagrams fragmented, one CPU, lasting d.
func benchScenario(d time.Duration) sim.Scenario {
	return sim.Scenario{
		Seed:     1,
		Duration: d,
		Backends: sim.Backends(8),
		Traffic: sim.Traffic{Flows: 10000, Clients: 1000, Rate: 1e6, Zipf: 1,
			UDPShare: 0.5, FragmentRate: 0.3, Reorder: 0.1},
		Node: sim.Node{CPUs: 1, QueueLen: 4096},
	}
}

// benchRun runs the scenario once per op and reports simulated packets per
// second of wall time and allocations per packet.
func benchRun(b *testing.B, sc sim.Scenario, newLB func() (balancer.Balancer, error)) {
	b.ReportAllocs()
	var pkts uint64
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		r, err := sim.Run(sc, newLB)
		if err != nil {
			b.Fatal(err)
		}
		pkts += r.Packets
	}
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(pkts), "allocs/pkt")
	b.ReportMetric(float64(pkts)/float64(b.N), "pkts/op")
}

// BenchmarkRun is a whole scenario with the stateless test balancer.
func BenchmarkRun(b *testing.B) {
	benchRun(b, benchScenario(200*time.Millisecond), newMaglev)
}

// BenchmarkRunTitan is the throughput scenario with balancer/titan.
func BenchmarkRunTitan(b *testing.B) {
	benchRun(b, benchScenario(200*time.Millisecond), newTitan)
}

// BenchmarkRunMillionFlows reports the heap in use, in MB, in the middle
// of a Titan run with 1,000,000 flows from 100,000 clients: a control
// event at 3/4 of the run measures it (after a GC) while the simulator,
// its traffic state, the balancer's tables and the backends' reassemblers
// are all alive. "conn1M" sizes Titan's connection and hint tables for a
// million flows too.
func BenchmarkRunMillionFlows(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  titan.Config
	}{
		{"default", titan.Config{}},
		{"conn1M", titan.Config{ConnTableSize: 1 << 20, HintTableSize: 1 << 20}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sc := benchScenario(100 * time.Millisecond)
			sc.Traffic.Flows, sc.Traffic.Clients = 1_000_000, 100_000
			sc.Events = []sim.Event{sim.SetWeight(75*time.Millisecond, 101, 1)}
			var peak uint64
			for b.Loop() {
				_, err := sim.Run(sc, func() (balancer.Balancer, error) {
					lb, err := titan.New(tc.cfg)
					return &heapProbe{Balancer: lb, peak: &peak}, err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak)/1e6, "MB")
		})
	}
}

// heapProbe measures the heap in use at every SetBackends but the first.
type heapProbe struct {
	balancer.Balancer
	calls int
	peak  *uint64
}

func (h *heapProbe) SetBackends(bs []balancer.Backend) error {
	if h.calls++; h.calls > 1 {
		*h.peak = max(*h.peak, heapInUse())
	}
	return h.Balancer.SetBackends(bs)
}

// BenchmarkRunKatran and BenchmarkRunCilium run the same scenario with the
// other two models, for comparison with BenchmarkRunTitan.
func BenchmarkRunKatran(b *testing.B) {
	benchRun(b, benchScenario(200*time.Millisecond), newKatran)
}

func BenchmarkRunCilium(b *testing.B) {
	benchRun(b, benchScenario(200*time.Millisecond), newCilium)
}

// BenchmarkRunDesigns is the speed of each design's model against the
// simulator's own floor, in the same run: each op runs the throughput
// scenario once with the stateless test balancer (the baseline: events,
// RSS, queues, reassembly and metrics, with a Maglev lookup per packet),
// then with Titan, Katran and Cilium, one after the other on one locked
// thread, from a collected heap. It reports, per design, the median over
// ops of simulated packets per second of the thread's CPU time (which the
// machine's other work does not inflate the way it does the wall clock),
// and its ratio to the baseline's: titan/base and so on.
func BenchmarkRunDesigns(b *testing.B) {
	runDesigns(b, benchScenario(200*time.Millisecond))
}

// BenchmarkRunDesignsIPv6 is BenchmarkRunDesigns with every flow IPv6
// (to IPv6 backends; its fragments are IPv6 ones, reassembled as such):
// compare each design's rate with BenchmarkRunDesigns' in the same run.
func BenchmarkRunDesignsIPv6(b *testing.B) {
	sc := benchScenario(200 * time.Millisecond)
	sc.Backends, sc.Traffic.IPv6Share = sim.Backends6(8), 1
	runDesigns(b, sc)
}

// runDesigns is BenchmarkRunDesigns on scenario sc.
func runDesigns(b *testing.B, sc sim.Scenario) {
	designs := append([]design{{"base", newMaglev}}, designs()...)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rates := make([][]float64, len(designs))
	for b.Loop() {
		for i, d := range designs {
			runtime.GC()
			c := testutil.ThreadCPU()
			r, err := sim.Run(sc, d.mk)
			cpu := testutil.ThreadCPU() - c
			if err != nil {
				b.Fatal(err)
			}
			rates[i] = append(rates[i], float64(r.Packets)/cpu.Seconds())
		}
	}
	base := median(rates[0])
	b.ReportMetric(base, "base-pkts/s")
	for i, d := range designs[1:] {
		rate := median(rates[i+1])
		b.ReportMetric(rate, d.name+"-pkts/s")
		b.ReportMetric(rate/base, d.name+"/base")
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
