package titan_test

import (
	"errors"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

// TestAdmitEarned walks the orphan credit: orphans of unknown host pairs
// spend it and are refused once it is gone (dropped, counted, cheap, no
// table write); an orphan of a known host pair passes without credit; a
// new flow earns one credit back, never beyond the bound.
func TestAdmitEarned(t *testing.T) {
	b := newLB(t, titan.Config{OrphanCredits: 2})
	orphan := func(host, id int) balancer.Packet {
		_, mid, _ := testutil.Fragments(testutil.ClientN(host), balancer.ProtoUDP, 0, uint16(id))
		return mid
	}
	for i := range 2 {
		forwardTo(t, process(b, 0, orphan(100+i, i)))
	}
	if s := b.Stats(); s.Credit != 0 || s.UnknownOrphans != 0 || s.Len.Frag != 2 {
		t.Fatalf("after two admitted orphans: credit %d, refused %d, frag entries %d; want 0, 0, 2", s.Credit, s.UnknownOrphans, s.Len.Frag)
	}
	m := cost.NewMeter(cost.Default())
	p := orphan(102, 2)
	d := b.Process(&balancer.Env{Meter: m}, &p)
	if d.Action != balancer.Drop || d.Reason != titan.ReasonUnknownOrphan {
		t.Fatalf("orphan with the credit spent: %+v, want a drop %q", d, titan.ReasonUnknownOrphan)
	}
	// stats, fragment set (and its index hash), hint table, credit: 4
	// reads and a hash, 90 STU.
	if m.Total() != 90 || m.Count(cost.OpMapWrite) != 0 {
		t.Errorf("refused orphan costs %d STU with %d writes, want 90 and none", m.Total(), m.Count(cost.OpMapWrite))
	}
	s := b.Stats()
	if s.UnknownOrphans != 1 || s.Dropped[titan.ReasonUnknownOrphan] != 1 || s.Len.Frag != 2 {
		t.Errorf("refusal counted %d (dropped %v), frag entries %d; want 1 and 2", s.UnknownOrphans, s.Dropped, s.Len.Frag)
	}
	// A flow from host 7 makes its host pair known: its orphans pass with
	// no credit; the new flow earned one.
	forwardTo(t, process(b, 0, testutil.Whole(testutil.ClientN(7), balancer.ProtoUDP, 5000)))
	if c := b.Stats().Credit; c != 1 {
		t.Errorf("credit after a new flow %d, want 1", c)
	}
	forwardTo(t, process(b, 0, orphan(7, 9)))
	forwardTo(t, process(b, 0, orphan(7, 10)))
	if c := b.Stats().Credit; c != 1 {
		t.Errorf("orphans of a known host spent credit: %d left, want 1", c)
	}
	// The earned credit admits one more unknown orphan.
	forwardTo(t, process(b, 0, orphan(103, 3)))
	if d := process(b, 0, orphan(104, 4)); d.Action != balancer.Drop {
		t.Errorf("second unknown orphan on one credit: %+v", d)
	}
	// The credit never exceeds its bound.
	for i := range 10 {
		process(b, 0, testutil.Whole(testutil.ClientN(200+i), balancer.ProtoTCP, 6000))
	}
	if c := b.Stats().Credit; c != 2 {
		t.Errorf("credit %d after 10 new flows, want the bound 2", c)
	}
	// Later fragments of an admitted orphan's datagram follow its entry.
	first, _, last := testutil.Fragments(testutil.ClientN(103), balancer.ProtoUDP, 7000, 3)
	forwardTo(t, process(b, 0, first))
	forwardTo(t, process(b, 0, last))
}

// TestAdmitAll admits every orphan, as Titan did before admission control.
func TestAdmitAll(t *testing.T) {
	b := newLB(t, titan.Config{OrphanAdmission: titan.AdmitAll, OrphanCredits: 1})
	for i := range 10 {
		_, mid, _ := testutil.Fragments(testutil.ClientN(300+i), balancer.ProtoUDP, 0, uint16(i))
		forwardTo(t, process(b, 0, mid))
	}
	if s := b.Stats(); s.UnknownOrphans != 0 || s.Len.Frag != 10 {
		t.Errorf("AdmitAll refused %d orphans, recorded %d; want 0 and 10", s.UnknownOrphans, s.Len.Frag)
	}
}

func TestAdmissionConfig(t *testing.T) {
	if _, err := titan.New(titan.Config{OrphanAdmission: 9}); !errors.Is(err, titan.ErrUnknownAdmission) {
		t.Errorf("OrphanAdmission 9: %v", err)
	}
	if _, err := titan.New(titan.Config{OrphanCredits: -1}); !errors.Is(err, titan.ErrNegative) {
		t.Errorf("OrphanCredits -1: %v", err)
	}
	for a, want := range map[titan.OrphanAdmission]string{titan.AdmitDefault: "default", titan.AdmitAll: "all", titan.AdmitEarned: "earned", 7: "admission(7)"} {
		if a.String() != want {
			t.Errorf("%d.String() = %q, want %q", a, a, want)
		}
	}
	if titan.DefaultOrphanAdmission == titan.AdmitDefault {
		t.Error("DefaultOrphanAdmission must name a concrete policy")
	}
}
