package xdp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/kbench"
	"github.com/titanlb/titanlb/internal/testutil"
)

// benchRepeat is the kernel iterations per BPF_PROG_TEST_RUN call.
const benchRepeat = 20_000

// The kernel benchmarks report the kernel's own time per packet, not the
// wall clock's (ns/op is far above it: the kernel pauses its timer while
// the test run yields the CPU): ns/pkt is the program's net time, the
// wrapper's subtracted (its own time measured in the same run, with the
// path's variation of the frame); the wrapper-baseline sub-benchmarks
// report the wrapper's time as their ns/pkt, so a path's gross time is
// its ns/pkt plus its wrapper's. docs/benchmarks.md has the method and
// the figures.

// BenchmarkKernel measures every path of kbench.Paths with the wrapper
// method, each on a program of its own, beside the wrapper's own time
// (the baselines, one per Vary: varying the frame is the wrapper's
// work). Each path reports ns/pkt (net of the wrapper), STU/pkt (its price
// under cost.Default()) and ns/STU (the two divided).
func BenchmarkKernel(b *testing.B) {
	base := benchTarget{mustLoad(b, Options{})}
	if err := base.p.SetBackends(testutil.Backends(3)); err != nil {
		b.Fatal(err)
	}
	paths := kbench.Paths()
	frame := balancer.Encode(paths[0].Packet, paths[0].Payload)
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
		return kbench.Median(ds)
	}
	var wrapper [kbench.NumVary]time.Duration
	for v, name := range []string{"wrapper-baseline", "wrapper-baseline-vary-flow", "wrapper-baseline-vary-datagram"} {
		b.Run(name, func(b *testing.B) {
			wrapper[v] = measure(b, func() (time.Duration, error) {
				return base.Bench(frame, kbench.BenchOptions{Repeat: benchRepeat, Baseline: true, Vary: kbench.Vary(v)})
			})
			b.ReportMetric(float64(wrapper[v]), "ns/pkt")
		})
	}
	for _, path := range paths {
		b.Run(path.Name, func(b *testing.B) {
			// A program of its own, as in kbench.Calibrate: one path's
			// inserts (new flows evicting hints) must not change
			// another's.
			p := benchTarget{mustLoadPath(b, path)}
			// MeasurePath primes the path's state and checks from the
			// op counters that every iteration took the path.
			d := measure(b, func() (time.Duration, error) {
				return kbench.MeasurePath(p, path, benchRepeat)
			})
			net := d - wrapper[path.Vary]
			b.ReportMetric(float64(net), "ns/pkt")
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
// counters that its packets took the path, and is followed by a call of
// the wrapper alone with the path's variation: ns/pkt is the median of
// the differences. The largest table is 32,768 entries: one sender's IP
// IDs wrap after 65,536 datagrams, and a table of 16,384 sets or more
// keeps the last 4 of each set, which are then the datagrams of those
// IDs: inserts would turn into hits.
func BenchmarkFragTableSize(b *testing.B) {
	paths := pathsByName()
	for _, size := range []int{64, titan.DefaultFragTableSize, 2 * titan.DefaultFragTableSize} {
		p := benchTarget{mustLoad(b, Options{Config: titan.Config{FragTableSize: size}})}
		if err := p.p.SetBackends(testutil.Backends(3)); err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{"established-tcp", "first-fragment", "non-first-fragment", "orphan-fragment"} {
			path := paths[name]
			b.Run(fmt.Sprintf("%s/entries=%d", name, size), func(b *testing.B) {
				benchPathNet(b, p, path)
			})
		}
	}
}

// BenchmarkFragmentRatio measures the fragment target in one run:
// established TCP (the baseline), a new datagram's first fragment, a
// non-first fragment that follows its entry and an orphan, each on a
// program of its own, interleaved call by call with the wrapper (with
// each variation of the frame), and reports each fragment path's net time
// as a multiple of the established path's: <path>_x_min from the quietest
// call of each (other work only ever adds time), <path>_x_med from the
// medians. The established path's own net time is ns/pkt (medians) and
// min-ns/pkt (quietest calls).
func BenchmarkFragmentRatio(b *testing.B) {
	names := []string{"established-tcp", "first-fragment", "non-first-fragment", "orphan-fragment"}
	byName := pathsByName()
	progs := make([]benchTarget, len(names))
	for i, n := range names {
		progs[i] = benchTarget{mustLoadPath(b, byName[n])}
	}
	frame := balancer.Encode(byName[names[0]].Packet, byName[names[0]].Payload)
	var wrapper [kbench.NumVary][]time.Duration
	gross := make([][]time.Duration, len(names))
	b.ReportAllocs()
	for b.Loop() {
		w, err := kbench.WrapperTimes(progs[0], frame, benchRepeat)
		if err != nil {
			b.Fatal(err)
		}
		for v, d := range w {
			wrapper[v] = append(wrapper[v], d)
		}
		for i, n := range names {
			d, err := kbench.MeasurePath(progs[i], byName[n], benchRepeat)
			if err != nil {
				b.Fatal(err)
			}
			gross[i] = append(gross[i], d)
		}
	}
	for _, st := range []struct {
		tag, unit string
		stat      func([]time.Duration) time.Duration
	}{{"min", "min-ns/pkt", slices.Min[[]time.Duration]}, {"med", "ns/pkt", kbench.Median}} {
		net := make([]float64, len(names))
		for i, n := range names {
			net[i] = float64(st.stat(gross[i]) - st.stat(wrapper[byName[n].Vary]))
		}
		b.ReportMetric(net[0], st.unit)
		for i, n := range names[1:] {
			if net[0] > 0 {
				b.ReportMetric(net[i+1]/net[0], n+"_x_"+st.tag)
			}
		}
	}
}

// benchPathNet reports as ns/pkt the median kernel time of path through
// p, less the wrapper's own time for the same frame (its baseline).
func benchPathNet(b *testing.B, p benchTarget, path kbench.Path) {
	frame := balancer.Encode(path.Packet, path.Payload)
	var ds []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		d, err := kbench.MeasurePath(p, path, benchRepeat)
		if err != nil {
			b.Fatal(err)
		}
		w, err := p.Bench(frame, kbench.BenchOptions{Repeat: benchRepeat, Baseline: true, Vary: path.Vary})
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, d-w)
	}
	b.ReportMetric(float64(kbench.Median(ds)), "ns/pkt")
}

// ipv6Path returns path with its packets made IPv6 (client
// 2001:db8:200::7, VIP 2001:db8::10; a fragment behind a Destination
// Options header, its Fragment header's Identification the IP ID).
func ipv6Path(path kbench.Path) kbench.Path {
	to6 := func(p balancer.Packet) balancer.Packet {
		p.Src, p.Dst = netip.MustParseAddr("2001:db8:200::7"), traceVIPs6[0]
		if p.IsFragment() {
			p.FragID, p.ExtHeaders = uint32(p.IPID), 2
		}
		p.IPID = 0
		return p
	}
	path.Packet = to6(path.Packet)
	path.Prime = slices.Clone(path.Prime)
	for i := range path.Prime {
		path.Prime[i] = to6(path.Prime[i])
	}
	return path
}

// BenchmarkKernelIPv6 measures paths of IPv6 packets, and of the same
// IPv4 packets, each on a program of its own serving both families
// (catch-alls): established TCP, a new TCP flow every packet (the wrapper
// adds the count to the source address's last word), a non-first
// fragment that follows its entry (IPv6: behind a Destination Options
// header). Each call checks from the op counters that its packets took
// the path (the same operations for both families) and is followed by a
// call of the wrapper alone with the path's variation: ns/pkt is the
// median of the differences.
func BenchmarkKernelIPv6(b *testing.B) {
	paths := pathsByName()
	bs := append(testutil.Backends(3), traceBackends6(3)...)
	for _, name := range []string{"established-tcp", "new-flow-tcp", "non-first-fragment"} {
		for _, fam := range []string{"ipv4", "ipv6"} {
			path := paths[name]
			if fam == "ipv6" {
				path = ipv6Path(path)
			}
			p := benchTarget{mustLoad(b, Options{})}
			if err := p.p.SetBackends(bs); err != nil {
				b.Fatal(err)
			}
			b.Run(name+"/"+fam, func(b *testing.B) {
				benchPathNet(b, p, path)
			})
		}
	}
}
