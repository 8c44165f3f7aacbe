package idmap

import (
	"math/rand/v2"
	"testing"
)

// A Map answers as a Go map does, whichever IDs it is given: small ones
// (the slice), then a large one (it moves to a map and keeps the others).
func TestMapMatchesGoMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, maxID := range []uint32{0, 10, DenseLimit - 1, DenseLimit, 1 << 20} {
		m := New[uint32, int](maxID)
		ref := map[uint32]int{}
		for i := range 5000 {
			id := rng.Uint32N(2*DenseLimit + 5)
			if i < 2500 {
				id %= DenseLimit // the slice first
			}
			if rng.IntN(2) == 0 {
				m.Set(id, i)
				ref[id] = i
			}
			got, ok := m.Get(id)
			want, wok := ref[id]
			if got != want || ok != wok {
				t.Fatalf("maxID %d, op %d: Get(%d) = %d, %v; want %d, %v", maxID, i, id, got, ok, want, wok)
			}
		}
	}
	var zero Map[uint32, string]
	if _, ok := zero.Get(3); ok {
		t.Error("the zero Map holds 3")
	}
	zero.Set(3, "x")
	if v, ok := zero.Get(3); !ok || v != "x" {
		t.Errorf("zero Map after Set(3): %q, %v", v, ok)
	}
}

func TestGetNoAllocs(t *testing.T) {
	m := New[uint32, [4]uint64](100)
	m.Set(7, [4]uint64{1})
	big := New[uint32, int](1 << 20)
	big.Set(1<<20, 1)
	if a := testing.AllocsPerRun(100, func() { m.Get(7); m.Get(200); big.Get(1 << 20) }); a != 0 {
		t.Errorf("Get allocates %v", a)
	}
}
