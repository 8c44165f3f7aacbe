package titan

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/lru"
)

// ways is the number of entries of each set of the connection and hint
// tables: [frag.Ways], the fragment table's.
const ways = frag.Ways

// clockWay is one entry slot of a clockSet.
type clockWay[K comparable] struct {
	key  K
	id   balancer.BackendID
	used bool
}

// clockSet is [ways] entries, their reference bits and the hand.
type clockSet[K comparable] struct {
	ref  [ways]bool
	next uint32 // the hand: way next%ways is looked at first
	ways [ways]clockWay[K]
}

// clockTable is the connection and hint tables' layout, as the kernel
// program keeps them (ARRAYs of sets, xdp/titan.c conns and hints): a
// fixed array of sets of [ways] entries, a key living only in the set its
// hash picks (the hash modulo the number of sets), replaced by CLOCK
// (second chance):
//
//   - a lookup that finds its key marks its way referenced;
//   - an insert of a key already in its set rewrites the value in place
//     and marks the way referenced;
//   - a new key takes the first unreferenced way from the set's hand,
//     clearing the reference bit of each way it passes (the fourth way
//     when all four are referenced), starts unreferenced, and the hand
//     moves past it.
//
// An entry looked up since the hand last passed it survives the next
// pass: a flow that keeps sending keeps its entry, one that went quiet is
// the first to go, as in an LRU, at the price of a store into a set
// instead of an LRU insert (bpf_map_update_elem on an LRU_HASH, which
// evicts from a list under a lock). Like [frag.SetTable] it is a pure
// function of the sequence of operations, so the kernel evicts exactly
// the entries the model evicts, and a set may evict while other sets
// have room. Lookups and inserts are O(ways) and do not allocate.
//
// The sets are allocated by the first insert, so that a family that sees
// no traffic costs no memory (and a run no time zeroing it): the kernel's
// arrays are zeroed at load, which the model need not pay for a family
// it never uses.
type clockTable[K comparable] struct {
	sets  []clockSet[K] // nil until the first insert
	nsets uint32
	n     int
	stats lru.Stats
}

// newClockTable returns an empty table of capacity entries, rounded up to
// whole sets ([frag.SetCount] sets).
func newClockTable[K comparable](capacity int) *clockTable[K] {
	return &clockTable[K]{nsets: uint32(frag.SetCount(capacity))}
}

// set returns the set of hash h, allocating the sets if they are not.
func (t *clockTable[K]) set(h uint32) *clockSet[K] {
	if t.sets == nil {
		t.sets = make([]clockSet[K], t.nsets)
	}
	return &t.sets[h%t.nsets]
}

// get returns the value of k, whose hash is h, and marks its way
// referenced.
func (t *clockTable[K]) get(k K, h uint32) (balancer.BackendID, bool) {
	if t.sets == nil {
		t.stats.Misses++
		return 0, false
	}
	s := &t.sets[h%t.nsets]
	for i := range s.ways {
		if w := &s.ways[i]; w.used && w.key == k {
			s.ref[i] = true
			t.stats.Hits++
			return w.id, true
		}
	}
	t.stats.Misses++
	return 0, false
}

// put writes id for k, whose hash is h, as the type's doc says, and
// reports whether an entry of another key was evicted.
func (t *clockTable[K]) put(k K, h uint32, id balancer.BackendID) (evicted bool) {
	s := t.set(h)
	for i := range s.ways {
		if w := &s.ways[i]; w.used && w.key == k {
			w.id = id
			s.ref[i] = true
			t.stats.Updates++
			return false
		}
	}
	n := s.next
	for range ways - 1 {
		if !s.ref[n%ways] {
			break
		}
		s.ref[n%ways] = false
		n++
	}
	i := n % ways
	s.ref[i] = false
	s.next = n + 1
	w := &s.ways[i]
	t.stats.Inserts++
	if w.used {
		evicted = true
		t.stats.Evictions++
	} else {
		t.n++
	}
	*w = clockWay[K]{key: k, id: id, used: true}
	return evicted
}

// insert is put, reporting instead whether k took a way (it held none):
// what the kernel counts as a store (cost.OpStore).
func (t *clockTable[K]) insert(k K, h uint32, id balancer.BackendID) bool {
	n := t.stats.Inserts
	t.put(k, h, id)
	return t.stats.Inserts != n
}

// Len returns the number of entries.
func (t *clockTable[K]) Len() int { return t.n }

// Cap returns the capacity: the number of sets times [ways].
func (t *clockTable[K]) Cap() int { return int(t.nsets) * ways }
