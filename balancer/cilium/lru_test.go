package cilium

import (
	"container/list"
	"math/rand/v2"
	"testing"
)

// refLRU is the obvious LRU (a map and a list) the table is checked against.
type refLRU struct {
	cap int
	m   map[uint32]*list.Element
	l   *list.List
}

type refEntry struct{ k, v uint32 }

func (r *refLRU) get(k uint32) (uint32, bool) {
	e, ok := r.m[k]
	if !ok {
		return 0, false
	}
	r.l.MoveToFront(e)
	return e.Value.(refEntry).v, true
}

func (r *refLRU) put(k, v uint32) {
	if e, ok := r.m[k]; ok {
		e.Value = refEntry{k, v}
		r.l.MoveToFront(e)
		return
	}
	if r.l.Len() == r.cap {
		old := r.l.Back()
		r.l.Remove(old)
		delete(r.m, old.Value.(refEntry).k)
	}
	r.m[k] = r.l.PushFront(refEntry{k, v})
}

func TestLRUMatchesReference(t *testing.T) {
	for _, c := range []struct {
		name string
		hash func(uint32) uint64
	}{
		{"good hash", func(k uint32) uint64 { return mix64(uint64(k)) }},
		{"colliding hash", func(k uint32) uint64 { return uint64(k % 5) }}, // long probe runs
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			got := newLRU[uint32, uint32](50, 4, c.hash)
			want := &refLRU{cap: 50, m: map[uint32]*list.Element{}, l: list.New()}
			for i := range 200000 {
				k := uint32(rng.IntN(120))
				if rng.IntN(2) == 0 {
					v := uint32(i)
					got.put(k, v)
					want.put(k, v)
				} else {
					gv, gok := got.get(k)
					wv, wok := want.get(k)
					if gok != wok || (gok && *gv != wv) {
						t.Fatalf("op %d: get(%d) = %v,%v; reference %v,%v", i, k, gv, gok, wv, wok)
					}
				}
				if got.len() != want.l.Len() {
					t.Fatalf("op %d: len %d, reference %d", i, got.len(), want.l.Len())
				}
			}
		})
	}
}
