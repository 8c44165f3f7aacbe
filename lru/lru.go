package lru

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"math"
	"slices"
)

// MaxCapacity is the largest capacity [New] and [NewWith] accept.
const MaxCapacity = 1 << 28

// Errors from [New] and [NewWith], wrapped with the
// offending field.
var (
	ErrCapacity = errors.New("must be between 1 and MaxCapacity")
	ErrReserve  = errors.New("must not be negative")
)

// nilIndex marks the end of the free list, and a key not found.
const nilIndex = -1

// node is one entry of a [Map], living in its arena. A free node has
// stamp 0, and its hash links the free list.
type node[K comparable, V any] struct {
	key   K
	val   V
	hash  uint32 // low 32 bits of the key's hash: home slot and tag
	stamp uint32 // the entry's last use: greater is more recent; 0: free
}

// use is a node and the stamp it had when the oldest-first order was
// built.
type use struct {
	node  int32
	stamp uint32
}

// Map is a bounded map from K to V that evicts its least recently used
// entry to make room for a new one. [Map.Get], [Map.Put], [Map.Delete] and
// [Map.Peek] are O(1) (Put amortised when it evicts) and do not allocate
// once the LRU has reached its working size: [New] allocates all its
// memory up front; one made by [NewWith] with [Options.Reserve] starts
// with storage for that many entries and doubles it, up to the capacity,
// when a Put finds it full, so that memory follows the entries actually
// held (a connection table sized for millions of flows costs only what it
// holds). Storage is written only as entries first fill it (not when
// reserved, grown or cleared), so a run pays memory traffic for what it
// holds. A full LRU recycles the evicted entry's node in place.
//
// It is an arena of nodes indexed by an open-addressing hash table (at
// most half full) with linear probing and backward-shift deletion: no
// tombstones, so the index never degrades; it is rebuilt only when the
// arena doubles. Each index slot holds a node number and 32 bits of its
// key's hash, so that a probe touches a node only when the hash matches.
// Keys are hashed with [maphash.Comparable] (its seed is random per LRU,
// but no observable behaviour depends on it: eviction order is recency
// order), or with the caller's function ([NewFunc], [Options.Hash]).
//
// Recency is a stamp in each node, the next value of a counter at each
// use, so that a use writes the node the lookup has just read, not a list
// running through the arena. The least recently used entry, needed only
// to evict (or for [Map.Oldest]), comes from an order of the entries by
// stamp, built when first needed and rebuilt when used up: an entry used
// since is skipped (its stamp moved), and every entry it does not hold
// is newer than the ones it does. Eviction is exact LRU, in O(log n)
// amortised per use and eviction.
//
// An LRU is not safe for concurrent use. The zero LRU is not usable; call
// [New] or [NewWith].
type Map[K comparable, V any] struct {
	hash    func(K) uint64
	nodes   []node[K, V] // the arena: len is the storage reserved so far
	index   []uint64     // hash<<32 | node index + 1, or 0 for an empty slot
	mask    uint32
	clock   uint32 // the last stamp given
	free    int32  // free list of removed nodes, through node.hash
	fresh   int32  // nodes from fresh on never held an entry since Clear: zero, on no list
	order   []use  // entries oldest first, as of when it was built, from orderAt
	orderAt int
	n       int
	cap     int // the bound; len(nodes) reaches it by doubling
	stats   Stats
}

// Stats counts what an [Map] did since it was made or last cleared.
type Stats struct {
	Hits      uint64 // Get found the key
	Misses    uint64 // Get did not find the key
	Inserts   uint64 // Put added a key
	Updates   uint64 // Put replaced the value of a present key
	Evictions uint64 // Put removed the least recently used entry to make room
	Deletes   uint64 // Delete removed a key
}

// New returns an empty LRU holding at most capacity entries. Capacity
// must be between 1 and [MaxCapacity]; the error names it otherwise.
func New[K comparable, V any](capacity int) (*Map[K, V], error) {
	return NewFunc[K, V](capacity, nil)
}

// NewFunc is [New] with the caller's hash function, for keys that
// have a cheaper one than [maphash.Comparable]. Equal keys must hash alike;
// the low 32 bits must be well mixed (they pick the slot). A nil hash
// means maphash.Comparable.
func NewFunc[K comparable, V any](capacity int, hash func(K) uint64) (*Map[K, V], error) {
	return NewWith[K, V](capacity, Options[K]{Hash: hash})
}

// Options tunes an [Map] made by [NewWith]. The zero value gives the
// LRU of [New].
type Options[K comparable] struct {
	// Hash is the key hash, with the contract of [NewFunc]'s; nil means
	// [maphash.Comparable].
	Hash func(K) uint64
	// Reserve is how many entries' storage is allocated up front. When a
	// Put of a new key finds that storage full and the LRU below its
	// capacity, the storage doubles (capped at the capacity) instead of
	// evicting. 0, or any value at least the capacity, reserves the whole
	// capacity, as [New] does; a negative value is an error.
	Reserve int
}

// NewWith returns an empty LRU holding at most capacity entries, tuned
// by opts. Capacity must be between 1 and [MaxCapacity] and opts.Reserve
// must not be negative; the error names the bad field otherwise.
func NewWith[K comparable, V any](capacity int, opts Options[K]) (*Map[K, V], error) {
	if capacity < 1 || capacity > MaxCapacity {
		return nil, fmt.Errorf("lru: capacity %d: %w", capacity, ErrCapacity)
	}
	if opts.Reserve < 0 {
		return nil, fmt.Errorf("lru: options.reserve %d: %w", opts.Reserve, ErrReserve)
	}
	n := capacity
	if opts.Reserve > 0 {
		n = min(opts.Reserve, capacity)
	}
	hash := opts.Hash
	if hash == nil {
		seed := maphash.MakeSeed()
		hash = func(k K) uint64 { return maphash.Comparable(seed, k) }
	}
	size := indexSize(n)
	l := &Map[K, V]{
		hash:  hash,
		nodes: make([]node[K, V], n),
		index: make([]uint64, size),
		mask:  uint32(size - 1),
		cap:   capacity,
	}
	l.Clear()
	return l, nil
}

// indexSize returns the index length for an arena of n nodes: the least
// power of two, at least 2, that keeps the index at most half full.
func indexSize(n int) int {
	size := 2
	for size < 2*n {
		size <<= 1
	}
	return size
}

// Clear removes every entry and zeroes the counters. It does not allocate,
// and keeps the storage reserved so far.
func (l *Map[K, V]) Clear() {
	if l.fresh > 0 { // else no entry was ever added: nothing to clear
		clear(l.index)
		clear(l.nodes[:l.fresh])
	}
	l.free, l.fresh = nilIndex, 0
	l.clock = 0
	l.order, l.orderAt = l.order[:0], 0
	l.n = 0
	l.stats = Stats{}
}

// Len returns the number of entries.
func (l *Map[K, V]) Len() int { return l.n }

// Cap returns the capacity: Len never exceeds it.
func (l *Map[K, V]) Cap() int { return l.cap }

// Reserved returns how many entries the storage allocated so far holds:
// between Len and Cap, and Cap for an LRU from [New].
func (l *Map[K, V]) Reserved() int { return len(l.nodes) }

// Stats returns the counters.
func (l *Map[K, V]) Stats() Stats { return l.stats }

// Get returns the value of k and marks it most recently used. It counts a
// hit or a miss.
func (l *Map[K, V]) Get(k K) (V, bool) {
	i, _ := l.find(k, l.hashOf(k))
	if i == nilIndex {
		l.stats.Misses++
		var zero V
		return zero, false
	}
	l.stats.Hits++
	nd := &l.nodes[i]
	l.use(nd)
	return nd.val, true
}

// Ref is [Map.Get] returning a pointer to k's value, or nil when k is
// absent, so that the caller can update the value in place, as a BPF
// program writes through the pointer bpf_map_lookup_elem returns. The
// pointer is valid until the next Put, Delete or Clear (a Put may recycle
// or move the storage).
func (l *Map[K, V]) Ref(k K) *V {
	i, _ := l.find(k, l.hashOf(k))
	if i == nilIndex {
		l.stats.Misses++
		return nil
	}
	l.stats.Hits++
	nd := &l.nodes[i]
	l.use(nd)
	return &nd.val
}

// A Handle names the storage of one entry of a [Map], as [Map.RefAt]
// returns it, so that a later lookup of the same key can go straight to
// it instead of hashing the key and probing the index: a caller that
// looks up several related keys per use can keep each one's handle in
// another's value. A handle is only a hint: it stays good while its entry
// is present (storage growth keeps it), and one whose entry was removed
// or whose storage now holds another key is detected and costs only the
// ordinary lookup. The zero Handle names no entry.
type Handle int32

// RefAt is [Map.Ref] given a hint h: when h names k's entry, RefAt finds
// it there without hashing k or probing the index; otherwise it looks k
// up as Ref does. It also returns k's handle (the zero Handle when k is
// absent). Its counts, recency and pointer validity are Ref's. It does
// not allocate.
func (l *Map[K, V]) RefAt(k K, h Handle) (*V, Handle) {
	// The hit through h, small enough to inline; everything else in refAt.
	if i := uint32(h) - 1; i < uint32(len(l.nodes)) && l.clock != math.MaxUint32 {
		if nd := &l.nodes[i]; nd.key == k && nd.stamp != 0 {
			l.stats.Hits++
			l.clock++
			nd.stamp = l.clock
			return &nd.val, h
		}
	}
	return l.refAt(k, h)
}

// refAt is RefAt when h does not name k's entry or the stamps have run
// out.
func (l *Map[K, V]) refAt(k K, h Handle) (*V, Handle) {
	i := int32(h) - 1
	if uint32(i) >= uint32(len(l.nodes)) || l.nodes[i].stamp == 0 || l.nodes[i].key != k {
		if i, _ = l.find(k, l.hashOf(k)); i == nilIndex {
			l.stats.Misses++
			return nil, 0
		}
	}
	l.stats.Hits++
	nd := &l.nodes[i]
	l.use(nd)
	return &nd.val, Handle(i + 1)
}

// Peek returns the value of k without touching its recency or the counters.
func (l *Map[K, V]) Peek(k K) (V, bool) {
	i, _ := l.find(k, l.hashOf(k))
	if i == nilIndex {
		var zero V
		return zero, false
	}
	return l.nodes[i].val, true
}

// Put sets the value of k and marks it most recently used. When k is new
// and the LRU is full, the least recently used entry is evicted first;
// Put reports whether that happened. When k is new, the LRU is not full but
// its reserved storage is, Put doubles the storage (see [Options]).
func (l *Map[K, V]) Put(k K, v V) (evicted bool) {
	_, evicted = l.put(k, v)
	return evicted
}

// put is [Map.Put], also reporting whether k was present.
func (l *Map[K, V]) put(k K, v V) (updated, evicted bool) {
	h := l.hashOf(k)
	if i, _ := l.find(k, h); i != nilIndex {
		l.stats.Updates++
		nd := &l.nodes[i]
		nd.val = v
		l.use(nd)
		return true, false
	}
	if l.free == nilIndex && int(l.fresh) == len(l.nodes) {
		if len(l.nodes) < l.cap {
			l.grow()
		} else {
			l.remove(l.oldest())
			l.stats.Evictions++
			evicted = true
		}
	}
	// A removed node first, else the first never used, so that a
	// growing LRU touches its new storage only as it fills it.
	i := l.free
	if i != nilIndex {
		l.free = int32(l.nodes[i].hash)
	} else {
		i = l.fresh
		l.fresh++
	}
	nd := &l.nodes[i]
	nd.key, nd.val, nd.hash = k, v, h
	l.use(nd)
	sl := h & l.mask
	for l.index[sl] != 0 {
		sl = (sl + 1) & l.mask
	}
	l.index[sl] = slot(h, i)
	l.n++
	l.stats.Inserts++
	return false, evicted
}

// Delete removes k and reports whether it was present.
func (l *Map[K, V]) Delete(k K) bool {
	i, _ := l.find(k, l.hashOf(k))
	if i == nilIndex {
		return false
	}
	l.remove(i)
	l.stats.Deletes++
	return true
}

// Oldest returns the least recently used entry, the next to be evicted.
func (l *Map[K, V]) Oldest() (K, V, bool) {
	if l.n == 0 {
		var k K
		var v V
		return k, v, false
	}
	nd := &l.nodes[l.oldest()]
	return nd.key, nd.val, true
}

// All yields the entries from the most to the least recently used, without
// touching their recency. The LRU must not be modified during the
// iteration. It allocates the order it yields in.
func (l *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		us := l.byStamp(nil)
		for j := len(us) - 1; j >= 0; j-- {
			nd := &l.nodes[us[j].node]
			if !yield(nd.key, nd.val) {
				return
			}
		}
	}
}

// hashOf returns the low 32 bits of k's hash.
func (l *Map[K, V]) hashOf(k K) uint32 { return uint32(l.hash(k)) }

// use marks node nd most recently used.
func (l *Map[K, V]) use(nd *node[K, V]) {
	if l.clock == math.MaxUint32 {
		l.restamp()
	}
	l.clock++
	nd.stamp = l.clock
}

// restamp renumbers the entries 1, 2, ... oldest first when the stamps
// have run out, so that the counter never wraps.
func (l *Map[K, V]) restamp() {
	l.order = l.byStamp(l.order[:0])
	for j := range l.order {
		l.order[j].stamp = uint32(j + 1)
		l.nodes[l.order[j].node].stamp = uint32(j + 1)
	}
	l.orderAt = 0
	l.clock = uint32(len(l.order))
}

// byStamp appends every entry to us, oldest first, and returns it.
func (l *Map[K, V]) byStamp(us []use) []use {
	for i := range l.nodes[:l.fresh] {
		if s := l.nodes[i].stamp; s != 0 {
			us = append(us, use{int32(i), s})
		}
	}
	slices.SortFunc(us, func(a, b use) int { return cmp.Compare(a.stamp, b.stamp) })
	return us
}

// oldest returns the least recently used node; the map is not empty. It
// skips the entries of the order used or removed since it was built, and
// builds it again once it has none left.
func (l *Map[K, V]) oldest() int32 {
	for {
		for ; l.orderAt < len(l.order); l.orderAt++ {
			u := l.order[l.orderAt]
			if l.nodes[u.node].stamp == u.stamp {
				return u.node
			}
		}
		l.order, l.orderAt = l.byStamp(l.order[:0]), 0
	}
}

// grow doubles the arena (capped at the capacity), the new nodes never
// used, and, when the index would be more than half full, doubles it and
// re-inserts every entry. It is called only when every node is in use.
func (l *Map[K, V]) grow() {
	old := len(l.nodes)
	n := min(2*old, l.cap)
	nodes := make([]node[K, V], n)
	copy(nodes, l.nodes)
	l.nodes = nodes
	if size := indexSize(n); size > len(l.index) {
		l.index = make([]uint64, size)
		l.mask = uint32(size - 1)
		for i := range old { // every node below old is in use
			h := l.nodes[i].hash
			s := h & l.mask
			for l.index[s] != 0 {
				s = (s + 1) & l.mask
			}
			l.index[s] = slot(h, int32(i))
		}
	}
}

// slot returns the index slot value of node i whose key hashes to h.
func slot(h uint32, i int32) uint64 { return uint64(h)<<32 | uint64(i+1) }

// find returns the node index of k (nilIndex when absent) and its slot in
// the index.
func (l *Map[K, V]) find(k K, h uint32) (int32, uint32) {
	s := h & l.mask
	for {
		e := l.index[s]
		if e == 0 {
			return nilIndex, s
		}
		if uint32(e>>32) == h {
			if i := int32(uint32(e)) - 1; l.nodes[i].key == k {
				return i, s
			}
		}
		s = (s + 1) & l.mask
	}
}

// remove clears node i's index slot and returns it to the free list.
func (l *Map[K, V]) remove(i int32) {
	nd := &l.nodes[i]
	want := slot(nd.hash, i)
	s := nd.hash & l.mask
	for l.index[s] != want {
		s = (s + 1) & l.mask
	}
	l.deleteSlot(s)
	var zero node[K, V]
	*nd = zero
	nd.hash = uint32(l.free)
	l.free = i
	l.n--
}

// deleteSlot empties index slot s with backward-shift deletion: later
// entries of the probe run move back so that every entry stays reachable
// from its home slot without tombstones.
func (l *Map[K, V]) deleteSlot(s uint32) {
	hole := s
	j := s
	for {
		j = (j + 1) & l.mask
		e := l.index[j]
		if e == 0 {
			break
		}
		home := uint32(e>>32) & l.mask
		// The entry at j may fill the hole unless its home lies cyclically
		// in (hole, j].
		if (j-home)&l.mask >= (j-hole)&l.mask {
			l.index[hole] = e
			hole = j
		}
	}
	l.index[hole] = 0
}
