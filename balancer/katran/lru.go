package katran

// lru is a bounded hash table with least-recently-used eviction: the model of
// a BPF_MAP_TYPE_LRU_HASH. The kernel's LRU is approximate (per-CPU free
// lists, a referenced bit); this one is exact, which only matters once a
// table is full.
//
// It is an open-addressing index (linear probing, backward-shift deletion,
// so no tombstones) over an array of nodes linked in recency order. Storage
// grows by doubling toward the bound, so memory follows the entries actually
// held; once a table has reached its working size, get, has and put never
// allocate, and a full table recycles the evicted node in place.
type lru[K comparable, V any] struct {
	capacity  int
	hash      func(K) uint64
	slots     []int32 // node index + 1; 0 is empty; length a power of two
	nodes     []lruNode[K, V]
	head      int32 // most recently used; -1 when empty
	tail      int32 // least recently used; -1 when empty
	evictions uint64
}

type lruNode[K comparable, V any] struct {
	key        K
	val        V
	h          uint64
	prev, next int32
}

// newLRU returns an empty table bounded to capacity entries, hashing keys
// with hash, that reserves storage for prealloc of them up front.
func newLRU[K comparable, V any](capacity, prealloc int, hash func(K) uint64) *lru[K, V] {
	n := max(1, min(capacity, prealloc))
	return &lru[K, V]{
		capacity: capacity,
		hash:     hash,
		slots:    make([]int32, pow2(2*n)),
		nodes:    make([]lruNode[K, V], 0, n),
		head:     -1,
		tail:     -1,
	}
}

func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// len returns the number of entries.
func (l *lru[K, V]) len() int { return len(l.nodes) }

// find returns the slot holding k (found) or the empty slot where it would go.
func (l *lru[K, V]) find(k *K, h uint64) (slot int, found bool) {
	mask := uint64(len(l.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		n := l.slots[i]
		if n == 0 {
			return int(i), false
		}
		if nd := &l.nodes[n-1]; nd.h == h && nd.key == *k {
			return int(i), true
		}
	}
}

// get returns a pointer to k's value (valid until the next put) and marks k
// most recently used.
func (l *lru[K, V]) get(k K) (*V, bool) {
	s, ok := l.find(&k, l.hash(k))
	if !ok {
		return nil, false
	}
	i := l.slots[s] - 1
	l.touch(i)
	return &l.nodes[i].val, true
}

// has reports whether k is present without marking it used (a failed
// BPF_NOEXIST update).
func (l *lru[K, V]) has(k K) bool {
	_, ok := l.find(&k, l.hash(k))
	return ok
}

// put inserts or overwrites k, evicting the least recently used entry when
// the table is full. It reports whether an entry was evicted.
func (l *lru[K, V]) put(k K, v V) bool {
	if l.capacity <= 0 {
		return false
	}
	h := l.hash(k)
	s, ok := l.find(&k, h)
	if ok {
		i := l.slots[s] - 1
		l.nodes[i].val = v
		l.touch(i)
		return false
	}
	var i int32
	evicted := false
	if len(l.nodes) < l.capacity {
		if 2*(len(l.nodes)+1) > len(l.slots) {
			l.grow()
			s, _ = l.find(&k, h)
		}
		l.nodes = append(l.nodes, lruNode[K, V]{})
		i = int32(len(l.nodes) - 1)
	} else {
		i = l.tail
		l.unlink(i)
		l.remove(l.nodes[i].h, i)
		l.evictions++
		evicted = true
		s, _ = l.find(&k, h)
	}
	l.nodes[i] = lruNode[K, V]{key: k, val: v, h: h, prev: -1, next: -1}
	l.slots[s] = i + 1
	l.pushFront(i)
	return evicted
}

// grow doubles the index and re-inserts every node.
func (l *lru[K, V]) grow() {
	l.slots = make([]int32, 2*len(l.slots))
	mask := uint64(len(l.slots) - 1)
	for n := range l.nodes {
		i := l.nodes[n].h & mask
		for l.slots[i] != 0 {
			i = (i + 1) & mask
		}
		l.slots[i] = int32(n + 1)
	}
}

// remove deletes node n (hash h) from the index, shifting later entries of
// its probe run back so that no tombstone is left.
func (l *lru[K, V]) remove(h uint64, n int32) {
	mask := uint64(len(l.slots) - 1)
	i := h & mask
	for l.slots[i] != n+1 {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; l.slots[j] != 0; j = (j + 1) & mask {
		home := l.nodes[l.slots[j]-1].h & mask
		// Move slots[j] into the hole at i unless its home lies cyclically
		// in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			l.slots[i] = l.slots[j]
			i = j
		}
	}
	l.slots[i] = 0
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

// mix64 is a 64-bit finaliser (SplitMix64's), used to hash table keys.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
