package frag_test

import (
	"math/rand/v2"
	"testing"

	"github.com/titanlb/titanlb/frag"
	"github.com/twmb/murmur3"
)

// TestSetHashIsMurmur3 checks SetHash against an independent murmur3
// (github.com/twmb/murmur3) over the host pair's 8 bytes, plus the IP ID,
// and that its seed is the balancer's: the protocol does not move the set.
func TestSetHashIsMurmur3(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var s, d [4]byte
		for i := range 4 {
			s[i], d[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		proto, seed, id := uint8(r.Uint32()), r.Uint32(), uint16(r.Uint32())
		want := murmur3.SeedSum32(seed, append(s[:], d[:]...)) + uint32(id)
		if got := frag.SetHash(frag.KeyFrom4(s, d, proto, id), seed); got != want {
			t.Fatalf("%v > %v id %d seed %#x: SetHash %#x, murmur3+id %#x", s, d, id, seed, got, want)
		}
		if frag.SetHash(frag.KeyFrom4(s, d, proto+1, id), seed) != want {
			t.Fatalf("%v > %v: the protocol moved the set", s, d)
		}
		if frag.SetHash(frag.KeyFrom4(s, d, proto, 1), seed) == frag.SetHash(frag.KeyFrom4(s, d, proto, 0x100), seed) {
			t.Errorf("%v > %v: IP IDs 1 and 256 hash alike", s, d)
		}
	}
}

// TestSetHashConsecutiveIDs checks that a host pair's consecutive IP IDs
// take consecutive sets, and that the pair's offset depends on the seed.
func TestSetHashConsecutiveIDs(t *testing.T) {
	st, err := frag.NewSetTable(frag.SetOptions{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	s, d := [4]byte{10, 0, 0, 1}, [4]byte{192, 0, 2, 10}
	first := st.SetOf(frag.KeyFrom4(s, d, 17, 1000))
	for id := 1001; id < 1100; id++ {
		want := (first + id - 1000) % st.Sets()
		if got := st.SetOf(frag.KeyFrom4(s, d, 17, uint16(id))); got != want {
			t.Fatalf("IP ID %d: set %d, want %d (the set after ID %d's)", id, got, want, id-1)
		}
	}
	other, err := frag.NewSetTable(frag.SetOptions{Capacity: 4096, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if other.SetOf(frag.KeyFrom4(s, d, 17, 1000)) == first {
		t.Errorf("seeds 0 and 1 put the host pair's ID 1000 in set %d both", first)
	}
}

// TestSetHashIsMurmur3IPv6 checks SetHash of IPv6 keys against murmur3
// over the host pair's 32 bytes, plus the 32-bit identification.
func TestSetHashIsMurmur3IPv6(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		var s, d [16]byte
		for i := range 16 {
			s[i], d[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		proto, seed, id := uint8(r.Uint32()), r.Uint32(), r.Uint32()
		want := murmur3.SeedSum32(seed, append(s[:], d[:]...)) + id
		if got := frag.SetHash(frag.KeyFrom16(s, d, proto, id), seed); got != want {
			t.Fatalf("%v > %v id %d seed %#x: SetHash %#x, murmur3+id %#x", s, d, id, seed, got, want)
		}
		if frag.SetHash(frag.KeyFrom16(s, d, proto+1, id), seed) != want {
			t.Fatalf("%v > %v: the protocol moved the set", s, d)
		}
	}
	// An IPv6 key holding an IPv4 key's bytes hashes as IPv6 (32 bytes).
	k4 := frag.KeyFrom4([4]byte{10, 0, 0, 1}, [4]byte{192, 0, 2, 10}, 17, 9)
	k6 := frag.KeyFrom16([16]byte{10, 0, 0, 1}, [16]byte{192, 0, 2, 10}, 17, 9)
	if frag.SetHash(k4, 1) == frag.SetHash(k6, 1) {
		t.Error("IPv4 and IPv6 keys of the same bytes share a set hash")
	}
}
