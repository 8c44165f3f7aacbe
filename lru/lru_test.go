package lru

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// keysOf returns the LRU's keys from the most to the least recently used.
func keysOf[K comparable, V any](l *Map[K, V]) []K {
	var ks []K
	for k := range l.All() {
		ks = append(ks, k)
	}
	return ks
}

func TestLRUOrderAndEviction(t *testing.T) {
	l, err := New[string, int](3)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"a", "b", "c"} {
		if l.Put(k, i) {
			t.Fatalf("Put(%q) evicted in a table with room", k)
		}
	}
	if v, ok := l.Get("a"); !ok || v != 0 {
		t.Fatalf(`Get("a") = %v, %v; want 0, true`, v, ok)
	}
	if got, want := keysOf(l), []string{"a", "c", "b"}; !slices.Equal(got, want) {
		t.Fatalf("recency order %v, want %v", got, want)
	}
	if k, _, _ := l.Oldest(); k != "b" {
		t.Fatalf("Oldest = %q, want b", k)
	}
	if !l.Put("d", 3) {
		t.Fatal("Put into a full LRU did not report an eviction")
	}
	if _, ok := l.Peek("b"); ok {
		t.Error("least recently used key b survived the eviction")
	}
	if got, want := keysOf(l), []string{"d", "a", "c"}; !slices.Equal(got, want) {
		t.Errorf("recency order %v, want %v", got, want)
	}
	// Peek does not promote: c stays oldest and goes next.
	l.Peek("c")
	l.Put("a", 10) // update promotes a
	l.Put("e", 4)
	if got, want := keysOf(l), []string{"e", "a", "d"}; !slices.Equal(got, want) {
		t.Errorf("recency order %v, want %v", got, want)
	}
	if l.Len() != 3 || l.Cap() != 3 {
		t.Errorf("Len, Cap = %d, %d; want 3, 3", l.Len(), l.Cap())
	}
	want := Stats{Hits: 1, Inserts: 5, Updates: 1, Evictions: 2}
	if _, ok := l.Get("zz"); ok {
		t.Error("Get of an absent key hit")
	}
	want.Misses = 1
	if !l.Delete("d") || l.Delete("d") {
		t.Error("Delete: want true then false")
	}
	want.Deletes = 1
	if got := l.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	l.Clear()
	if l.Len() != 0 || l.Stats() != (Stats{}) || len(keysOf(l)) != 0 {
		t.Error("Clear left entries or counters")
	}
	if _, _, ok := l.Oldest(); ok {
		t.Error("Oldest of an empty LRU reported an entry")
	}
}

// Ref updates a value in place, promotes it and counts like Get.
func TestLRURef(t *testing.T) {
	l, err := NewWith[string, int](2, Options[string]{Reserve: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.Put("a", 1)
	l.Put("b", 2)
	if p := l.Ref("zz"); p != nil {
		t.Fatalf(`Ref("zz") = %v, want nil`, *p)
	}
	p := l.Ref("a")
	if p == nil || *p != 1 {
		t.Fatalf(`Ref("a") = %v, want a pointer to 1`, p)
	}
	*p = 11
	if v, _ := l.Peek("a"); v != 11 {
		t.Errorf("value after writing through Ref = %d, want 11", v)
	}
	l.Put("c", 3) // evicts b: Ref promoted a
	if got, want := keysOf(l), []string{"c", "a"}; !slices.Equal(got, want) {
		t.Errorf("recency order %v, want %v", got, want)
	}
	if s := l.Stats(); s.Hits != 1 || s.Misses != 1 {
		t.Errorf("Stats %+v, want 1 hit and 1 miss", s)
	}
}

// RefAt goes to the entry its handle names, falls back to the ordinary
// lookup on a stale, zero or out-of-range handle, and counts and promotes
// as Ref does either way.
func TestLRURefAt(t *testing.T) {
	l, err := NewWith[string, int](3, Options[string]{Reserve: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.Put("a", 1)
	pa, ha := l.RefAt("a", 0)
	if pa == nil || *pa != 1 || ha == 0 {
		t.Fatalf(`RefAt("a", 0) = %v, %d; want a pointer to 1 and a handle`, pa, ha)
	}
	l.Put("b", 2) // grows the storage: the handle stays good
	l.Put("c", 3)
	if p, h := l.RefAt("a", ha); p == nil || *p != 1 || h != ha {
		t.Fatalf(`RefAt("a", %d) after growth = %v, %d; want 1, %d`, ha, p, h, ha)
	}
	if p, h := l.RefAt("b", ha); p == nil || *p != 2 || h == ha || h == 0 {
		t.Fatalf(`RefAt("b", a's handle %d) = %v, %d; want 2 and b's handle`, ha, p, h)
	}
	for _, h := range []Handle{-7, 0, 4, 1 << 30} {
		if p, _ := l.RefAt("c", h); p == nil || *p != 3 {
			t.Fatalf(`RefAt("c", %d) = %v; want a pointer to 3`, h, p)
		}
	}
	l.Delete("a")
	if p, h := l.RefAt("a", ha); p != nil || h != 0 {
		t.Fatalf(`RefAt("a", %d) after Delete = %v, %d; want nil, 0`, ha, p, h)
	}
	l.Put("d", 4) // reuses a's storage
	if p, h := l.RefAt("d", ha); p == nil || *p != 4 || h != ha {
		t.Fatalf(`RefAt("d", %d) = %v, %d; want 4 in a's old storage`, ha, p, h)
	}
	if p, _ := l.RefAt("a", ha); p != nil {
		t.Fatalf(`RefAt("a", %d) with the storage now d's = %v, want nil`, ha, *p)
	}
	// Recency: b, then c, then d were used last; a Put evicts b.
	l.RefAt("c", 0)
	l.RefAt("d", ha)
	l.Put("e", 5)
	if got, want := keysOf(l), []string{"e", "d", "c"}; !slices.Equal(got, want) {
		t.Errorf("recency order %v, want %v", got, want)
	}
	if s := l.Stats(); s.Hits != 10 || s.Misses != 2 {
		t.Errorf("Stats %+v, want 10 hits and 2 misses", s)
	}
}

func TestNewLRUCapacity(t *testing.T) {
	for _, c := range []int{0, -1, MaxCapacity + 1} {
		if _, err := New[int, int](c); !errors.Is(err, ErrCapacity) {
			t.Errorf("New(%d) error %v, want ErrCapacity", c, err)
		}
	}
	l, err := New[int, int](1)
	if err != nil {
		t.Fatal(err)
	}
	l.Put(1, 1)
	l.Put(2, 2)
	if _, ok := l.Peek(1); ok || l.Len() != 1 {
		t.Error("capacity-1 LRU kept two entries")
	}
}

// TestLRUChurnKeepsBound drives many more keys than the capacity through a
// small LRU, deleting some, and checks the bound and that every key the
// reference says is present can be found (backward-shift deletion keeps
// probe runs intact).
// Every hash function must give the same answers: the default, the
// identity (clustered home slots) and a constant (one probe run holding
// every key); so must an LRU that starts small and grows (reserve 1 doubles
// from a single node; 3 reaches the capacity through a capped step, 48 to
// 64), whose index is rebuilt on the way, and one whose recency stamps
// run out. The stamps and the least recently used entry are checked after
// every fifth operation, the whole recency order now and then.
func TestLRUChurnKeepsBound(t *testing.T) {
	for name, h := range map[string]func(uint32) uint64{
		"maphash":  nil,
		"identity": func(k uint32) uint64 { return uint64(k) },
		"constant": func(uint32) uint64 { return 7 },
	} {
		for _, reserve := range []int{0, 1, 3} {
			t.Run(fmt.Sprintf("%s/reserve=%d", name, reserve), func(t *testing.T) { testLRUChurn(t, h, reserve, 0) })
		}
	}
	// The stamps run out mid-churn and are renumbered.
	t.Run("stampwrap", func(t *testing.T) { testLRUChurn(t, nil, 3, math.MaxUint32-50000) })
}

// checkStamps checks the recency stamps: each entry's is distinct, not
// 0 and not past the counter; a free node's is 0.
func checkStamps[K comparable, V any](t *testing.T, l *Map[K, V]) {
	t.Helper()
	var buf [64]uint32
	ss := buf[:0]
	for i := range l.nodes {
		if s := l.nodes[i].stamp; s != 0 {
			ss = append(ss, s)
		}
	}
	slices.Sort(ss)
	for j, s := range ss {
		if s > l.clock || j > 0 && s == ss[j-1] {
			t.Fatalf("stamps %v: repeated or past the counter %d", ss, l.clock)
		}
	}
	if len(ss) != l.n {
		t.Fatalf("%d stamped nodes for %d entries", len(ss), l.n)
	}
}

func testLRUChurn(t *testing.T, hash func(uint32) uint64, reserve int, clock uint32) {
	const capacity = 64
	l, err := NewWith[uint32, uint32](capacity, Options[uint32]{Hash: hash, Reserve: reserve})
	if err != nil {
		t.Fatal(err)
	}
	l.clock = clock
	if want := cmp.Or(reserve, capacity); l.Reserved() != want || l.Cap() != capacity {
		t.Fatalf("new LRU: Reserved, Cap = %d, %d; want %d, %d", l.Reserved(), l.Cap(), want, capacity)
	}
	ref := newRefLRU[uint32, uint32](capacity)
	var handles [200]Handle
	for k := range handles {
		handles[k] = Handle(k % (capacity + 3)) // some out of range
	}
	x := uint32(1)
	for i := range 100000 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		k := x % 200
		switch x % 7 {
		case 0:
			if got, want := l.Delete(k), ref.delete(k); got != want {
				t.Fatalf("op %d: Delete(%d) = %v, want %v", i, k, got, want)
			}
		case 1:
			gv, gok := l.Get(k)
			wv, wok := ref.get(k)
			if gv != wv || gok != wok {
				t.Fatalf("op %d: Get(%d) = %v, %v; want %v, %v", i, k, gv, gok, wv, wok)
			}
		case 2:
			// RefAt with the handle k last had, however stale: the
			// entry since deleted, evicted or its storage reused.
			p, h := l.RefAt(k, handles[k])
			wv, wok := ref.get(k)
			if (p != nil) != wok || p != nil && *p != wv || (h != 0) != wok {
				t.Fatalf("op %d: RefAt(%d, %d) = %v, %d; want %v, %v", i, k, handles[k], p, h, wv, wok)
			}
			if h != 0 {
				handles[k] = h
				if nd := &l.nodes[h-1]; &nd.val != p || nd.key != k {
					t.Fatalf("op %d: RefAt(%d) returned handle %d of key %d", i, k, h, nd.key)
				}
			}
		default:
			if got, want := l.Put(k, uint32(i)), ref.put(k, uint32(i)); got != want {
				t.Fatalf("op %d: Put(%d) evicted %v, want %v", i, k, got, want)
			}
		}
		if l.Len() > capacity || l.Len() != len(ref.keys) {
			t.Fatalf("op %d: Len %d, reference %d, cap %d", i, l.Len(), len(ref.keys), capacity)
		}
		if r := l.Reserved(); r < l.Len() || r > capacity {
			t.Fatalf("op %d: Reserved %d outside [Len %d, Cap %d]", i, r, l.Len(), capacity)
		}
		if i%5 != 0 {
			continue
		}
		checkStamps(t, l)
		if k, _, ok := l.Oldest(); ok != (len(ref.keys) > 0) || ok && k != ref.keys[len(ref.keys)-1] {
			t.Fatalf("op %d: Oldest = %d, %v; reference %v", i, k, ok, ref.keys)
		}
		if i%995 == 0 {
			if got := keysOf(l); !slices.Equal(got, ref.keys) {
				t.Fatalf("op %d: recency order\n got %v\nwant %v", i, got, ref.keys)
			}
		}
	}
	if l.Reserved() != capacity {
		t.Errorf("after the churn Reserved %d, want the capacity %d", l.Reserved(), capacity)
	}
	if got := keysOf(l); !slices.Equal(got, ref.keys) {
		t.Fatalf("recency order\n got %v\nwant %v", got, ref.keys)
	}
}

func TestLRUNoAlloc(t *testing.T) {
	l, err := New[[16]byte, uint32](1024)
	if err != nil {
		t.Fatal(err)
	}
	var k [16]byte
	n := uint32(0)
	allocs := testing.AllocsPerRun(10000, func() {
		n++
		k[0], k[1], k[2] = byte(n), byte(n>>8), byte(n>>16)
		l.Put(k, n)
		l.Get(k)
		_, h := l.RefAt(k, 0)
		l.RefAt(k, h)
		k[3] = 1
		l.Get(k)
		l.RefAt(k, h)
		k[3] = 0
		if n%3 == 0 {
			l.Delete(k)
		}
	})
	if allocs != 0 {
		t.Errorf("LRU Put/Get/Delete allocate %v per run", allocs)
	}
	if l.Len() > l.Cap() {
		t.Errorf("Len %d above Cap %d", l.Len(), l.Cap())
	}
}

// A growing LRU allocates while it doubles toward its working size, then
// no more: a table that has stopped growing and a full table that recycles
// its evicted nodes do not allocate.
func TestLRUGrowNoAllocAtWorkingSize(t *testing.T) {
	const capacity = 1000
	l, err := NewWith[[16]byte, uint32](capacity, Options[[16]byte]{Reserve: 4})
	if err != nil {
		t.Fatal(err)
	}
	var k [16]byte
	put := func(n uint32) {
		k[0], k[1], k[2] = byte(n), byte(n>>8), byte(n>>16)
		l.Put(k, n)
	}
	// 4 -> 8 -> ... -> 512 -> 1000: the storage doubles when a new key
	// finds it full, and the last step is capped at the capacity.
	want := 4
	for n := range uint32(capacity) {
		if int(n) == want {
			want = min(2*want, capacity)
		}
		put(n)
		if l.Reserved() != want {
			t.Fatalf("after %d puts Reserved %d, want %d", n+1, l.Reserved(), want)
		}
	}
	if l.Len() != capacity || l.Reserved() != capacity {
		t.Fatalf("Len, Reserved = %d, %d; want %d, %d", l.Len(), l.Reserved(), capacity, capacity)
	}
	n := uint32(capacity)
	allocs := testing.AllocsPerRun(10000, func() {
		n++
		put(n) // a new key: evicts and recycles in place
		l.Get(k)
	})
	if allocs != 0 {
		t.Errorf("full grown LRU: Put/Get allocate %v per run", allocs)
	}
	if l.Stats().Evictions == 0 {
		t.Error("churn on a full LRU evicted nothing")
	}

	// Working size below the capacity: a churn of 100 live keys.
	l, err = NewWith[[16]byte, uint32](1<<20, Options[[16]byte]{Reserve: 16})
	if err != nil {
		t.Fatal(err)
	}
	for n = range uint32(100) {
		put(n)
	}
	allocs = testing.AllocsPerRun(10000, func() {
		n++
		put(n)
		k[0], k[1], k[2] = byte(n-100), byte((n-100)>>8), byte((n-100)>>16)
		l.Delete(k)
	})
	if allocs != 0 {
		t.Errorf("LRU at its working size: Put/Delete allocate %v per run", allocs)
	}
	// Memory follows the entries held, not the bound of 1<<20.
	if l.Len() != 100 || l.Reserved() != 128 {
		t.Errorf("Len, Reserved = %d, %d; want 100, 128 (16 doubled three times)", l.Len(), l.Reserved())
	}
}

func TestNewLRUWith(t *testing.T) {
	if _, err := NewWith[int, int](8, Options[int]{Reserve: -1}); !errors.Is(err, ErrReserve) ||
		!strings.Contains(err.Error(), "reserve -1") {
		t.Errorf("Reserve -1: error %v, want ErrReserve naming reserve -1", err)
	}
	if _, err := NewWith[int, int](0, Options[int]{Reserve: 1}); !errors.Is(err, ErrCapacity) {
		t.Errorf("capacity 0: error %v, want ErrCapacity", err)
	}
	for _, c := range []struct{ reserve, want int }{{0, 8}, {1, 1}, {5, 5}, {8, 8}, {100, 8}} {
		l, err := NewWith[int, int](8, Options[int]{Reserve: c.reserve})
		if err != nil {
			t.Fatal(err)
		}
		if l.Reserved() != c.want {
			t.Errorf("Reserve %d: Reserved %d, want %d", c.reserve, l.Reserved(), c.want)
		}
	}
	// Growth keeps the recency order, and Clear keeps the storage.
	l, err := NewWith[int, int](5, Options[int]{Reserve: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if l.Put(i, i) {
			t.Fatalf("Put(%d) evicted below the capacity", i)
		}
	}
	l.Get(0)
	if got, want := keysOf(l), []int{0, 4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("recency order %v, want %v", got, want)
	}
	if !l.Put(5, 5) {
		t.Error("Put into the full grown LRU did not evict")
	}
	if _, ok := l.Peek(1); ok {
		t.Error("least recently used key 1 survived the eviction")
	}
	l.Clear()
	if l.Len() != 0 || l.Reserved() != 5 {
		t.Errorf("after Clear Len, Reserved = %d, %d; want 0, 5", l.Len(), l.Reserved())
	}
}

// refLRU is the obviously correct reference model: a slice of keys from the
// most to the least recently used and a map of values.
type refLRU[K comparable, V any] struct {
	capacity int
	keys     []K
	vals     map[K]V
}

func newRefLRU[K comparable, V any](capacity int) *refLRU[K, V] {
	return &refLRU[K, V]{capacity: capacity, vals: map[K]V{}}
}

func (r *refLRU[K, V]) promote(k K) {
	i := slices.Index(r.keys, k)
	r.keys = slices.Delete(r.keys, i, i+1)
	r.keys = slices.Insert(r.keys, 0, k)
}

func (r *refLRU[K, V]) get(k K) (V, bool) {
	v, ok := r.vals[k]
	if ok {
		r.promote(k)
	}
	return v, ok
}

func (r *refLRU[K, V]) put(k K, v V) (evicted bool) {
	if _, ok := r.vals[k]; ok {
		r.vals[k] = v
		r.promote(k)
		return false
	}
	if len(r.keys) == r.capacity {
		old := r.keys[len(r.keys)-1]
		r.keys = r.keys[:len(r.keys)-1]
		delete(r.vals, old)
		evicted = true
	}
	r.vals[k] = v
	r.keys = slices.Insert(r.keys, 0, k)
	return evicted
}

func (r *refLRU[K, V]) delete(k K) bool {
	if _, ok := r.vals[k]; !ok {
		return false
	}
	delete(r.vals, k)
	i := slices.Index(r.keys, k)
	r.keys = slices.Delete(r.keys, i, i+1)
	return true
}

// A growing LRU hands out its new storage in order as it fills it and
// leaves the rest untouched (zero, on no list); Clear zeroes what was
// used and starts over from the first node.
func TestLRUFreshStorageUntouched(t *testing.T) {
	l, err := NewWith[uint32, uint32](1000, Options[uint32]{Reserve: 4})
	if err != nil {
		t.Fatal(err)
	}
	untouched := func(when string) {
		t.Helper()
		for i := int(l.fresh); i < len(l.nodes); i++ {
			if l.nodes[i] != (node[uint32, uint32]{}) {
				t.Fatalf("%s: node %d of %d (fresh from %d) touched: %+v", when, i, len(l.nodes), l.fresh, l.nodes[i])
			}
		}
	}
	untouched("new")
	for k := range uint32(5) { // grows 4 -> 8 at the fifth
		l.Put(k, k)
	}
	if l.Reserved() != 8 || l.fresh != 5 {
		t.Fatalf("Reserved %d, fresh %d; want 8, 5", l.Reserved(), l.fresh)
	}
	untouched("grown")
	l.Delete(1)
	l.Put(9, 9) // reuses node 1, not a fresh one
	if l.fresh != 5 || l.nodes[1].key != 9 {
		t.Fatalf("after Delete and Put: fresh %d, node 1 holds %d; want 5, 9", l.fresh, l.nodes[1].key)
	}
	l.Clear()
	untouched("cleared")
	if l.fresh != 0 || l.Len() != 0 {
		t.Fatalf("after Clear: fresh %d, Len %d", l.fresh, l.Len())
	}
	l.Put(7, 7)
	if v, ok := l.Get(7); !ok || v != 7 || l.nodes[0].key != 7 {
		t.Fatalf("after Clear, Put(7) = %v, %v in node 0 holding %d", v, ok, l.nodes[0].key)
	}
	for k := range uint32(5) {
		if _, ok := l.Peek(k); ok {
			t.Fatalf("key %d present after Clear", k)
		}
	}
}
