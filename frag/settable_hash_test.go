package frag_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
)

// TestSetHashIsMurmur3 checks SetHash against balancer.Hash3, the
// project's murmur3 over the same first two words: for IP ID 0 the third
// word is the protocol alone, as in Hash3's key, so the two agree when
// Hash3 gets the tweaked seed.
func TestSetHashIsMurmur3(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var s, d [4]byte
		for i := range 4 {
			s[i], d[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		proto, seed := uint8(r.Uint32()), r.Uint32()
		p := balancer.Packet{Src: netip.AddrFrom4(s), Dst: netip.AddrFrom4(d), Proto: proto}
		if got, want := frag.SetHash(frag.KeyFrom4(s, d, proto, 0), seed), balancer.Hash3(&p, seed^frag.SetSeedTweak); got != want {
			t.Fatalf("%v: SetHash %#x, Hash3 %#x", p, got, want)
		}
		if frag.SetHash(frag.KeyFrom4(s, d, proto, 1), seed) == frag.SetHash(frag.KeyFrom4(s, d, proto, 0x100), seed) {
			t.Errorf("%v: IP IDs 1 and 256 hash alike", p)
		}
	}
}
