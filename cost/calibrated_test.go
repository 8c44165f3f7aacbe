package cost

import (
	"math"
	"testing"
)

// ops is a path's operation counts by kind.
type ops struct{ hash, array, hashmap, lru, lruInsert, store, clock, encap, ring uint64 }

// calibrationPaths are the measurements Calibrated was fitted to, as
// docs/calibration.md lists them: each path's operations (what the
// program's Go model charges) and the kernel's net ns per packet
// (medians: Titan's paths of kbench over 63 rounds, both programs'
// through the side-by-side harness, the median of 4 runs' medians of 3
// runs of 21 rounds each).
var calibrationPaths = []struct {
	name string
	ops  ops
	ns   float64
}{
	{"katran established-tcp", ops{array: 8, hashmap: 1, lru: 1, encap: 1}, 63},
	{"katran established-udp", ops{array: 8, hashmap: 1, lru: 1, clock: 1, encap: 1}, 89.5},
	{"katran new-flow-tcp", ops{hash: 1, array: 11, ring: 1, hashmap: 1, lruInsert: 1, clock: 1, encap: 1}, 477},
	{"katran new-flow-tcp-flood", ops{hash: 1, array: 11, ring: 1, hashmap: 1, clock: 1, encap: 1}, 114.5},
	{"katran first-fragment", ops{array: 2}, 4},
	{"titan established-tcp", ops{hash: 1, array: 3, encap: 1}, 28},
	{"titan established-udp", ops{hash: 1, array: 3, encap: 1}, 28},
	{"titan new-flow-tcp", ops{hash: 2, array: 5, ring: 1, store: 2, encap: 1}, 206.5},
	{"titan first-fragment", ops{hash: 2, array: 4, encap: 1}, 35.5},
	{"titan non-first-fragment", ops{hash: 1, array: 3, encap: 1}, 24},
	{"titan-vip established-tcp", ops{hash: 1, array: 3, hashmap: 1, encap: 1}, 38},
	{"titan-vip established-udp", ops{hash: 1, array: 3, hashmap: 1, encap: 1}, 39},
	{"titan-vip new-flow-tcp", ops{hash: 2, array: 5, ring: 1, hashmap: 1, store: 2, encap: 1}, 212},
	{"kbench established-tcp", ops{hash: 1, array: 3, encap: 1}, 30},
	{"kbench new-flow-tcp", ops{hash: 2, array: 5, ring: 1, store: 2, encap: 1}, 217},
	{"kbench orphan-fragment", ops{hash: 1, array: 4, encap: 1}, 29},
	{"kbench stateless-fragment", ops{array: 1}, 5},
	{"kbench established-tcp-vip", ops{hash: 1, array: 3, hashmap: 1, encap: 1}, 42},
	{"kbench not-vip", ops{array: 1, hashmap: 1}, 11},
}

// calibrationRatios are Titan's paths over Katran's, by name in
// calibrationPaths, with the ratio measured within each harness run
// (the median over the 4 runs).
var calibrationRatios = []struct {
	num, den string
	measured float64
}{
	{"titan established-tcp", "katran established-tcp", 0.444},
	{"titan established-udp", "katran established-udp", 0.313},
	{"titan new-flow-tcp", "katran new-flow-tcp", 0.436},
	{"titan-vip established-tcp", "katran established-tcp", 0.603},
	{"titan-vip established-udp", "katran established-udp", 0.433},
	{"titan-vip new-flow-tcp", "katran new-flow-tcp", 0.445},
}

// predictNs meters o under m and converts the total to nanoseconds.
func predictNs(m Model, o ops) float64 {
	mt := NewMeter(m)
	for _, c := range []struct {
		op Op
		n  uint64
	}{{OpHash, o.hash}, {OpArrayRead, o.array}, {OpMapRead, o.hashmap}, {OpLRURead, o.lru},
		{OpLRUInsert, o.lruInsert}, {OpStore, o.store}, {OpClock, o.clock}, {OpEncap, o.encap}, {OpRingRead, o.ring}} {
		for range c.n {
			mt.Charge(c.op)
		}
	}
	return float64(m.Duration(mt.Total()))
}

// TestCalibratedPredictsItsMeasurements checks the committed prices
// against the committed measurements: every path within 25% or 12 ns
// (the resolution of subtracting the wrapper's time), every ratio within
// 10%. The live checks against this machine's kernel are xdp's
// TestCalibratedPredictsKernel and katranbench's
// TestCalibratedPredictsKatran.
func TestCalibratedPredictsItsMeasurements(t *testing.T) {
	m := Calibrated()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	pred := map[string]float64{}
	for _, p := range calibrationPaths {
		got := predictNs(m, p.ops)
		pred[p.name] = got
		if miss(got, p.ns) {
			t.Errorf("%s: predicted %.0f ns, measured %.0f ns", p.name, got, p.ns)
		}
	}
	for _, r := range calibrationRatios {
		if got := pred[r.num] / pred[r.den]; math.Abs(got-r.measured) > 0.1*r.measured {
			t.Errorf("%s / %s: predicted %.2f, measured %.2f", r.num, r.den, got, r.measured)
		}
	}
}

// TestDefaultMissesTheMeasurements is the control: the default prices
// at any single scale miss some path by more than 25%, so the check
// above can fail.
func TestDefaultMissesTheMeasurements(t *testing.T) {
	for _, scale := range []float64{0.1, 0.25, 0.5, 1, 1.12, 2, 4} {
		m := Default()
		m.NsPerSTU = scale
		misses := 0
		for _, p := range calibrationPaths {
			if miss(predictNs(m, p.ops), p.ns) {
				misses++
			}
		}
		if misses == 0 {
			t.Errorf("Default at %v ns/STU predicts every path", scale)
		}
	}
}

// miss reports whether predicted is off measured by more than 25% or
// 12 ns, whichever is larger.
func miss(predicted, measured float64) bool {
	return math.Abs(predicted-measured) > max(12, 0.25*measured)
}

func TestCalibratedPrices(t *testing.T) {
	m := Calibrated()
	// The shape the measurements show: an inlined ARRAY read is the
	// cheapest read, then a hash-map lookup, then an LRU lookup; an LRU
	// insert costs an order of magnitude more than any read, and a
	// store into a random set and a new flow's ring slot (cache misses)
	// several array reads.
	if !(m.ArrayRead < m.MapRead && m.MapRead < m.LRURead && 10*m.LRURead < m.LRUInsert && 10*m.ArrayRead < m.Store && 10*m.ArrayRead < m.RingRead) {
		t.Errorf("prices %+v: want array < hash map < LRU read, an LRU insert above 10 LRU reads, a store and a ring read above 10 array reads", m)
	}
	if m.MapWrite != m.LRUInsert {
		t.Errorf("map write %d, LRU insert %d: want an unmeasured hash-map update priced as the insert", m.MapWrite, m.LRUInsert)
	}
	if m.TailCall != m.MapRead || m.Rewrite != m.MapRead/2 {
		t.Errorf("tail call %d, rewrite %d: want Default's ratios to a read (%d)", m.TailCall, m.Rewrite, m.MapRead)
	}
	for op := Op(0); op < NumOps; op++ {
		if m.Cost(op) == 0 {
			t.Errorf("%v is free", op)
		}
	}
}

func TestNanoseconds(t *testing.T) {
	for _, tc := range []struct {
		m    Model
		stu  float64
		want float64
	}{
		{Model{}, 110.5, 110.5},
		{Default(), 110, 110},
		{Calibrated(), 443, 44.3},
		{Model{NsPerSTU: 2.5}, 4, 10},
	} {
		if got := tc.m.Nanoseconds(tc.stu); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%+v.Nanoseconds(%v) = %v, want %v", tc.m, tc.stu, got, tc.want)
		}
	}
}
