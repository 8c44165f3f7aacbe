package frag

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

var (
	srcA = netip.MustParseAddr("10.0.0.1")
	dstV = netip.MustParseAddr("192.0.2.10")
)

func TestKey(t *testing.T) {
	k := MakeKey(srcA, dstV, 17, 42)
	if k.Src() != srcA || k.Dst() != dstV || k.Proto() != 17 || k.ID() != 42 {
		t.Errorf("accessors of %v", k)
	}
	if got, want := k.String(), "10.0.0.1->192.0.2.10/17#42"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if k != KeyFrom4(srcA.As4(), dstV.As4(), 17, 42) {
		t.Error("MakeKey and KeyFrom4 disagree")
	}
	if MakeKey(netip.MustParseAddr("::ffff:10.0.0.1"), dstV, 17, 42) != k {
		t.Error("IPv4-mapped address not unmapped")
	}
	if got := MakeKey(netip.MustParseAddr("2001:db8::1"), netip.Addr{}, 6, 1).Src(); got != netip.IPv4Unspecified() {
		t.Errorf("IPv6 source became %v, want 0.0.0.0", got)
	}
	if MakeKey(srcA, dstV, 17, 43) == k || MakeKey(srcA, dstV, 6, 42) == k {
		t.Error("keys differing in ID or proto compare equal")
	}
	if n := testing.AllocsPerRun(100, func() { k = MakeKey(srcA, dstV, 17, k.ID()+1) }); n != 0 {
		t.Errorf("MakeKey allocates %v", n)
	}
}

func TestKey6(t *testing.T) {
	s6, d6 := netip.MustParseAddr("2001:db8:ff::1"), netip.MustParseAddr("2001:db8::10")
	k := MakeKey6(s6, d6, 17, 0xdeadbeef)
	if !k.Is6() || k.Src() != s6 || k.Dst() != d6 || k.Proto() != 17 || k.ID32() != 0xdeadbeef || k.ID() != 0xbeef {
		t.Errorf("accessors of %v", k)
	}
	if got, want := k.String(), "2001:db8:ff::1->2001:db8::10/17#3735928559"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if k != KeyFrom16(s6.As16(), d6.As16(), 17, 0xdeadbeef) {
		t.Error("MakeKey6 and KeyFrom16 disagree")
	}
	if MakeKey6(s6, d6, 17, 0xbeef) == k || MakeKey6(s6, d6, 6, 0xdeadbeef) == k || MakeKey6(d6, s6, 17, 0xdeadbeef) == k {
		t.Error("keys differing in the ID's high bits, the protocol or the direction compare equal")
	}
	// An IPv6 key whose addresses hold an IPv4 key's bytes is another key.
	k4 := KeyFrom4([4]byte{10, 0, 0, 1}, [4]byte{192, 0, 2, 10}, 17, 42)
	k6 := KeyFrom16([16]byte{10, 0, 0, 1}, [16]byte{192, 0, 2, 10}, 17, 42)
	if k4 == k6 || k4.Is6() || !k6.Is6() {
		t.Errorf("IPv4 key %v and IPv6 key %v with the same bytes are not told apart", k4, k6)
	}
	if k4.ID32() != 42 || k4.Src() != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("IPv4 accessors of %v", k4)
	}
	if got := MakeKey6(srcA, netip.Addr{}, 6, 1); got.Src() != netip.MustParseAddr("::ffff:10.0.0.1") || got.Dst() != netip.IPv6Unspecified() {
		t.Errorf("MakeKey6 of an IPv4 and an unset address: %v", got)
	}
	if n := testing.AllocsPerRun(100, func() { k = MakeKey6(s6, d6, 17, k.ID32()+1) }); n != 0 {
		t.Errorf("MakeKey6 allocates %v", n)
	}
}

// TestKeyHashIPv4Unchanged pins the IPv4 key's 64-bit index hash (the
// reassembler's) to its value before keys held IPv6.
func TestKeyHashIPv4Unchanged(t *testing.T) {
	for _, tc := range []struct {
		k    Key
		want uint64
	}{
		{MakeKey(srcA, dstV, 17, 42), 0x8d1ff13d25c9cd3d},
		{Key{}, 0x6393d51c06c618dc},
	} {
		if got := mkKey4(tc.k.src0, tc.k.dst0, tc.k.meta).hash(); got != tc.want {
			t.Errorf("%v: hash %#x, want %#x", tc.k, got, tc.want)
		}
	}
	k6 := KeyFrom16([16]byte{10, 0, 0, 1}, [16]byte{192, 0, 2, 10}, 17, 42)
	if mkKey6(k6.src0, k6.src1, k6.dst0, k6.dst1, k6.meta).hash() == mkKey4(k6.src0, k6.dst0, k6.meta).hash() {
		t.Error("an IPv6 key hashes as the IPv4 key of its first bytes")
	}
}

// TestKeyFromWords checks KeyFromWords against KeyFrom4 and KeyFrom16
// on the words their documentation describes, and that an IPv4 key
// ignores what the words hold beyond an IPv4 address and a 16-bit ID.
func TestKeyFromWords(t *testing.T) {
	le := binary.LittleEndian
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var s, d [16]byte
		for i := range s {
			s[i], d[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		proto, id := uint8(r.Uint32()), r.Uint32()
		k6 := KeyFromWords(le.Uint64(s[:8]), le.Uint64(s[8:]), le.Uint64(d[:8]), le.Uint64(d[8:]), proto, id, true)
		if want := KeyFrom16(s, d, proto, id); k6 != want {
			t.Fatalf("IPv6 %x -> %x/%d#%d: %v, want %v", s, d, proto, id, k6, want)
		}
		s4, d4 := [4]byte(s[:4]), [4]byte(d[:4])
		k4 := KeyFromWords(uint64(le.Uint32(s4[:])), 0, uint64(le.Uint32(d4[:])), 0, proto, uint32(uint16(id)), false)
		if want := KeyFrom4(s4, d4, proto, uint16(id)); k4 != want {
			t.Fatalf("IPv4 %x -> %x/%d#%d: %v, want %v", s4, d4, proto, uint16(id), k4, want)
		}
		// Whole IPv6 words and a 32-bit ID make the same IPv4 key.
		if got := KeyFromWords(le.Uint64(s[:8]), le.Uint64(s[8:]), le.Uint64(d[:8]), le.Uint64(d[8:]), proto, id, false); got != k4 {
			t.Fatalf("IPv4 key of wider words: %v, want %v", got, k4)
		}
	}
}
