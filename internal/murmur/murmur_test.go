package murmur

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/twmb/murmur3"
)

// TestStepsAreMurmur3 checks the steps against an independent murmur3
// (github.com/twmb/murmur3) over keys of 4 to 16 bytes.
func TestStepsAreMurmur3(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		seed, n := r.Uint32(), 1+r.IntN(4)
		key := make([]byte, 4*n)
		h := seed
		for i := range n {
			w := [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
			copy(key[4*i:], w[:])
			if Word(w) != binary.LittleEndian.Uint32(w[:]) {
				t.Fatalf("Word(%v) = %#x", w, Word(w))
			}
			h = Mix(h, Word(w))
		}
		if got, want := Fmix(h^uint32(len(key))), murmur3.SeedSum32(seed, key); got != want {
			t.Fatalf("key %x seed %#x: %#x, murmur3 %#x", key, seed, got, want)
		}
	}
}
