package balancer

import (
	"net/netip"
	"testing"
)

func ringBackends() []Backend {
	return []Backend{
		{ID: 103, Name: "103", Addr: netip.MustParseAddr("10.1.0.3"), Weight: 1, Up: true},
		{ID: 101, Name: "101", Addr: netip.MustParseAddr("10.1.0.1"), Weight: 1, Up: true},
		{ID: 102, Name: "102", Addr: netip.MustParseAddr("10.1.0.2"), Weight: 1, Up: true},
	}
}

func TestRingOrderIndependent(t *testing.T) {
	a, err := NewRing(ringBackends(), 0)
	if err != nil {
		t.Fatal(err)
	}
	bs := ringBackends()
	bs[0], bs[2] = bs[2], bs[0]
	b, err := NewRing(bs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Slots {
		if a.Slots[i] != b.Slots[i] {
			t.Fatalf("slot %d differs with input order: %d vs %d", i, a.Slots[i], b.Slots[i])
		}
	}
	for h := uint32(0); h < 1000; h++ {
		id, ok := a.Lookup(h * 7919)
		if !ok || uint32(id) != a.Slots[(h*7919)%uint32(len(a.Slots))] {
			t.Fatalf("Lookup(%d) = %d, %v", h*7919, id, ok)
		}
	}
}

func TestRingDownAndDrainedTakeNoSlots(t *testing.T) {
	bs := ringBackends()
	bs[0].Up = false // 103 down
	bs[1].Weight = 0 // 101 drained
	r, err := NewRing(bs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range r.Slots {
		if s != 102 {
			t.Fatalf("slot %d = %d, want 102 (the only eligible backend)", i, s)
		}
	}
	bs[2].Up = false
	r, err = NewRing(bs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup(1); ok || r.Slots[0] != RingNone {
		t.Error("a ring with no eligible backend returned one")
	}
}

func TestNewRingErrors(t *testing.T) {
	bs := ringBackends()
	bs[1].ID = 103
	if _, err := NewRing(bs, 0); err == nil {
		t.Error("duplicate ID accepted")
	}
	if _, err := NewRing(ringBackends(), 100); err == nil {
		t.Error("non-prime size accepted")
	}
	if _, err := NewRing(nil, 0); err == nil {
		t.Error("empty set accepted")
	}
}
