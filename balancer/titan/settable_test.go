package titan

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
)

// TestClockTable walks one set of a clockTable through CLOCK's cases:
// free ways first, then the first unreferenced way from the hand, a
// lookup saving its key from the next pass, in-place rewrites, and a set
// whose ways are all referenced.
func TestClockTable(t *testing.T) {
	tb := newClockTable[int](8) // 2 sets of 4
	if tb.Cap() != 8 || tb.sets.Len() != 2 || tb.sets.Stored() != 0 {
		t.Fatalf("capacity %d, %d sets, %d stored; want 8, 2, none yet", tb.Cap(), tb.sets.Len(), tb.sets.Stored())
	}
	if empty := newClockTable[int](8); func() bool { _, ok := empty.get(1, 0); return ok }() || empty.sets.Stored() != 0 || empty.stats.Misses != 1 {
		t.Fatalf("a lookup in an empty table found its key, allocated the sets or counted no miss: %+v", empty.stats)
	}
	const h = 6 // every key below in set 0
	put := func(k int, wantEvicted bool) {
		t.Helper()
		if ev := tb.put(k, h, balancer.BackendID(100+k)); ev != wantEvicted {
			t.Fatalf("put %d: evicted %v, want %v", k, ev, wantEvicted)
		}
	}
	has := func(k int) bool {
		i := tb.sets.Index(h)
		way, _ := tb.find(tb.sets.Get(i), i, k)
		return way != nil
	}
	put(1, false)
	if tb.sets.Stored() != 1 || tb.rest.Stored() != 0 {
		t.Fatalf("one entry: %d sets and %d rests stored, want 1 and 0", tb.sets.Stored(), tb.rest.Stored())
	}
	for k := 2; k <= 4; k++ {
		put(k, false) // the other free ways
	}
	if tb.rest.Stored() != 1 {
		t.Fatalf("four entries in one set: %d rests stored, want 1", tb.rest.Stored())
	}
	if tb.Len() != 4 || !has(1) || !has(4) {
		t.Fatalf("after 4 inserts: len %d", tb.Len())
	}
	// Keys 2 and 3 are looked up; 1 and 4 are not.
	for _, k := range []int{2, 3} {
		if id, ok := tb.get(k, h); !ok || id != balancer.BackendID(100+k) {
			t.Fatalf("get %d: %d %v", k, id, ok)
		}
	}
	// The hand is at way 0 (key 1, unreferenced): 5 takes it.
	put(5, true)
	if has(1) || !has(5) {
		t.Fatal("5 did not replace 1, the unreferenced way at the hand")
	}
	// The hand is at way 1 (key 2, referenced) then way 2 (key 3,
	// referenced): both are passed, their references cleared, and 6
	// takes way 3 (key 4).
	put(6, true)
	if has(4) || !has(2) || !has(3) {
		t.Fatal("6 did not replace 4, the first unreferenced way")
	}
	// 2 and 3 lost their references in that pass: 7 takes way 0 (key 5,
	// never looked up), then 8 takes way 1 (key 2).
	put(7, true)
	put(8, true)
	if has(5) || has(2) || !has(3) {
		t.Fatal("7 and 8 did not replace 5 and 2")
	}
	// An insert of a present key rewrites it in place and marks it.
	put(3, false)
	if id, _ := tb.get(3, h); id != 103 || tb.Len() != 4 {
		t.Fatalf("rewritten 3: %d, len %d", id, tb.Len())
	}
	// Every way referenced: the hand clears three, and the fourth way
	// from it is taken.
	for _, k := range []int{3, 6, 7, 8} {
		tb.get(k, h)
	}
	i := tb.sets.Index(h)
	s := tb.sets.Get(i)
	victim := tb.way(s, i, int(s.next+ways-1)%ways).key
	put(9, true)
	if has(victim) || !has(9) {
		t.Fatalf("all referenced: 9 did not take the fourth way from the hand (key %d)", victim)
	}
	// The other set is untouched, and a miss counts.
	if _, ok := tb.get(1, 7); ok || tb.sets.Get(1) != nil {
		t.Fatal("set 1 holds an entry")
	}
	st := tb.stats
	if st.Inserts != 9 || st.Updates != 1 || st.Evictions != 5 || st.Misses != 1 {
		t.Errorf("stats %+v", st)
	}
}
