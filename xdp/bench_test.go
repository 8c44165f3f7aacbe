package xdp

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

// benchRepeat is the kernel iterations per BPF_PROG_TEST_RUN call.
const benchRepeat = 20_000

// BenchmarkKernel measures every path of Paths with the wrapper method,
// each on a program of its own, beside the wrapper's own time (the baselines, one per Vary: varying
// the frame is the wrapper's work). kernel_ns/pkt includes the wrapper;
// net_ns/pkt subtracts the baseline of the path's Vary measured in the
// same run; ns/STU divides that by the path's price under
// cost.Default().
func BenchmarkKernel(b *testing.B) {
	base := mustLoad(b, Options{})
	if err := base.SetBackends(testutil.Backends(3)); err != nil {
		b.Fatal(err)
	}
	frame := balancer.Encode(Paths()[0].Packet, Paths()[0].Payload)
	// measure returns the median of the per-call kernel figures: the
	// machine is shared, and a call that other work preempted or that
	// found cold caches is an outlier, not the path's cost.
	measure := func(b *testing.B, run func() (time.Duration, error)) time.Duration {
		b.ReportAllocs()
		var ds []time.Duration
		for b.Loop() {
			d, err := run()
			if err != nil {
				b.Fatal(err)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	var wrapper [VaryDatagram + 1]time.Duration
	for v, name := range []string{"wrapper-baseline", "wrapper-baseline-vary-flow", "wrapper-baseline-vary-datagram"} {
		b.Run(name, func(b *testing.B) {
			wrapper[v] = measure(b, func() (time.Duration, error) {
				return base.BenchWith(frame, BenchOptions{Repeat: benchRepeat, Baseline: true, Vary: Vary(v)})
			})
			b.ReportMetric(float64(wrapper[v]), "kernel_ns/pkt")
		})
	}
	for _, path := range Paths() {
		b.Run(path.Name, func(b *testing.B) {
			// A program of its own, as in Calibrate: one path's
			// inserts (new flows evicting hints) must not change
			// another's.
			p := mustLoadPath(b, path)
			// measurePath primes the path's state and checks from the
			// op counters that every iteration took the path.
			d := measure(b, func() (time.Duration, error) {
				return p.measurePath(path, benchRepeat)
			})
			b.ReportMetric(float64(d), "kernel_ns/pkt")
			net := d - wrapper[path.Vary]
			b.ReportMetric(float64(net), "net_ns/pkt")
			if stu := path.STU(cost.Default()); stu > 0 {
				b.ReportMetric(float64(stu), "STU/pkt")
				b.ReportMetric(float64(net)/float64(stu), "ns/STU")
			}
		})
	}
}

// BenchmarkBalancerProcess is the per-packet cost of driving the kernel
// program from Go through NewBalancer (encode, BPF_PROG_TEST_RUN syscall,
// decode): what a parity or sim run pays per packet.
func BenchmarkBalancerProcess(b *testing.B) {
	p := mustLoad(b, Options{})
	lb := NewBalancer(p)
	if err := lb.SetBackends(testutil.Backends(3)); err != nil {
		b.Fatal(err)
	}
	pk := tcpPacket(1000)
	pk.Len = 140
	env := &balancer.Env{}
	b.ReportAllocs()
	for b.Loop() {
		if d := lb.Process(env, &pk); d.Action != balancer.Forward {
			b.Fatal(d)
		}
	}
}

// BenchmarkFragTableSize measures the paths that insert into the fragment
// table (a new datagram's first fragment, an orphan) and the one that
// follows an entry, beside the established path (the baseline), with
// fragment tables of several sizes. The wrapper numbers the datagrams
// consecutively, as a sender does, so each new datagram takes the set
// after the previous one's (frag.SetHash). Each call checks from the op
// counters that its packets took the path. The largest table is 32,768
// entries: one sender's IP IDs wrap after 65,536 datagrams, and a table
// of 16,384 sets or more keeps the last 4 of each set, which are then the
// datagrams of those IDs: inserts would turn into hits.
func BenchmarkFragTableSize(b *testing.B) {
	paths := pathsByName()
	for _, size := range []int{64, titan.DefaultFragTableSize, 2 * titan.DefaultFragTableSize} {
		p := mustLoad(b, Options{Config: titan.Config{FragTableSize: size}})
		if err := p.SetBackends(testutil.Backends(3)); err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{"established-tcp", "first-fragment", "non-first-fragment", "orphan-fragment"} {
			path := paths[name]
			b.Run(fmt.Sprintf("%s/entries=%d", name, size), func(b *testing.B) {
				var ds []time.Duration
				b.ReportAllocs()
				for b.Loop() {
					d, err := p.measurePath(path, benchRepeat)
					if err != nil {
						b.Fatal(err)
					}
					ds = append(ds, d)
				}
				slices.Sort(ds)
				b.ReportMetric(float64(ds[len(ds)/2]), "kernel_ns/pkt")
			})
		}
	}
}

// BenchmarkFragmentRatio measures the fragment target in one run:
// established TCP (the baseline), a new datagram's first fragment, a
// non-first fragment that follows its entry and an orphan, each on a
// program of its own, interleaved call by call with the wrapper (with
// each variation of the frame), and reports each fragment path's net time
// as a multiple of the established path's: x_min from the quietest call of
// each (other work only ever adds time), x_med from the medians.
func BenchmarkFragmentRatio(b *testing.B) {
	names := []string{"established-tcp", "first-fragment", "non-first-fragment", "orphan-fragment"}
	byName := pathsByName()
	progs := make([]*Program, len(names))
	for i, n := range names {
		progs[i] = mustLoadPath(b, byName[n])
	}
	frame := balancer.Encode(byName[names[0]].Packet, byName[names[0]].Payload)
	var wrapper [VaryDatagram + 1][]time.Duration
	gross := make([][]time.Duration, len(names))
	b.ReportAllocs()
	for b.Loop() {
		w, err := progs[0].wrapperTimes(frame, benchRepeat)
		if err != nil {
			b.Fatal(err)
		}
		for v, d := range w {
			wrapper[v] = append(wrapper[v], d)
		}
		for i, n := range names {
			d, err := progs[i].measurePath(byName[n], benchRepeat)
			if err != nil {
				b.Fatal(err)
			}
			gross[i] = append(gross[i], d)
		}
	}
	for tag, stat := range map[string]func([]time.Duration) time.Duration{"min": slices.Min[[]time.Duration], "med": median} {
		net := make([]float64, len(names))
		for i, n := range names {
			net[i] = float64(stat(gross[i]) - stat(wrapper[byName[n].Vary]))
		}
		b.ReportMetric(net[0], "established_net_ns_"+tag)
		for i, n := range names[1:] {
			if net[0] > 0 {
				b.ReportMetric(net[i+1]/net[0], n+"_x_"+tag)
			}
		}
	}
}
