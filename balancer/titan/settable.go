package titan

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/sparse"
	"github.com/titanlb/titanlb/lru"
)

// ways is the number of entries of each set of the connection and hint
// tables: [frag.Ways], the fragment table's.
const ways = frag.Ways

// clockWay is one entry slot of a clockSet.
type clockWay[K comparable] struct {
	key K
	id  balancer.BackendID
}

// clockSet is a set's used and reference bits, its hand and its first
// way: all that a lookup reads of a set that holds one entry. Ways fill
// from the first, so with fewer flows than the table has sets, as in
// most runs of a table of the kernel's size, most sets hold one entry or
// none. Ways 1 to [ways]-1 live apart, in a clockRest stored once one of
// them is first written. An IPv4 connection set is 24 bytes, its rest
// 60 (84 bytes together, a lookup's two or three cache lines).
type clockSet[K comparable] struct {
	used, ref uint8 // bit i: way i holds an entry; it was referenced
	next      uint8 // the hand: way next is looked at first
	first     clockWay[K]
}

// clockRest is ways 1 to [ways]-1 of a set.
type clockRest[K comparable] [ways - 1]clockWay[K]

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
// have room. Lookups and inserts are O(ways); lookups do not allocate.
//
// The sets are [sparse.Array]s: a set takes memory when it is first
// written, so that a family that sees no traffic costs no memory, and a
// run that uses few sets pays for few and finds them packed together
// (the kernel's arrays are zeroed at load, which the model need not pay
// for on every run). A set's first way is stored with its bits, its
// other ways apart (clockSet): the kernel's layout is its own, and only
// the order of operations decides what either evicts.
type clockTable[K comparable] struct {
	sets  sparse.Array[clockSet[K]]
	rest  sparse.Array[clockRest[K]] // ways 1 and up of set i, once one is written
	n     int
	stats lru.Stats
}

// newClockTable returns an empty table of capacity entries, rounded up to
// whole sets ([frag.SetCount] sets).
func newClockTable[K comparable](capacity int) *clockTable[K] {
	n := frag.SetCount(capacity)
	return &clockTable[K]{sets: sparse.Make[clockSet[K]](n), rest: sparse.Make[clockRest[K]](n)}
}

// find returns the way of set i (whose bits and first way are s) that
// holds k, and its number, or nil and -1.
func (t *clockTable[K]) find(s *clockSet[K], i uint32, k K) (*clockWay[K], int) {
	if s.used&1 != 0 && s.first.key == k {
		return &s.first, 0
	}
	if s.used&^1 == 0 {
		return nil, -1
	}
	r := t.rest.Get(i)
	for j := range r {
		if s.used&(2<<j) != 0 && r[j].key == k {
			return &r[j], j + 1
		}
	}
	return nil, -1
}

// way returns way w of set i (whose bits and first way are s) for
// writing, storing the set's other ways if w is one of them and they
// were not.
func (t *clockTable[K]) way(s *clockSet[K], i uint32, w int) *clockWay[K] {
	if w == 0 {
		return &s.first
	}
	return &t.rest.Ref(i)[w-1]
}

// get returns the value of k, whose hash is h, and marks its way
// referenced.
func (t *clockTable[K]) get(k K, h uint32) (balancer.BackendID, bool) {
	i := t.sets.Index(h)
	if s := t.sets.Get(i); s != nil {
		if way, w := t.find(s, i, k); way != nil {
			s.ref |= 1 << w
			t.stats.Hits++
			return way.id, true
		}
	}
	t.stats.Misses++
	return 0, false
}

// put writes id for k, whose hash is h, as the type's doc says, and
// reports whether an entry of another key was evicted.
func (t *clockTable[K]) put(k K, h uint32, id balancer.BackendID) (evicted bool) {
	i := t.sets.Index(h)
	s := t.sets.Ref(i)
	if way, w := t.find(s, i, k); way != nil {
		way.id = id
		s.ref |= 1 << w
		t.stats.Updates++
		return false
	}
	w := s.next
	for range ways - 1 {
		if s.ref&(1<<w) == 0 {
			break
		}
		s.ref &^= 1 << w
		w = (w + 1) % ways
	}
	s.ref &^= 1 << w
	s.next = (w + 1) % ways
	t.stats.Inserts++
	if s.used&(1<<w) != 0 {
		evicted = true
		t.stats.Evictions++
	} else {
		s.used |= 1 << w
		t.n++
	}
	*t.way(s, i, int(w)) = clockWay[K]{key: k, id: id}
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
func (t *clockTable[K]) Cap() int { return t.sets.Len() * ways }
