package frag

import (
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
