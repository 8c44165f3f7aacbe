package cilium

// lru is a bounded hash table with least-recently-used eviction: the model of
// a BPF_MAP_TYPE_LRU_HASH. The kernel's LRU is approximate (per-CPU free
// lists, a referenced bit); this one is exact, which only matters once a
// table is full.
//
// Storage grows on demand toward the bound (so memory follows the flows
// actually tracked, not the configured maximum); once a table has grown to
// its working size, get and put do not allocate, and a full table recycles
// the evicted node in place.
type lru[K comparable, V any] struct {
	capacity  int
	index     map[K]int32
	nodes     []lruNode[K, V]
	head      int32 // most recently used; -1 when empty
	tail      int32 // least recently used; -1 when empty
	evictions uint64
}

type lruNode[K comparable, V any] struct {
	key        K
	val        V
	prev, next int32
}

// newLRU returns an empty table bounded to capacity entries that reserves
// storage for prealloc of them up front.
func newLRU[K comparable, V any](capacity, prealloc int) *lru[K, V] {
	n := max(0, min(capacity, prealloc))
	return &lru[K, V]{
		capacity: capacity,
		index:    make(map[K]int32, n),
		nodes:    make([]lruNode[K, V], 0, n),
		head:     -1,
		tail:     -1,
	}
}

// len returns the number of entries.
func (l *lru[K, V]) len() int { return len(l.index) }

// get returns a pointer to k's value (valid until the next put) and marks k
// most recently used.
func (l *lru[K, V]) get(k K) (*V, bool) {
	i, ok := l.index[k]
	if !ok {
		return nil, false
	}
	l.touch(i)
	return &l.nodes[i].val, true
}

// has reports whether k is present without marking it used (a failed
// BPF_NOEXIST update).
func (l *lru[K, V]) has(k K) bool {
	_, ok := l.index[k]
	return ok
}

// put inserts or overwrites k, evicting the least recently used entry when
// the table is full. It reports whether an entry was evicted.
func (l *lru[K, V]) put(k K, v V) bool {
	if i, ok := l.index[k]; ok {
		l.nodes[i].val = v
		l.touch(i)
		return false
	}
	if l.capacity <= 0 {
		return false
	}
	var i int32
	evicted := false
	if len(l.nodes) < l.capacity {
		l.nodes = append(l.nodes, lruNode[K, V]{})
		i = int32(len(l.nodes) - 1)
	} else {
		i = l.tail
		l.unlink(i)
		delete(l.index, l.nodes[i].key)
		l.evictions++
		evicted = true
	}
	l.nodes[i] = lruNode[K, V]{key: k, val: v, prev: -1, next: -1}
	l.index[k] = i
	l.pushFront(i)
	return evicted
}

func (l *lru[K, V]) touch(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	l.pushFront(i)
}

func (l *lru[K, V]) unlink(i int32) {
	n := &l.nodes[i]
	if n.prev >= 0 {
		l.nodes[n.prev].next = n.next
	} else {
		l.head = n.next
	}
	if n.next >= 0 {
		l.nodes[n.next].prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = -1, -1
}

func (l *lru[K, V]) pushFront(i int32) {
	n := &l.nodes[i]
	n.prev = -1
	n.next = l.head
	if l.head >= 0 {
		l.nodes[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}
