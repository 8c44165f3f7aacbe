package sim

import (
	"container/heap"

	"math/rand/v2"
	"slices"
	"testing"
)

func TestSchedulerOrderAndFIFO(t *testing.T) {
	s := NewScheduler()
	var got []int
	add := func(at Time, id int) { s.At(at, func() { got = append(got, id) }) }
	add(30, 1)
	add(10, 2)
	add(30, 3)
	add(20, 4)
	add(10, 5)
	add(0, 6)
	if s.Len() != 6 {
		t.Fatalf("Len = %d, want 6", s.Len())
	}
	if at, ok := s.Peek(); !ok || at != 0 {
		t.Fatalf("Peek = %v, %v; want 0, true", at, ok)
	}
	s.Run(25)
	if want := []int{6, 2, 5, 4}; !slices.Equal(got, want) {
		t.Fatalf("after Run(25) order %v, want %v", got, want)
	}
	if s.Now() != 25 {
		t.Errorf("Now after Run(25) = %v, want 25", s.Now())
	}
	// An event in the past runs at Now, after those already due at Now.
	add(5, 7)
	s.Drain()
	if want := []int{6, 2, 5, 4, 7, 1, 3}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if s.Len() != 0 || s.Now() != 30 {
		t.Errorf("after Drain Len %d Now %v, want 0, 30", s.Len(), s.Now())
	}
	if s.Step() {
		t.Error("Step on an empty scheduler reported an event")
	}
}

func TestSchedulerEventsScheduleEvents(t *testing.T) {
	var s Scheduler // the zero value is usable
	var times []Time
	var tick func()
	tick = func() {
		times = append(times, s.Now())
		if len(times) < 5 {
			s.After(7, tick)
		}
	}
	s.At(3, tick)
	s.After(-4, func() { times = append(times, -1) }) // negative delay: now
	s.Run(100)
	if want := []Time{-1, 3, 10, 17, 24}; !slices.Equal(times, want) {
		t.Fatalf("times %v, want %v", times, want)
	}
	if s.Now() != 100 {
		t.Errorf("Now = %v, want 100", s.Now())
	}
}

func TestSchedulerPost(t *testing.T) {
	s := NewScheduler()
	var got []uint32
	h := s.Handle(func(arg uint32) { got = append(got, arg) })
	s.Post(20, h, 2)
	s.Post(10, h, 1)
	s.PostAfter(20, h, 3)
	s.Post(5, 0, 9)   // no such handler: ignored
	s.Post(5, h+1, 9) // no such handler: ignored
	s.At(15, nil)     // nil: ignored
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3", s.Len())
	}
	s.Drain()
	if want := []uint32{1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestSchedulerMatchesReference drives the scheduler with random pushes and
// pops and compares every pop with a sorted reference ordered by
// (time, sequence).
// A push share near one half keeps the queue around the small array's
// size, so that it moves between the array and the radix heap often.
func TestSchedulerMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		spread int64
		push   int // percent of operations that push when the queue is not empty
	}{{1, 67}, {10, 67}, {1000, 67}, {1 << 40, 67}, {10, 50}, {1000, 50}, {1 << 40, 50}} {
		spread := tc.spread
		rng := rand.New(rand.NewPCG(uint64(spread), uint64(tc.push)))
		s := NewScheduler()
		type ref struct {
			at  Time
			seq uint32
		}
		var pending []ref
		var seq uint32
		var popped []uint32
		h := s.Handle(func(arg uint32) { popped = append(popped, arg) })
		var wasBig bool
		switches := 0 // between the small array and the radix heap
		for range 20000 {
			if big := s.big > 0; big != wasBig {
				switches++
				wasBig = big
			}
			if rng.IntN(100) < tc.push || len(pending) == 0 {
				at := s.Now() + Time(rng.Int64N(spread))
				s.Post(at, h, seq)
				pending = append(pending, ref{at, seq})
				seq++
				continue
			}
			if rng.IntN(4) == 0 { // Run to a random time: may peek past Now
				until := s.Now() + Time(rng.Int64N(spread))
				slices.SortStableFunc(pending, func(a, b ref) int {
					if a.at != b.at {
						return int(a.at - b.at)
					}
					return int(a.seq) - int(b.seq)
				})
				var want []uint32
				for len(pending) > 0 && pending[0].at <= until {
					want = append(want, pending[0].seq)
					pending = pending[1:]
				}
				popped = popped[:0]
				s.Run(until)
				if !slices.Equal(popped, want) || s.Now() != max(until, s.Now()) {
					t.Fatalf("spread %d: Run(%v) ran %v, want %v", spread, until, popped, want)
				}
				continue
			}
			i := 0
			for j, p := range pending {
				if p.at < pending[i].at || (p.at == pending[i].at && p.seq < pending[i].seq) {
					i = j
				}
			}
			want := pending[i]
			pending = slices.Delete(pending, i, i+1)
			if at, ok := s.Peek(); !ok || at != want.at {
				t.Fatalf("spread %d: Peek = %v, %v; want %v", spread, at, ok, want.at)
			}
			popped = popped[:0]
			s.Step()
			if len(popped) != 1 || popped[0] != want.seq || s.Now() != want.at {
				t.Fatalf("spread %d: popped %v at %v, want seq %d at %v", spread, popped, s.Now(), want.seq, want.at)
			}
			if s.Len() != len(pending) {
				t.Fatalf("Len %d, want %d", s.Len(), len(pending))
			}
		}
		if switches < 2 {
			t.Errorf("spread %d, push %d%%: the queue switched modes %d times, want at least 2", spread, tc.push, switches)
		}
	}
}

func TestSchedulerNoAllocs(t *testing.T) {
	s := NewScheduler()
	rng := rand.New(rand.NewPCG(1, 2))
	var h HandlerID
	h = s.Handle(func(uint32) { s.PostAfter(Time(rng.Int64N(1000)), h, 0) })
	fn := func() {}
	for i := range 1000 {
		s.Post(Time(i), h, 0)
		s.At(Time(i), fn)
	}
	for range 10000 { // reach the working size
		s.Step()
		s.After(Time(rng.Int64N(1000)), fn)
	}
	allocs := testing.AllocsPerRun(10000, func() {
		s.Step()
		s.After(Time(rng.Int64N(1000)), fn)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event, want 0", allocs)
	}
}

// expTable holds exponential(1) samples scaled to a mean of 1 s, shared by
// the hold benchmarks so that both queues see the same delays. With 1e6
// events pending they are about 1 µs apart: ties at the nanosecond
// resolution of Time stay rare, as in the continuous-time hold model.
var expTable = func() []Time {
	rng := rand.New(rand.NewPCG(42, 42))
	t := make([]Time, 1<<16)
	for i := range t {
		t[i] = Time(rng.ExpFloat64()*1e9) + 1
	}
	return t
}()

var holdSizes = []struct {
	name string
	n    int
}{{"1e3", 1e3}, {"1e5", 1e5}, {"1e6", 1e6}}

// BenchmarkHold is the classic hold model: with n events pending, pop the
// earliest and push one at now + Exp(1). One op is one event; events/s is
// reported. For each n it runs, one after the other so that they see the
// same machine load, the Scheduler with typed events (Post), with func
// events (At), and the baseline: container/heap over value events boxed in
// interfaces.
func BenchmarkHold(b *testing.B) {
	for _, sz := range holdSizes {
		b.Run(sz.name+"/typed", func(b *testing.B) { holdTyped(b, sz.n) })
		b.Run(sz.name+"/func", func(b *testing.B) { holdFunc(b, sz.n) })
		b.Run(sz.name+"/containerheap", func(b *testing.B) { holdContainerHeap(b, sz.n) })
	}
}

func holdTyped(b *testing.B, n int) {
	s := NewScheduler()
	var k uint32
	var h HandlerID
	h = s.Handle(func(uint32) {
		k++
		s.PostAfter(expTable[k&0xffff], h, 0)
	})
	for range n {
		k++
		s.Post(expTable[k&0xffff], h, 0)
	}
	benchSteady(b, s, n)
}

func holdFunc(b *testing.B, n int) {
	s := NewScheduler()
	var k uint32
	var fn func()
	fn = func() {
		k++
		s.After(expTable[k&0xffff], fn)
	}
	for range n {
		k++
		s.At(expTable[k&0xffff], fn)
	}
	benchSteady(b, s, n)
}

// benchSteady steps s n times, to the steady state of its hold model,
// then measures Step, reported as events/s.
func benchSteady(b *testing.B, s *Scheduler, n int) {
	for range n {
		s.Step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.Step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// baseEvent and baseHeap are the baseline: container/heap over value
// events, boxed in interfaces by heap.Push and heap.Pop.
type baseEvent struct {
	at  Time
	seq uint64
	fn  func()
}

type baseHeap []baseEvent

func (h baseHeap) Len() int { return len(h) }
func (h baseHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || (h[i].at == h[j].at && h[i].seq < h[j].seq)
}
func (h baseHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *baseHeap) Push(x any)   { *h = append(*h, x.(baseEvent)) }
func (h *baseHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func holdContainerHeap(b *testing.B, n int) {
	var h baseHeap
	var now Time
	var seq uint64
	var k uint32
	var fn func()
	fn = func() {
		k++
		seq++
		heap.Push(&h, baseEvent{at: now + expTable[k&0xffff], seq: seq, fn: fn})
	}
	for range n {
		k++
		seq++
		heap.Push(&h, baseEvent{at: expTable[k&0xffff], seq: seq, fn: fn})
	}
	step := func() {
		ev := heap.Pop(&h).(baseEvent)
		now = ev.at
		ev.fn()
	}
	for range n {
		step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
