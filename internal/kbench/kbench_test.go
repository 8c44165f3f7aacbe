package kbench_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/kbench"
	"github.com/titanlb/titanlb/internal/testutil"
)

// TestPathOpsMatchModel checks each path's operation counts against what
// balancer/titan charges for the same packets: the calibration prices the
// model's operations, so the two must count alike.
func TestPathOpsMatchModel(t *testing.T) {
	for _, path := range kbench.Paths() {
		if path.Stateless || len(path.VIPs) > 0 {
			continue // titan has neither a stateless variant nor VIPs
		}
		t.Run(path.Name, func(t *testing.T) {
			m, err := titan.New(titan.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetBackends(testutil.Backends(3)); err != nil {
				t.Fatal(err)
			}
			env := &balancer.Env{}
			for _, pk := range path.Prime {
				m.Process(env, &pk)
			}
			pk := path.Packet
			// The wrapper's variation: a new source, a new IP ID.
			switch path.Vary {
			case kbench.VaryFlow:
				pk.Src = pk.Src.Next()
			case kbench.VaryDatagram:
				pk.IPID++
			}
			env.Meter = cost.NewMeter(cost.Default())
			if d := m.Process(env, &pk); d.Action != balancer.Forward {
				t.Fatalf("model: %+v", d)
			}
			for op := range cost.NumOps {
				if got := env.Meter.Count(op); got != path.Ops[op] {
					t.Errorf("%v: model charges %d, path says %d", op, got, path.Ops[op])
				}
			}
			if env.Meter.Total() != path.STU(cost.Default()) {
				t.Errorf("model %d STU, path %d", env.Meter.Total(), path.STU(cost.Default()))
			}
		})
	}
}

// TestFitModel checks the fit without a kernel: times made from known
// prices give those prices back, and a price the data would make
// negative is 0 instead.
func TestFitModel(t *testing.T) {
	ns := [cost.NumOps]time.Duration{cost.OpHash: 2, cost.OpArrayRead: 1, cost.OpMapRead: 6, cost.OpLRURead: 30,
		cost.OpLRUInsert: 500, cost.OpStore: 90, cost.OpClock: 25, cost.OpEncap: 17, cost.OpRingRead: 35}
	// Titan's paths perform no LRU operation and read no clock: Katran's
	// do, which gives the fit their prices to find.
	katran := []kbench.Path{
		{Name: "katran-established-tcp", Ops: kbench.Ops{ArrayRead: 8, MapRead: 1, LRURead: 1, Encap: 1}.Vector()},
		{Name: "katran-established-udp", Ops: kbench.Ops{ArrayRead: 8, MapRead: 1, LRURead: 1, Clock: 1, Encap: 1}.Vector()},
		{Name: "katran-new-flow", Ops: kbench.Ops{Hash: 1, ArrayRead: 11, RingRead: 1, MapRead: 1, LRUInsert: 1, Clock: 1, Encap: 1}.Vector()},
		{Name: "katran-flood", Ops: kbench.Ops{Hash: 1, ArrayRead: 11, RingRead: 1, MapRead: 1, Clock: 1, Encap: 1}.Vector()},
	}
	measure := func(hashDelta time.Duration) []kbench.Measurement {
		var ms []kbench.Measurement
		for _, p := range append(kbench.Paths(), katran...) {
			var d time.Duration
			for op, n := range p.Ops {
				d += time.Duration(n) * ns[op]
			}
			d += time.Duration(p.Ops[cost.OpHash]) * hashDelta
			ms = append(ms, kbench.Measurement{Path: p, Net: d})
		}
		return ms
	}
	m := kbench.FitModel(measure(0))
	want := cost.Model{Hash: 20, ArrayRead: 10, MapRead: 60, LRURead: 300, LRUInsert: 5000, Store: 900, Clock: 250, Encap: 170, RingRead: 350,
		TailCall: 60, Rewrite: 30, MapWrite: 5000, NsPerSTU: kbench.CalibratedNsPerSTU}
	if m != want {
		t.Errorf("fit %+v, want %+v", m, want)
	}
	for _, ms := range measure(0) {
		if got := m.Duration(ms.Path.STU(m)); got != ms.Net {
			t.Errorf("%s: fitted model says %v, made %v", ms.Path.Name, got, ms.Net)
		}
	}
	// Each hash 5 ns cheaper: the least-squares hash price would be
	// negative.
	if m := kbench.FitModel(measure(-5)); m.Hash != 0 || m.ArrayRead == 0 || m.LRUInsert == 0 {
		t.Errorf("fit with a negative hash: %+v", m)
	}
	// A path with uncharged work or overcharged operations is left out:
	// making it dearer or cheaper changes nothing.
	ms := measure(0)
	ms[3].Path.Uncharged, ms[3].Net = "extra work", ms[3].Net+500
	if got := kbench.FitModel(ms); got != kbench.FitModel(slices.Delete(slices.Clone(ms), 3, 4)) {
		t.Errorf("an uncharged path moved the fit to %+v", got)
	}
	ms = measure(0)
	ms[3].Path.Overcharged, ms[3].Net = "cheap reads", ms[3].Net/3
	if got := kbench.FitModel(ms); got != kbench.FitModel(slices.Delete(slices.Clone(ms), 3, 4)) {
		t.Errorf("an overcharged path moved the fit to %+v", got)
	}
	if m := kbench.FitModel(nil); m.ArrayRead != 0 || m.NsPerSTU != kbench.CalibratedNsPerSTU {
		t.Errorf("fit of nothing: %+v", m)
	}
}

// TestCalibrateRejectsNegatives checks the options are validated before
// any program is loaded.
func TestCalibrateRejectsNegatives(t *testing.T) {
	load := func(kbench.Path, int, []balancer.Backend) (kbench.Target, error) {
		t.Fatal("loaded a program")
		return nil, nil
	}
	for _, o := range []kbench.CalibrateOptions{{Repeat: -1}, {Rounds: -2}} {
		if _, err := kbench.Calibrate(o, load); !errors.Is(err, titan.ErrNegative) {
			t.Errorf("%+v: %v, want ErrNegative", o, err)
		}
	}
}

// TestCalibratedModel checks the single-scale model keeps the default
// prices and scales them to a plausible time.
func TestCalibratedModel(t *testing.T) {
	m := kbench.CalibratedModel()
	d := cost.Default()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.Hash != d.Hash || m.MapRead != d.MapRead || m.MapWrite != d.MapWrite || m.Encap != d.Encap {
		t.Errorf("calibrated prices %+v differ from the default %+v", m, d)
	}
	// Established TCP: 110 STU, measured 30-65 ns net; new flow 250 STU,
	// about 590 ns: the mean lies between.
	if est := m.Duration(110); est < 30 || est > 600 {
		t.Errorf("110 STU = %v", est)
	}
}

// TestMedianAndPool checks the statistics the calibration is built on:
// the median of an odd and an even count, and that pooling runs takes each
// path's medians over all their rounds.
func TestMedianAndPool(t *testing.T) {
	if m := kbench.Median([]time.Duration{5, 1, 3}); m != 3 {
		t.Errorf("median of 5, 1, 3: %v", m)
	}
	if m := kbench.Median([]time.Duration{4, 1, 3, 2}); m != 2 { // (2+3)/2, rounded down
		t.Errorf("median of 4, 1, 3, 2: %v", m)
	}
	if m := kbench.Median(nil); m != 0 {
		t.Errorf("median of nothing: %v", m)
	}
	path := kbench.Paths()[0]
	run := func(gross, wrapper []time.Duration) kbench.Calibration {
		return kbench.Calibration{Rounds: len(gross), WrapperRounds: wrapper,
			Measurements: []kbench.Measurement{{Path: path, Rounds: gross, Wrappers: wrapper}}}
	}
	c := kbench.Pool([]kbench.Calibration{run([]time.Duration{50, 60}, []time.Duration{10, 20}), run([]time.Duration{70}, []time.Duration{10})})
	m := c.Measurements[0]
	if c.Rounds != 3 || c.Wrapper != 10 || m.Gross != 60 || m.Net != 40 || m.Low != 40 || m.High != 60 { // nets 40, 40, 60
		t.Errorf("pooled %+v, measurement %+v", c, m)
	}
	// The pooled medians' single scale and fit, as Calibrate derives
	// them (TestCalibratedPredictsKernel's control prices the pool).
	def := cost.Default()
	if stu := path.STU(def); m.STU != stu || c.Scaled.NsPerSTU != 40/float64(stu) || c.Scaled.Hash != def.Hash {
		t.Errorf("pooled STU %d (want %d), single scale %+v", m.STU, stu, c.Scaled)
	}
	if m.Predicted != c.Model.Duration(path.STU(c.Model)) || m.Predicted < 39 || m.Predicted > 41 {
		t.Errorf("pooled prediction %v by the pooled fit %+v, want 40ns", m.Predicted, c.Model)
	}
}

// TestMisses checks the prediction check: a model that predicts a path
// within 25% passes it, one that is off by more names it, and a path left
// out of the fit is judged by OffModelMisses instead.
func TestMisses(t *testing.T) {
	m := cost.Calibrated()
	var ms []kbench.Measurement
	for _, p := range kbench.Paths() {
		ms = append(ms, kbench.Measurement{Path: p, Net: m.Duration(p.STU(m))})
	}
	c := kbench.Calibration{Measurements: ms}
	if got := kbench.Misses(c, m); len(got) != 0 {
		t.Errorf("exact predictions miss: %v", got)
	}
	if got := kbench.OffModelMisses(c, m); len(got) != 0 {
		t.Errorf("exact predictions miss off the model: %v", got)
	}
	if k := kbench.Speed(c, m); k != 1 {
		t.Errorf("speed of exact predictions %v", k)
	}
	slow := kbench.Scaled(m, 2) // every path twice as dear as measured
	if got := kbench.Misses(c, slow); len(got) == 0 {
		t.Error("a model off by 2x predicts every path")
	}
	if k := kbench.Speed(c, slow); k < 0.48 || k > 0.52 { // durations round to whole ns
		t.Errorf("speed against a model 2x dear: %v, want about 0.5", k)
	}
}

// TestExplain checks the host-independent check: on a host whose stores
// cost half the committed price, cost.Calibrated() misses the new flow,
// but the paths' operations explain every time at the host's own prices
// (each fitted path to the nanosecond); work no operation accounts for,
// on one of two paths with the same operations, is missed at any prices;
// and a new flow far from its committed share, which the fit alone
// would explain (its stores are its own), is outside the host band.
func TestExplain(t *testing.T) {
	m := cost.Calibrated()
	measure := func(model cost.Model) kbench.Calibration {
		var c kbench.Calibration
		for _, p := range kbench.Paths() {
			c.Measurements = append(c.Measurements, kbench.Measurement{Path: p, Net: model.Duration(p.STU(model))})
		}
		return c
	}
	host := m
	host.Store /= 2
	c := measure(host)
	if got := kbench.Misses(c, kbench.Scaled(m, kbench.Speed(c, m))); len(got) == 0 {
		t.Fatal("the committed prices predict a host whose stores cost half: the case below tests nothing")
	}
	fit, misses := kbench.Explain(c, m)
	if len(misses) != 0 {
		t.Errorf("half-price stores: misses %v", misses)
	}
	for _, ms := range c.Measurements {
		if got := fit.Duration(ms.Path.STU(fit)); ms.Path.Fitted() && (got < ms.Net-time.Nanosecond || got > ms.Net+time.Nanosecond) {
			t.Errorf("%s: the fit at this host's prices says %v, measured %v", ms.Path.Name, got, ms.Net)
		}
	}
	c = measure(m)
	for i, ms := range c.Measurements {
		if ms.Path.Name == "established-udp" {
			c.Measurements[i].Net += 40 * time.Nanosecond
		}
	}
	if _, misses := kbench.Explain(c, m); !slices.ContainsFunc(misses, func(s string) bool { return strings.HasPrefix(s, "established-udp:") }) {
		t.Errorf("40 ns of unpriced work on established-udp: misses %v", misses)
	}
	for _, k := range []float64{0.4, 1.6, 3} {
		c := measure(m)
		for i, ms := range c.Measurements {
			if ms.Path.Name == "new-flow-tcp" {
				c.Measurements[i].Net = time.Duration(k * float64(ms.Net))
			}
		}
		if _, misses := kbench.Explain(c, m); len(misses) != 1 || !strings.HasPrefix(misses[0], "new-flow-tcp:") {
			t.Errorf("the new flow at %vx its committed time: misses %v, want the new flow alone", k, misses)
		}
	}
}
