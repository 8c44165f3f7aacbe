package maglev

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
)

func equalEntries(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Name: fmt.Sprint(100 + i), Weight: 1}
	}
	return es
}

func TestEveryslotFilledAndBalanced(t *testing.T) {
	for _, tc := range []struct {
		n        int
		maxRatio float64
	}{{3, 1.002}, {100, 1.002}, {1000, 1.01}} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			tb, err := New(equalEntries(tc.n), 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tb.Slots() {
				if s < 0 || int(s) >= tc.n {
					t.Fatalf("slot %d = %d", i, s)
				}
			}
			counts := tb.Counts()
			mx := 0
			for _, c := range counts {
				mx = max(mx, c)
			}
			ratio := float64(mx) / (float64(DefaultSize) / float64(tc.n))
			t.Logf("N=%d max/mean %.5f", tc.n, ratio)
			if ratio > tc.maxRatio {
				t.Errorf("imbalance max/mean = %.5f, want <= %v", ratio, tc.maxRatio)
			}
		})
	}
}

func TestDisruptionOnRemoval(t *testing.T) {
	es := equalEntries(100)
	before, err := New(es, 0)
	if err != nil {
		t.Fatal(err)
	}
	removed := es[42].Name
	after, err := New(append(append([]Entry(nil), es[:42]...), es[43:]...), 0)
	if err != nil {
		t.Fatal(err)
	}
	own, extra := 0, 0
	for i := range before.Slots() {
		b, a := before.Owner(i), after.Owner(i)
		switch {
		case b == removed:
			own++
		case a != b:
			extra++
		}
	}
	share := float64(extra) / float64(DefaultSize)
	t.Logf("removed backend owned %d slots; %d others moved (%.3f%%); Disruption %.4f", own, extra, 100*share, Disruption(before, after))
	if share > 0.01 {
		t.Errorf("%.3f%% of slots moved beyond the removed backend's own, want <= 1%%", 100*share)
	}
	if d := Disruption(before, after); math.Abs(d-float64(own+extra)/DefaultSize) > 1e-12 {
		t.Errorf("Disruption = %v, want %v", d, float64(own+extra)/DefaultSize)
	}
	if Disruption(before, before) != 0 {
		t.Error("a table differs from itself")
	}
}

func TestWeights(t *testing.T) {
	es := []Entry{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 0}, {"e", 10}}
	tb, err := New(es, 0)
	if err != nil {
		t.Fatal(err)
	}
	sum := 16.0
	for i, c := range tb.Counts() {
		want := float64(es[i].Weight) / sum * DefaultSize
		if es[i].Weight == 0 {
			if c != 0 {
				t.Errorf("weight-0 entry %s owns %d slots", es[i].Name, c)
			}
			continue
		}
		if math.Abs(float64(c)-want)/want > 0.01 {
			t.Errorf("%s (weight %d) owns %d slots, want %.0f ±1%%", es[i].Name, es[i].Weight, c, want)
		}
	}
}

func TestAllZeroWeights(t *testing.T) {
	tb, err := New([]Entry{{"a", 0}, {"b", 0}}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Lookup(12345) != -1 {
		t.Error("lookup in an all-zero table did not return -1")
	}
}

func TestLookupIsSlotOfHashModM(t *testing.T) {
	for _, m := range []uint64{2, 3, 251, 16381, 65537, 1000003} {
		tb, err := New(equalEntries(2), m)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []uint32{0, 1, uint32(m - 1), uint32(m), 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xdeadbeef} {
			if got, want := tb.Lookup(h), int(tb.Slots()[uint64(h)%m]); got != want {
				t.Errorf("M=%d Lookup(%#x) = %d, want slot %d", m, h, got, want)
			}
		}
		for h := uint32(0); h < 100000; h += 7 {
			if tb.Lookup(h*2654435761) != int(tb.Slots()[uint64(h*2654435761)%m]) {
				t.Fatalf("M=%d mismatch at %#x", m, h*2654435761)
			}
		}
	}
}

func TestMatchesPaperLoop(t *testing.T) {
	weighted := []Entry{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 0}, {"e", 10}}
	for _, tc := range []struct {
		name string
		es   []Entry
		m    uint64
	}{
		{"N=1", equalEntries(1), 7},
		{"N=3 M=7", equalEntries(3), 7},
		{"N=37", equalEntries(37), 65537},
		{"N=100 M=251", equalEntries(100), 251},
		{"N=300", equalEntries(300), 65537},
		{"N=1000 M=1009", equalEntries(1000), 1009},
		{"N=100 M=655373", equalEntries(100), 655373},
		{"weighted", weighted, 65537},
		{"weighted M=13", weighted, 13},
		{"equal with a 0", append(equalEntries(5), Entry{"z", 0}), 65537},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := New(tc.es, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			ref := paperLoop(tc.es, tc.m)
			for i := range ref {
				if ref[i] != tb.Slots()[i] {
					t.Fatalf("slot %d: %d, paper's loop gives %d", i, tb.Slots()[i], ref[i])
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []Entry
		size    uint64
		err     error
	}{
		{"empty", nil, 0, ErrNoEntries},
		{"duplicate", []Entry{{"a", 1}, {"a", 1}}, 0, ErrDuplicateName},
		{"empty name", []Entry{{"", 1}}, 0, ErrEmptyName},
		{"not prime", equalEntries(3), 65536, ErrSizeNotPrime},
		{"one", equalEntries(1), 1, ErrSizeNotPrime},
		{"too small", equalEntries(10), 7, ErrSizeTooSmall},
		{"too large", equalEntries(3), MaxSize + 43, ErrSizeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.entries, tc.size)
			if !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestLookupNoAlloc(t *testing.T) {
	tb, _ := New(equalEntries(3), 0)
	h := uint32(1)
	if n := testing.AllocsPerRun(1000, func() { h += uint32(tb.Lookup(h)) + 7 }); n != 0 {
		t.Errorf("Lookup allocates %v", n)
	}
}

// paperLoop is the straightforward population of the paper's Pseudocode 1:
// permutation computed on the fly with a division per probe, extended to
// weights as the package doc says (each round an entry earns its weight in
// credit and claims a slot per maxWeight of credit).
func paperLoop(es []Entry, m uint64) []int32 {
	offset := make([]uint64, len(es))
	skip := make([]uint64, len(es))
	next := make([]uint64, len(es))
	credit := make([]uint64, len(es))
	maxW := uint64(0)
	for i, e := range es {
		o, s := permutation(e.Name, uint32(m))
		offset[i], skip[i] = uint64(o), uint64(s)
		maxW = max(maxW, uint64(e.Weight))
	}
	entry := make([]int32, m)
	for i := range entry {
		entry[i] = -1
	}
	if maxW == 0 {
		return entry
	}
	n := uint64(0)
	for {
		for i := range es {
			credit[i] += uint64(es[i].Weight)
			for ; credit[i] >= maxW; credit[i] -= maxW {
				c := (offset[i] + next[i]*skip[i]) % m
				for entry[c] >= 0 {
					next[i]++
					c = (offset[i] + next[i]*skip[i]) % m
				}
				entry[c] = int32(i)
				next[i]++
				n++
				if n == m {
					return entry
				}
			}
		}
	}
}

func TestMatchesGoMaglev(t *testing.T) {
	for _, tc := range []struct {
		n int
		m uint64
	}{{1, 7}, {3, 65537}, {100, 65537}, {1000, 65537}, {100, 655373}} {
		es := equalEntries(tc.n)
		tb, err := New(es, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		ref := newGoMaglev(es, tc.m)
		for i := range ref {
			if int(tb.Slots()[i]) != ref[i] {
				t.Fatalf("N=%d M=%d slot %d: %d, go-maglev's loop gives %d", tc.n, tc.m, i, tb.Slots()[i], ref[i])
			}
		}
	}
}

// BenchmarkNew builds tables with [New] and, alternately in the same loop,
// with go-maglev's population loop (gomaglev_test.go, the baseline). It
// reports the median of each: ns/op and gomaglev-ns/op in wall time,
// cpu-ns/op and gomaglev-cpu-ns/op in the thread's CPU time, which a
// shared machine's other work does not inflate, and speedup, go-maglev's
// CPU time over New's.
func BenchmarkNew(b *testing.B) {
	for _, tc := range []struct {
		n int
		m uint64
	}{{3, 65537}, {100, 65537}, {1000, 65537}, {100, 655373}, {1000, 655373}} {
		es := equalEntries(tc.n)
		b.Run(fmt.Sprintf("M=%d/N=%d", tc.m, tc.n), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var wall, cpu [2][]time.Duration // New, go-maglev
			for b.Loop() {
				for i, build := range []func(){
					func() {
						if _, err := New(es, tc.m); err != nil {
							b.Fatal(err)
						}
					},
					func() { newGoMaglev(es, tc.m) },
				} {
					t, c := time.Now(), threadCPU()
					build()
					cpu[i] = append(cpu[i], threadCPU()-c)
					wall[i] = append(wall[i], time.Since(t))
				}
			}
			b.ReportMetric(float64(medianDuration(wall[0])), "ns/op")
			b.ReportMetric(float64(medianDuration(wall[1])), "gomaglev-ns/op")
			b.ReportMetric(float64(medianDuration(cpu[0])), "cpu-ns/op")
			b.ReportMetric(float64(medianDuration(cpu[1])), "gomaglev-cpu-ns/op")
			b.ReportMetric(float64(medianDuration(cpu[1]))/float64(medianDuration(cpu[0])), "speedup")
		})
	}
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func BenchmarkLookup(b *testing.B) {
	tb, _ := New(equalEntries(100), 0)
	h, sink := uint32(0), 0
	b.ReportAllocs()
	for b.Loop() {
		sink += tb.Lookup(h)
		h += 0x9e3779b9
	}
	_ = sink
}

// BenchmarkLookupModulo is the baseline for BenchmarkLookup: a plain %.
func BenchmarkLookupModulo(b *testing.B) {
	tb, _ := New(equalEntries(100), 0)
	slots, m := tb.Slots(), uint32(tb.Size())
	h, sink := uint32(0), 0
	b.ReportAllocs()
	for b.Loop() {
		sink += int(slots[h%m])
		h += 0x9e3779b9
	}
	_ = sink
}
