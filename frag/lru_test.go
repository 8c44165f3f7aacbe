package frag

import (
	"errors"
	"slices"
	"testing"
)

// keysOf returns the LRU's keys from the most to the least recently used.
func keysOf[K comparable, V any](l *LRU[K, V]) []K {
	var ks []K
	for k := range l.All() {
		ks = append(ks, k)
	}
	return ks
}

func TestLRUOrderAndEviction(t *testing.T) {
	l, err := NewLRU[string, int](3)
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
	want := LRUStats{Hits: 1, Inserts: 5, Updates: 1, Evictions: 2}
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
	if l.Len() != 0 || l.Stats() != (LRUStats{}) || len(keysOf(l)) != 0 {
		t.Error("Clear left entries or counters")
	}
	if _, _, ok := l.Oldest(); ok {
		t.Error("Oldest of an empty LRU reported an entry")
	}
}

func TestNewLRUCapacity(t *testing.T) {
	for _, c := range []int{0, -1, MaxCapacity + 1} {
		if _, err := NewLRU[int, int](c); !errors.Is(err, ErrCapacity) {
			t.Errorf("NewLRU(%d) error %v, want ErrCapacity", c, err)
		}
	}
	l, err := NewLRU[int, int](1)
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
// every key).
func TestLRUChurnKeepsBound(t *testing.T) {
	for name, h := range map[string]func(uint32) uint64{
		"maphash":  nil,
		"identity": func(k uint32) uint64 { return uint64(k) },
		"constant": func(uint32) uint64 { return 7 },
	} {
		t.Run(name, func(t *testing.T) { testLRUChurn(t, h) })
	}
}

func testLRUChurn(t *testing.T, hash func(uint32) uint64) {
	const capacity = 64
	l, err := NewLRUFunc[uint32, uint32](capacity, hash)
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefLRU[uint32, uint32](capacity)
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
		case 1, 2:
			gv, gok := l.Get(k)
			wv, wok := ref.get(k)
			if gv != wv || gok != wok {
				t.Fatalf("op %d: Get(%d) = %v, %v; want %v, %v", i, k, gv, gok, wv, wok)
			}
		default:
			if got, want := l.Put(k, uint32(i)), ref.put(k, uint32(i)); got != want {
				t.Fatalf("op %d: Put(%d) evicted %v, want %v", i, k, got, want)
			}
		}
		if l.Len() > capacity || l.Len() != len(ref.keys) {
			t.Fatalf("op %d: Len %d, reference %d, cap %d", i, l.Len(), len(ref.keys), capacity)
		}
	}
	if got := keysOf(l); !slices.Equal(got, ref.keys) {
		t.Fatalf("recency order\n got %v\nwant %v", got, ref.keys)
	}
}

func TestLRUNoAlloc(t *testing.T) {
	l, err := NewLRU[[16]byte, uint32](1024)
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
		k[3] = 1
		l.Get(k)
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
