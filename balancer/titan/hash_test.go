package titan

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
)

// TestFlowHashes checks that finishing a packet's host-pair hash gives
// balancer.Hash5 and Hash3 of the packet, for both families, every seed
// and ports zeroed for a protocol without them, and the host pair's set
// hash plus a datagram's ID gives frag.SetHash of its key (the hash
// Process hands the fragment table): Process hashes each packet's host
// pair once, as the kernel program does.
func TestFlowHashes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	addr := func(v6 bool) netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if v6 {
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	for i := range 5000 {
		v6 := i%2 == 1
		p := balancer.Packet{Src: addr(v6), Dst: addr(v6), Proto: []uint8{6, 17, 1, 132}[i%4],
			SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32())}
		seed := r.Uint32()
		s0, s1 := words(p.Src, v6)
		d0, d1 := words(p.Dst, v6)
		hh := hostHash(seed, s0, s1, d0, d1, v6)
		sp, dp := ports(&p)
		q := balancer.Packet{Src: p.Src, Dst: p.Dst, Proto: p.Proto, SrcPort: sp, DstPort: dp}
		if got, want := flowHash5(hh, sp, dp, p.Proto, v6), balancer.Hash5(&q, seed); got != want {
			t.Fatalf("%+v seed %d: flowHash5 %#x, Hash5 %#x", q, seed, got, want)
		}
		if got, want := flowHash3(hh, p.Proto, v6), balancer.Hash3(&p, seed); got != want {
			t.Fatalf("%+v seed %d: flowHash3 %#x, Hash3 %#x", p, seed, got, want)
		}
		id := r.Uint32()
		k := frag.MakeKey6(p.Src, p.Dst, p.Proto, id)
		if !v6 {
			id &= 0xffff
			k = frag.MakeKey(p.Src, p.Dst, p.Proto, uint16(id))
		}
		if got, want := hostSetHash(hh, v6)+id, frag.SetHash(k, seed); got != want {
			t.Fatalf("%+v ID %#x seed %d: hostSetHash + ID %#x, frag.SetHash %#x", p, id, seed, got, want)
		}
	}
}
