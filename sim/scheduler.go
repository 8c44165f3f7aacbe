package sim

import (
	"math/bits"
	"slices"
	"time"
)

// Time is simulated time since the start of a run.
type Time = time.Duration

// HandlerID names a handler registered with [Scheduler.Handle]. The zero
// HandlerID names no handler.
type HandlerID uint32

// item is one pending event: 16 bytes, stored by value. kind 0 is a func
// event (arg indexes Scheduler.fns); kind k > 0 calls handlers[k-1](arg).
type item struct {
	at   uint64
	kind uint32
	arg  uint32
}

// smallCap is the most events the small sorted array holds (see
// [Scheduler], Implementation).
const smallCap = 16

// numBuckets is the number of radix buckets: bucket 0 holds events at the
// last popped time, bucket b (1..64) those whose time differs from it first
// in bit b-1.
const numBuckets = 65

// Scheduler is a discrete-event scheduler: a priority queue of events over
// simulated [Time], ordered by (time, insertion sequence), so that events at
// the same time run first in, first out and a run is deterministic.
//
// Events are either plain functions ([Scheduler.At], [Scheduler.After]) or
// typed events ([Scheduler.Post]): a [HandlerID] registered once with
// [Scheduler.Handle] and a uint32 argument, typically an index into the
// caller's own table. Neither kind allocates per event once the queue has
// reached its working size, provided a func event's function value is not a
// closure created for the occasion.
//
// # Implementation
//
// The queue is a radix heap (Ahuja, Mehlhorn, Orlin and Tarjan, 1990) over
// the 64-bit time: since simulated time never goes back, every pending event
// is at or after the last popped time L, and an event at time t lives in
// bucket 64-clz(t XOR L). Popping takes from bucket 0 (events at L, kept in
// insertion order); when it is empty the lowest non-empty bucket is
// scanned for its minimum, which becomes L, and its events move, in order,
// to lower buckets. Each event moves at most 64 times and every move is a
// sequential copy of 16 bytes, so it beats a binary heap on large queues,
// whose sift operations miss the cache. Events with equal times always
// share a bucket and keep their insertion order, which gives the FIFO tie
// rule without a sequence number. [Scheduler.Peek] (and so
// [Scheduler.Run]) may advance L past Now to find the next event; an event
// then scheduled between Now and L goes to a short sorted list that runs
// first. BenchmarkHold compares it with container/heap.
//
// A simulation's queue is usually tiny (the next arrival and one event per
// busy CPU), where a radix heap's redistribution costs more than it
// saves. While at most [smallCap] events are pending, they live in a short
// array sorted by time, FIFO among equal times, instead; the queue moves
// into the radix heap when an event would overflow the array, and back when
// half of it would hold what is pending.
//
// A Scheduler is not safe for concurrent use. The zero Scheduler is ready
// to use; [NewScheduler] returns a new one.
type Scheduler struct {
	now Time
	n   int // pending events, both modes
	// small mode: small[sHead:sTail] sorted by (time, insertion), used
	// while big is 0
	small        [smallCap]item
	sHead, sTail int
	big          int // events in the radix heap and the early list

	last     uint64 // time of the last popped event; every pending event in the radix heap is >= last
	head0    int    // next item to pop in buckets[0]
	nonempty uint64 // bit b-1 set: buckets[b] non-empty, b in 1..64
	buckets  [numBuckets][]item
	spare    []item // an emptied bucket's array, for reuse
	early    []item // events before last, pushed after a Peek; sorted
	earlyAt  int    // next item to pop in early
	fns      []func()
	free     []uint32
	handlers []func(arg uint32)
}

// NewScheduler returns an empty scheduler at time 0.
func NewScheduler() *Scheduler { return &Scheduler{} }

// Now returns the current simulated time: the time of the event being run,
// or of the last one run, or the until of the last [Scheduler.Run] if later.
func (s *Scheduler) Now() Time { return s.now }

// Len returns the number of pending events.
func (s *Scheduler) Len() int { return s.n }

// At schedules fn to run at time t. A t before [Scheduler.Now] runs at Now
// (after the events already pending at Now). A nil fn is ignored.
func (s *Scheduler) At(t Time, fn func()) {
	if fn == nil {
		return
	}
	var slot uint32
	if k := len(s.free); k > 0 {
		slot = s.free[k-1]
		s.free = s.free[:k-1]
		s.fns[slot] = fn
	} else {
		slot = uint32(len(s.fns))
		s.fns = append(s.fns, fn)
	}
	s.push(t, 0, slot)
}

// After schedules fn to run d after [Scheduler.Now]; a negative d is 0.
func (s *Scheduler) After(d Time, fn func()) { s.At(s.now+max(d, 0), fn) }

// Handle registers fn as a typed-event handler and returns its ID for
// [Scheduler.Post]. Register handlers once, at set-up: posting to them
// then never allocates.
func (s *Scheduler) Handle(fn func(arg uint32)) HandlerID {
	s.handlers = append(s.handlers, fn)
	return HandlerID(len(s.handlers))
}

// Post schedules a typed event: h(arg) runs at time t (a t before Now runs
// at Now). It does not allocate in steady state. An ID that
// [Scheduler.Handle] did not return, or a nil handler, is ignored.
func (s *Scheduler) Post(t Time, h HandlerID, arg uint32) {
	if h == 0 || int(h) > len(s.handlers) || s.handlers[h-1] == nil {
		return
	}
	s.push(t, uint32(h), arg)
}

// post is [Scheduler.Post] for a handler known to be registered.
func (s *Scheduler) post(t Time, h HandlerID, arg uint32) { s.push(t, uint32(h), arg) }

// PostAfter is [Scheduler.Post] at d after Now; a negative d is 0.
func (s *Scheduler) PostAfter(d Time, h HandlerID, arg uint32) {
	s.Post(s.now+max(d, 0), h, arg)
}

func (s *Scheduler) push(t Time, kind, arg uint32) {
	t = max(t, s.now)
	s.n++
	if s.big == 0 {
		if s.sTail < smallCap || s.sHead > 0 {
			s.pushSmall(item{at: uint64(t), kind: kind, arg: arg})
			return
		}
		s.spill()
	}
	s.pushBig(item{at: uint64(t), kind: kind, arg: arg})
}

// pushSmall inserts it into the small array after the events at or before
// its time. The array has room, possibly after moving its events down.
func (s *Scheduler) pushSmall(it item) {
	if s.sTail == smallCap {
		copy(s.small[:], s.small[s.sHead:s.sTail])
		s.sTail -= s.sHead
		s.sHead = 0
	}
	i := s.sTail
	for i > s.sHead && s.small[i-1].at > it.at {
		s.small[i] = s.small[i-1]
		i--
	}
	s.small[i] = it
	s.sTail++
}

// spill moves the small array's events, in order, into the empty radix
// heap.
func (s *Scheduler) spill() {
	s.buckets[0] = s.buckets[0][:0]
	s.head0 = 0
	s.early = s.early[:0]
	s.earlyAt = 0
	s.last = uint64(s.now) // every pending event is at or after Now
	for _, it := range s.small[s.sHead:s.sTail] {
		s.pushBig(it)
	}
	s.sHead, s.sTail = 0, 0
}

// unspill moves the radix heap's events, in order, into the empty small
// array.
func (s *Scheduler) unspill() {
	for s.big > 0 {
		s.small[s.sTail] = s.popBig()
		s.sTail++
	}
}

// pushBig adds it to the radix heap (or the early list).
func (s *Scheduler) pushBig(it item) {
	s.big++
	at := it.at
	if at < s.last {
		s.pushEarly(it)
		return
	}
	b := bucketOf(at, s.last)
	if len(s.buckets[b]) == cap(s.buckets[b]) {
		s.reuse(b)
	}
	s.buckets[b] = append(s.buckets[b], it)
	if b > 0 {
		s.nonempty |= 1 << (b - 1)
	}
}

// pushEarly inserts it, which is before every bucketed event, into the
// sorted early list after the events at or before its time. This happens
// only when [Scheduler.Peek] or [Scheduler.Run] looked past Now and the
// caller then scheduled an event in the gap; the list is short.
func (s *Scheduler) pushEarly(it item) {
	if s.earlyAt == len(s.early) {
		s.early = s.early[:0]
		s.earlyAt = 0
	}
	i := len(s.early)
	for i > s.earlyAt && s.early[i-1].at > it.at {
		i--
	}
	s.early = slices.Insert(s.early, i, it)
}

// bucketOf returns the bucket of an event at time at when the last popped
// time is last (at >= last).
func bucketOf(at, last uint64) int {
	return 64 - bits.LeadingZeros64(at^last)
}

// refill makes buckets[0] non-empty if any event is pending, and reports
// whether it is.
func (s *Scheduler) refill() bool {
	if s.head0 < len(s.buckets[0]) {
		return true
	}
	s.buckets[0] = s.buckets[0][:0]
	s.head0 = 0
	if s.nonempty == 0 {
		return false
	}
	b := bits.TrailingZeros64(s.nonempty) + 1
	src := s.buckets[b]
	m := src[0].at
	for i := 1; i < len(src); i++ {
		m = min(m, src[i].at)
	}
	s.last = m
	var mask uint64 // bit d: buckets[d] got an event
	for _, it := range src {
		// The events go to buckets below b <= 64: d <= 63, and the mask
		// is a no-op that spares the bounds check.
		d := bucketOf(it.at, m) & 63
		if len(s.buckets[d]) == cap(s.buckets[d]) {
			s.reuse(d)
		}
		s.buckets[d] = append(s.buckets[d], it)
		mask |= 1 << d
	}
	// Keep the larger of the emptied bucket's array and the spare as the
	// spare, for the next bucket that fills up.
	if cap(src) > cap(s.spare) {
		s.buckets[b], s.spare = s.spare[:0], src[:0]
	} else {
		s.buckets[b] = src[:0]
	}
	s.nonempty = s.nonempty&^(1<<(b-1)) | mask>>1
	return true
}

// reuse is called when buckets[b] is full: if the spare array is larger,
// the bucket moves into it and leaves its own array as the spare. So the
// arrays that emptied buckets leave behind are reused instead of every
// bucket keeping the largest size it ever had (in the hold model at 1e6
// pending, the arrays hold about 4 events per pending one instead of 7 and
// growing).
func (s *Scheduler) reuse(b int) {
	if cap(s.spare) <= len(s.buckets[b]) {
		return
	}
	old := s.buckets[b]
	s.buckets[b] = append(s.spare[:0], old...)
	s.spare = old[:0]
}

// Peek returns the time of the next event and whether there is one.
func (s *Scheduler) Peek() (Time, bool) {
	if s.sHead < s.sTail {
		return Time(s.small[s.sHead].at), true
	}
	if s.earlyAt < len(s.early) {
		return Time(s.early[s.earlyAt].at), true
	}
	if !s.refill() {
		return 0, false
	}
	return Time(s.last), true
}

// Step runs the next event, advancing Now to its time, and reports whether
// there was one.
func (s *Scheduler) Step() bool {
	it, ok := s.next()
	if !ok {
		return false
	}
	s.dispatch(it)
	return true
}

// dispatch runs event it.
func (s *Scheduler) dispatch(it item) {
	if it.kind == 0 {
		fn := s.fns[it.arg]
		s.fns[it.arg] = nil
		s.free = append(s.free, it.arg)
		fn()
		return
	}
	s.handlers[it.kind-1](it.arg)
}

// next removes the next event, advances Now to its time and returns it, or
// reports that none is pending. Step is next then dispatch; a caller that
// knows some of its handlers may run them itself.
func (s *Scheduler) next() (item, bool) {
	var it item
	switch {
	case s.sHead < s.sTail:
		it = s.small[s.sHead]
		if s.sHead++; s.sHead == s.sTail {
			s.sHead, s.sTail = 0, 0
		}
	case s.big > 0:
		it = s.popBig()
		if s.big <= smallCap/2 {
			s.unspill()
		}
	default:
		return item{}, false
	}
	s.n--
	s.now = Time(it.at)
	return it, true
}

// popBig removes and returns the radix heap's next event; big > 0.
func (s *Scheduler) popBig() item {
	s.big--
	if s.earlyAt < len(s.early) {
		it := s.early[s.earlyAt]
		s.earlyAt++
		return it
	}
	if s.head0 >= len(s.buckets[0]) {
		s.refill()
	}
	it := s.buckets[0][s.head0]
	s.head0++
	return it
}

// Run runs the events with time <= until in order, including those they
// schedule, then sets Now to until if that is later.
func (s *Scheduler) Run(until Time) {
	for {
		t, ok := s.Peek()
		if !ok || t > until {
			break
		}
		s.Step()
	}
	if until > s.now {
		s.now = until
	}
}

// Drain runs events until none is pending and leaves Now at the time of the
// last one. Events that keep scheduling others make it run forever.
func (s *Scheduler) Drain() {
	for s.Step() {
	}
}
