package frag_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

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

// TestHashedIsPlain checks that LookupHashed and InsertHashed with a key's
// SetHash are Lookup and Insert: the same entries, evictions and counters,
// for both families, in a table small enough to evict; that a miss
// leaves the caller's Entry as it was; and that another hash looks in
// another set.
func TestHashedIsPlain(t *testing.T) {
	const seed = 7
	untouched := frag.Entry{Backend: 1 << 31, SrcPort: 7, HasPorts: true, Created: -1}
	opts := frag.SetOptions{Capacity: 64, Timeout: 50, Seed: seed}
	plain, err := frag.NewSetTable(opts)
	if err != nil {
		t.Fatal(err)
	}
	hashed, _ := frag.NewSetTable(opts)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 20_000 {
		s, d := netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(8))}), netip.AddrFrom4([4]byte{192, 0, 2, 1})
		k := frag.MakeKey(s, d, 17, uint16(r.IntN(64)))
		if r.IntN(2) == 0 {
			k = frag.MakeKey6(netip.AddrFrom16([16]byte{0x20, 1, 15: byte(r.IntN(8))}), netip.MustParseAddr("2001:db8::1"), 17, uint32(r.IntN(64)))
		}
		h, now := frag.SetHash(k, seed), time.Duration(i)
		if r.IntN(3) == 0 {
			e := frag.Entry{Backend: uint32(i), Created: now}
			if a, b := plain.Insert(k, e, now), hashed.InsertHashed(k, h, &e, now); a != b {
				t.Fatalf("op %d: Insert(%v) evicted %v, InsertHashed %v", i, k, a, b)
			}
			continue
		}
		e1, ok1 := plain.Lookup(k, now)
		e2 := untouched // a miss leaves it so
		ok2 := hashed.LookupHashed(k, h, now, &e2)
		if ok1 != ok2 || ok1 && e1 != e2 || !ok1 && e2 != untouched {
			t.Fatalf("op %d: Lookup(%v) %+v %v, LookupHashed %+v %v", i, k, e1, ok1, e2, ok2)
		}
	}
	if plain.Stats() != hashed.Stats() || plain.Len() != hashed.Len() || plain.Stats().Evictions == 0 {
		t.Fatalf("stats %+v (len %d), hashed %+v (len %d): want equal, with evictions", plain.Stats(), plain.Len(), hashed.Stats(), hashed.Len())
	}
	k := frag.MakeKey(netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("192.0.2.1"), 6, 1)
	h := frag.SetHash(k, seed)
	hashed.InsertHashed(k, h, &frag.Entry{Backend: 1, Created: 20_000}, 20_000)
	if ok := hashed.LookupHashed(k, h+1, 20_000, new(frag.Entry)); ok {
		t.Error("LookupHashed found a key with the hash of the next set")
	}
	if e, ok := hashed.Lookup(k, 20_000); !ok || e.Backend != 1 {
		t.Errorf("Lookup after InsertHashed: %+v %v, want backend 1", e, ok)
	}
	// A nil Entry: looked up, it only reports; inserted, it is the zero one.
	if !hashed.LookupHashed(k, h, 20_000, nil) {
		t.Error("LookupHashed(nil) did not find the entry")
	}
	hashed.InsertHashed(k, h, nil, 20_000)
	if e, ok := hashed.Lookup(k, 10); !ok || e != (frag.Entry{}) { // Created 0: live until 50
		t.Errorf("after InsertHashed(nil): %+v %v, want the zero entry", e, ok)
	}
}
