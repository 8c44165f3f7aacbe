package xdp

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/kbench"
)

// TestPathsTakeTheirPath runs each path's packets through the kernel and
// checks the counters of the path moved: the benchmarks measure what they
// name.
func TestPathsTakeTheirPath(t *testing.T) {
	want := map[string]func(d Stats) bool{
		"established-tcp":     func(d Stats) bool { return d.ConnHits == 1 && d.Forwarded == 1 },
		"established-udp":     func(d Stats) bool { return d.ConnHits == 1 && d.Forwarded == 1 },
		"new-flow-tcp":        func(d Stats) bool { return d.ConnMisses == 1 && d.Forwarded == 1 },
		"first-fragment":      func(d Stats) bool { return d.FragMisses == 1 && d.ConnHits == 1 && d.Forwarded == 1 },
		"non-first-fragment":  func(d Stats) bool { return d.FragHits == 1 && d.Forwarded == 1 },
		"orphan-fragment":     func(d Stats) bool { return d.Orphans == 1 && d.HintHits == 1 && d.Forwarded == 1 },
		"stateless-tcp":       func(d Stats) bool { return d.Forwarded == 1 && d.ConnMisses == 0 },
		"stateless-fragment":  func(d Stats) bool { return d.DropFragment == 1 },
		"established-tcp-vip": func(d Stats) bool { return d.ConnHits == 1 && d.Forwarded == 1 },
		"not-vip":             func(d Stats) bool { return d.PassNotVIP == 1 },
	}
	for _, path := range kbench.Paths() {
		t.Run(path.Name, func(t *testing.T) {
			p := mustLoadPath(t, path)
			tg, frame := benchTarget{p}, balancer.Encode(path.Packet, path.Payload)
			if err := kbench.Prime(tg, path); err != nil {
				t.Fatal(err)
			}
			if _, err := tg.Bench(frame, kbench.BenchOptions{Repeat: 1, Vary: path.Vary}); err != nil {
				t.Fatal(err)
			}
			before, _ := p.Stats()
			if _, err := tg.Bench(frame, kbench.BenchOptions{Repeat: 1, Vary: path.Vary}); err != nil {
				t.Fatal(err)
			}
			after, _ := p.Stats()
			d := statsDelta(after, before)
			if d.Packets != 1 || !want[path.Name](d) {
				t.Errorf("one packet moved %+v", d)
			}
		})
	}
}

// statsDelta returns a - b field by field.
func statsDelta(a, b Stats) Stats {
	return Stats{
		Packets: a.Packets - b.Packets, Forwarded: a.Forwarded - b.Forwarded,
		ConnHits: a.ConnHits - b.ConnHits, ConnMisses: a.ConnMisses - b.ConnMisses,
		FragHits: a.FragHits - b.FragHits, FragMisses: a.FragMisses - b.FragMisses,
		Orphans: a.Orphans - b.Orphans, HintHits: a.HintHits - b.HintHits,
		DropFragment: a.DropFragment - b.DropFragment, PassNotVIP: a.PassNotVIP - b.PassNotVIP,
		DropNoBackend: a.DropNoBackend - b.DropNoBackend,
	}
}

// TestCalibrate runs the calibration briefly (3 rounds) and prints the
// fitted prices. The way to re-derive cost.Calibrated() on another
// machine, with the committed figures' effort (three calibrations of 21
// rounds, a few seconds apart, pooled):
//
//	TITANLB_CALIBRATE_ROUNDS=21 TITANLB_CALIBRATE_RUNS=3 go test ./xdp -run 'TestCalibrate$' -v
//
// (TITANLB_CALIBRATE_REPEAT sets the iterations per call, default
// 20,000). It checks the arithmetic of every run: each path's net time
// lies within its rounds' range, Scaled is total net time over total
// default STU, and each prediction is the path's ops priced by the fitted
// model.
func TestCalibrate(t *testing.T) {
	mustLoad(t, Options{}) // skip or fail without privileges
	o := kbench.CalibrateOptions{Repeat: envInt(t, "TITANLB_CALIBRATE_REPEAT", 20_000), Rounds: envInt(t, "TITANLB_CALIBRATE_ROUNDS", 3)}
	var runs []kbench.Calibration
	for i := range max(1, envInt(t, "TITANLB_CALIBRATE_RUNS", 1)) {
		if i > 0 {
			time.Sleep(5 * time.Second)
		}
		c, err := kbench.Calibrate(o, loadTarget)
		if err != nil {
			t.Fatal(err)
		}
		checkCalibration(t, c)
		runs = append(runs, c)
	}
	c := kbench.Pool(runs)
	if files := os.Getenv("TITANLB_CALIBRATE_SAMPLE"); files != "" {
		// The pooled fit of cost.Calibrated(): these paths and the
		// side-by-side harness's (katranbench -sample, one file or
		// several, comma-separated, each run a term of the fit),
		// Katran's included, with their Titan/Katran ratios.
		pool := slices.Clone(c.Measurements)
		var ratios []kbench.Ratio
		for f := range strings.SplitSeq(files, ",") {
			s, err := kbench.ReadSample(f)
			if err != nil {
				t.Fatal(err)
			}
			pool, ratios = append(pool, s.Measurements...), append(ratios, s.Ratios...)
			t.Logf("pooled with %s (%s)", f, s.Source)
		}
		c.Model = kbench.FitRatios(pool, ratios)
		for _, m := range pool[len(c.Measurements):] {
			t.Logf("%-36s net %4d ns predicted %4d ns", m.Path.Name, m.Net, c.Model.Duration(m.Path.STU(c.Model)))
		}
		for _, r := range ratios {
			t.Logf("%-36s / %-28s measured %.2f predicted %.2f", r.Num.Path.Name, r.Den.Path.Name, float64(r.Num.Net)/float64(r.Den.Net),
				float64(c.Model.Duration(r.Num.Path.STU(c.Model)))/float64(c.Model.Duration(r.Den.Path.STU(c.Model))))
		}
	}
	for _, m := range c.Measurements {
		t.Logf("%-20s gross %4d ns net %4d ns (%d-%d) predicted %4d ns  %3d STU %.2f ns/STU",
			m.Path.Name, m.Gross, m.Net, m.Low, m.High, c.Model.Duration(m.Path.STU(c.Model)), m.STU, float64(m.Net)/float64(max(m.STU, 1)))
	}
	var scales []float64 // each run's single scale (kbench.Calibration.Scaled)
	for _, r := range runs {
		scales = append(scales, r.Scaled.NsPerSTU)
	}
	t.Logf("%d run(s) of %d rounds, wrapper %v; single scale %.2f ns/STU; fitted model, to paste into cost/calibrated.go:\n%+v", len(runs), o.Rounds, c.Wrapper, scales, c.Model)
}

// checkCalibration checks the arithmetic of one calibration.
func checkCalibration(t *testing.T, c kbench.Calibration) {
	t.Helper()
	var net, stu float64
	for _, m := range c.Measurements {
		if m.Gross <= 0 || m.Net < m.Low || m.Net > m.High || m.STU != m.Path.STU(cost.Default()) || len(m.Rounds) != c.Rounds || len(m.Wrappers) != c.Rounds {
			t.Errorf("%s: %+v (wrapper %v)", m.Path.Name, m, c.Wrapper)
		}
		if m.Predicted != c.Model.Duration(m.Path.STU(c.Model)) {
			t.Errorf("%s: predicted %v, model says %v", m.Path.Name, m.Predicted, c.Model.Duration(m.Path.STU(c.Model)))
		}
		net += float64(m.Net)
		stu += float64(m.STU)
	}
	if len(c.Measurements) != len(kbench.Paths()) || len(c.WrapperRounds) != c.Rounds {
		t.Errorf("%d measurements of %d paths, %d wrapper rounds of %d", len(c.Measurements), len(kbench.Paths()), len(c.WrapperRounds), c.Rounds)
	}
	if net > 0 && c.Scaled.NsPerSTU != net/stu {
		t.Errorf("Scaled.NsPerSTU %v, want %v", c.Scaled.NsPerSTU, net/stu)
	}
}

// envInt returns the integer in the environment variable name, or def
// when it is unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// TestCalibratedPredictsKernel measures every path in this machine's
// kernel (medians of 7 interleaved rounds after a warm-up) and checks
// that cost.Calibrated(), at this run's speed factor (the median of
// measured / predicted over the paths; logged, and required to be 1 under
// TITANLB_CALIBRATION_ABSOLUTE=1), predicts each one's net time within
// 25% or 12 ns, whichever is larger (the resolution of subtracting the
// wrapper's time); a path marked as work the cost model does not price
// exactly (Path.Fitted false; none is, since reads and writes are
// charged by kind) must cost between half and twice what its operations
// predict. Either kind of miss is measured again, as below.
//
// The machine is shared, and other work slows the kernel's paths by up to
// 1.7x (the write paths most), so an attempt that misses is measured
// again, up to three times, each attempt checking the medians of all
// rounds so far (7, 14, 21: a burst of other work that spoils one
// attempt's rounds is outvoted by the others').
//
// When every attempt misses, the prices may be another host's: kernels on
// other hosts price the kinds differently (Titan's new flow, stores into
// tables larger than the caches, has measured 0.63-1.06x its committed
// share against the other paths). So the last check allows the host its
// own prices within a band (kbench.Explain): prices fitted to this run's
// medians must predict every path, every path must lie within
// kbench.HostBand of the committed prediction at the run's speed (the
// band holds the new flow, whose stores the fit alone would price to any
// time), and the controls below must miss at the fitted prices. If all
// holds, the test skips, naming the speed factor and what the committed
// prices miss (re-derive them for this host with TestCalibrate);
// otherwise it fails under TITANLB_REQUIRE_CALIBRATION=1 (CI runs it so,
// alone, after the suite) and skips. A control that passes fails the
// test either way.
//
// The controls show the check has teeth: on measurements that pass, the
// single-scale model (cost.Default()'s prices at the fitted NsPerSTU) and
// the model without its store price, or with twice it, miss, even each
// at its own best speed factor. (Not half of it: the store's price moves
// between machines and loads, and a run that measured the new flow
// cheaply let half the price pass.)
func TestCalibratedPredictsKernel(t *testing.T) {
	mustLoad(t, Options{}) // skip or fail without privileges
	m := cost.Calibrated()
	var misses []string
	var k float64
	var runs []kbench.Calibration
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(2 * time.Second) // let a burst of other work pass
		}
		run, err := kbench.Calibrate(kbench.CalibrateOptions{Repeat: 20_000, Rounds: 7}, loadTarget)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
		c := kbench.Pool(runs)
		k = kbench.Speed(c, m)
		for _, ms := range c.Measurements {
			t.Logf("%-20s net %4d ns (%d-%d) predicted %4d ns", ms.Path.Name, ms.Net, ms.Low, ms.High, m.Duration(ms.Path.STU(m)))
		}
		// The check is on the model's shape, at this run's speed factor:
		// one number for how fast this machine runs right now, and the
		// relative prices of every path held within 25% of it. The
		// project's rule keeps wall-clock targets out of unit tests (the
		// machine is shared); TITANLB_CALIBRATION_ABSOLUTE=1 checks the
		// committed nanoseconds themselves, for a quiet machine.
		mk := kbench.Scaled(m, k)
		if os.Getenv("TITANLB_CALIBRATION_ABSOLUTE") == "1" {
			mk = m
		}
		misses = append(kbench.Misses(c, mk), kbench.OffModelMisses(c, mk)...)
		t.Logf("attempt %d (medians of %d rounds): speed factor %.2f, %d misses: %v", attempt+1, len(c.WrapperRounds), k, len(misses), misses)
		if len(misses) > 0 {
			continue
		}
		for _, ms := range c.Measurements {
			if !ms.Path.Fitted() {
				t.Logf("%s: %v more than predicted (uncharged: %q; overcharged: %q)", ms.Path.Name, ms.Net-mk.Duration(ms.Path.STU(m)), ms.Path.Uncharged, ms.Path.Overcharged)
			}
		}
		checkControls(t, c, m)
		return
	}
	load, _ := os.ReadFile("/proc/loadavg")
	c := kbench.Pool(runs)
	fit, unexplained := kbench.Explain(c, m)
	for _, ms := range c.Measurements {
		t.Logf("%-20s net %4d ns, at prices fitted here %4d ns", ms.Path.Name, ms.Net, fit.Duration(ms.Path.STU(fit)))
	}
	msg := fmt.Sprintf("cost.Calibrated() mispredicts this kernel in 3 attempts; the last ran at %.2fx the predicted time "+
		"(load average %s; far from 1: a busy or another machine, near 1: stale prices, re-derive them, see TestCalibrate): %v",
		k, strings.TrimSpace(string(load)), misses)
	if len(unexplained) == 0 {
		// Another host's prices: the operations still account for
		// every path, each within the host band, and the controls must
		// miss at this host's prices.
		checkControls(t, c, fit)
		t.Skip(msg + "; at prices fitted to this run every path is predicted, within the host band: this host prices the kinds differently")
	}
	// A timing miss fails only where the run is the machine's sole work:
	// .ci/run's calibration step sets TITANLB_REQUIRE_CALIBRATION=1 after
	// the test suite, whose packages otherwise run beside this one.
	report := t.Skip
	if os.Getenv("TITANLB_REQUIRE_CALIBRATION") == "1" {
		report = t.Fatal
	}
	report(fmt.Sprintf("%s; nor do prices fitted to this run, within the host band: %v", msg, unexplained))
}

// checkControls checks, on measurements m predicts, that models without
// m's distinctions miss them: cost.Default()'s single scale, and m without
// its store price or with twice it, each at its own best speed factor.
func checkControls(t *testing.T, c kbench.Calibration, m cost.Model) {
	t.Helper()
	if ctl := c.Scaled; len(kbench.Misses(c, kbench.Scaled(ctl, kbench.Speed(c, ctl)))) == 0 {
		t.Errorf("control: the default prices at %.2f ns/STU predict every path", ctl.NsPerSTU*kbench.Speed(c, ctl))
	}
	// The new-flow controls: Titan's program makes no map update
	// (its inserts are stores into sets, cost.OpStore; Katran's LRU
	// insert is checked through the harness, katranbench's
	// TestCalibratedPredictsKatran), so no store price, and twice
	// it, must miss the new flow. (The ring read's price, a sixth of
	// the new flow's here, is told apart through the harness, by
	// Katran's SYN under its flood limiter.)
	if stores := slices.ContainsFunc(c.Measurements, func(ms kbench.Measurement) bool {
		return ms.Path.Fitted() && ms.Path.Ops[cost.OpStore] > 0
	}); !stores {
		t.Error("control on the store price: no fitted path stores")
	} else {
		for _, store := range []cost.STU{0, 2 * m.Store} {
			off := m
			off.Store = store
			if len(kbench.Misses(c, kbench.Scaled(off, kbench.Speed(c, off)))) == 0 {
				t.Errorf("control: a store price of %d STU predicts every path", store)
			}
		}
	}
}
