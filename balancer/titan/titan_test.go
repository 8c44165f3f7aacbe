package titan_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

// newLB returns a model serving Backends(3).
var newLB = testutil.Make(titan.New, testutil.Ready)

func process(b *titan.Balancer, now time.Duration, p balancer.Packet) balancer.Decision {
	return b.Process(&balancer.Env{Now: now}, &p)
}

func forwardTo(t *testing.T, d balancer.Decision) balancer.BackendID {
	t.Helper()
	if d.Action != balancer.Forward {
		t.Fatalf("decision %+v, want forward", d)
	}
	return d.Backend
}

func TestConfigDefaults(t *testing.T) {
	b, err := titan.New(titan.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := b.Config()
	want := titan.Config{
		Seed: balancer.DefaultSeed, RingSize: 65537, ConnTableSize: 131072,
		FragTableSize: 16384, FragTimeout: 30 * time.Second, HintTableSize: 131072,
		OrphanPolicy: titan.DefaultOrphanPolicy, OrphanAdmission: titan.DefaultOrphanAdmission,
		OrphanCredits: titan.DefaultOrphanCredits,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("zero Config resolves to\n%+v\nwant\n%+v", got, want)
	}
	if b.Name() != "titan" {
		t.Errorf("Name = %q", b.Name())
	}
	if titan.DefaultOrphanPolicy == titan.OrphanDefault {
		t.Error("DefaultOrphanPolicy must name a concrete policy")
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  titan.Config
		err  error
		text string
	}{
		{titan.Config{RingSize: 65536}, titan.ErrNotPrime, "titan: config.RingSize 65536: not prime"},
		{titan.Config{RingSize: 1}, titan.ErrNotPrime, "config.RingSize 1"},
		{titan.Config{RingSize: 1<<24 + 1}, titan.ErrTooLarge, "config.RingSize"},
		{titan.Config{ConnTableSize: -1}, titan.ErrNegative, "titan: config.ConnTableSize -1: must not be negative"},
		{titan.Config{FragTableSize: -5}, titan.ErrNegative, "config.FragTableSize -5"},
		{titan.Config{HintTableSize: -1}, titan.ErrNegative, "config.HintTableSize -1"},
		{titan.Config{ConnTableSize: 1 << 40}, titan.ErrTooLarge, "config.ConnTableSize"},
		{titan.Config{FragTimeout: -time.Second}, titan.ErrNegative, "config.FragTimeout -1s"},
		{titan.Config{OrphanPolicy: 3}, titan.ErrUnknownPolicy, "titan: config.OrphanPolicy 3: unknown orphan policy"},
		{titan.Config{VIPs: []netip.Addr{testutil.VIP, netip.MustParseAddr("2001:db8::1")}}, titan.ErrNotIPv4, "config.VIPs[1] 2001:db8::1"},
	} {
		_, err := titan.New(tc.cfg)
		testutil.WantError(t, err, tc.text, tc.err)
	}
}

func TestSetBackendsErrors(t *testing.T) {
	b := newLB(t, titan.Config{RingSize: 7})
	bs := testutil.Backends(3)
	bs[2].ID = 101
	if err := b.SetBackends(bs); !errors.Is(err, balancer.ErrDuplicateBackend) || !strings.Contains(err.Error(), "backends[2].ID 101") {
		t.Errorf("duplicate ID: %v", err)
	}
	if err := b.SetBackends(nil); !errors.Is(err, balancer.ErrNoBackends) {
		t.Errorf("no backends: %v", err)
	}
	// A failed SetBackends keeps the previous set.
	if d := process(b, 0, testutil.Whole(testutil.ClientN(1), balancer.ProtoTCP, 1000)); d.Action != balancer.Forward {
		t.Errorf("after a failed SetBackends: %+v", d)
	}
	// A ring smaller than the number of backends is refused.
	small, err := titan.New(titan.Config{RingSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := small.SetBackends(testutil.Backends(3)); err == nil || !strings.Contains(err.Error(), "size 2") {
		t.Errorf("3 backends on a ring of 2: %v", err)
	}
}

// TestCostTable checks the operations charged for each kind of packet
// against the spec's list (stats read, VIP read, hashes, table and array
// reads, writes, encapsulation), which docs/design.md tabulates.
func TestCostTable(t *testing.T) {
	const (
		h = cost.OpHash
		r = cost.OpArrayRead // every read but the VIP and service lookups and the ring's
		g = cost.OpRingRead  // the ring's slot at the flow's hash
		w = cost.OpMapWrite
		e = cost.OpEncap
		s = cost.OpStore // a new connection or hint entry: a way taken
	)
	type ops map[cost.Op]uint64
	src := testutil.ClientN(7)
	first, mid, _ := testutil.Fragments(src, balancer.ProtoUDP, 5000, 9)
	udp := testutil.Whole(src, balancer.ProtoUDP, 5000)
	tcp := testutil.Whole(src, balancer.ProtoTCP, 40000)
	tcp.TCPFlags = balancer.TCPSyn
	for _, pa := range []struct {
		policy    titan.OrphanPolicy
		admission titan.OrphanAdmission
	}{
		{titan.OrphanHash3, titan.AdmitAll}, {titan.OrphanHostHint, titan.AdmitAll},
		{titan.OrphanHash3, titan.AdmitEarned}, {titan.OrphanHostHint, titan.AdmitEarned},
	} {
		policy := pa.policy
		// hint: the hint table is kept (per new flow, a read of its set,
		// then a store, and for a whole packet the set index's hash; a
		// read per orphan); credit: the orphan credit is read per new flow
		// and per orphan of an unknown host. New connection and hint
		// entries are stores into sets already read (s), no map write; a
		// fragment's entry is a store into a set already in cache,
		// uncharged.
		hint, credit := uint64(0), uint64(0)
		if policy == titan.OrphanHostHint || pa.admission == titan.AdmitEarned {
			hint = 1
		}
		if pa.admission == titan.AdmitEarned {
			credit = 1
		}
		for _, tc := range []struct {
			name  string
			setup []balancer.Packet // processed first, unmetered
			p     balancer.Packet
			want  ops
		}{
			{"new TCP flow", nil, tcp, ops{r: 3 + hint + credit, g: 1, h: 1 + hint, e: 1, s: 1 + hint}},
			{"established TCP flow", []balancer.Packet{tcp}, tcp, ops{r: 3, h: 1, e: 1}},
			{"new UDP flow", nil, udp, ops{r: 3 + hint + credit, g: 1, h: 1 + hint, e: 1, s: 1 + hint}},
			{"established UDP flow", []balancer.Packet{udp}, udp, ops{r: 3, h: 1, e: 1}},
			// A fragment hashes its key to its set and reads the set
			// (h: 1, r: 1); the entry is stored into that set in place,
			// no map write. The host pair's hash of its set index is
			// the hint set's too.
			{"first fragment, new flow", nil, first, ops{r: 4 + hint + credit, g: 1, h: 2, e: 1, s: 1 + hint}},
			{"first fragment, known flow", []balancer.Packet{udp}, first, ops{r: 4, h: 2, e: 1}},
			{"non-first fragment, entry", []balancer.Packet{first}, mid, ops{r: 3, h: 1, e: 1}},
			{"first fragment after its orphan", []balancer.Packet{mid}, first, ops{r: 3, h: 1, e: 1}},
			{"orphan, no hint", nil, mid, ops{r: 3 + hint + credit, g: 1, h: 2, e: 1}},
		} {
			t.Run(policy.String()+"/"+pa.admission.String()+"/"+tc.name, func(t *testing.T) {
				b := newLB(t, titan.Config{OrphanPolicy: policy, OrphanAdmission: pa.admission})
				for _, p := range tc.setup {
					process(b, 0, p)
				}
				m := cost.NewMeter(cost.Default())
				d := b.Process(&balancer.Env{Meter: m}, &tc.p)
				if d.Action != balancer.Forward {
					t.Fatalf("decision %+v", d)
				}
				model := cost.Default()
				var stu cost.STU
				for op := cost.Op(0); op < cost.NumOps; op++ {
					if got := m.Count(op); got != tc.want[op] {
						t.Errorf("%v: %d, want %d", op, got, tc.want[op])
					}
					stu += cost.STU(tc.want[op]) * model.Cost(op)
				}
				if m.Total() != stu {
					t.Errorf("total %d STU, want %d", m.Total(), stu)
				}
			})
		}
	}
	// Host hint hit: an orphan between hosts that already have a flow.
	b := newLB(t, titan.Config{OrphanPolicy: titan.OrphanHostHint})
	process(b, 0, udp)
	m := cost.NewMeter(cost.Default())
	_, mid2, _ := testutil.Fragments(src, balancer.ProtoUDP, 6000, 77)
	b.Process(&balancer.Env{Meter: m}, &mid2)
	if m.Count(r) != 4 || m.Count(h) != 1 || m.Count(w) != 0 || m.Count(e) != 1 {
		t.Errorf("orphan with a hint hit: reads %d hashes %d writes %d encaps %d; want 4 1 0 1",
			m.Count(r), m.Count(h), m.Count(w), m.Count(e))
	}
	// The spec's worked example: established TCP, no VIPs, 110 STU.
	b = newLB(t, titan.Config{})
	process(b, 0, tcp)
	m.Reset()
	b.Process(&balancer.Env{Meter: m}, &tcp)
	if m.Total() != 110 {
		t.Errorf("established TCP costs %d STU, want 110", m.Total())
	}
}

// TestReorderedFragments: a non-first fragment that arrives before its
// first fragment is forwarded and recorded, and the rest of the datagram,
// the first fragment included, follows it.
func TestReorderedFragments(t *testing.T) {
	for _, policy := range []titan.OrphanPolicy{titan.OrphanHash3, titan.OrphanHostHint} {
		t.Run(policy.String(), func(t *testing.T) {
			b := newLB(t, titan.Config{OrphanPolicy: policy})
			ref := newLB(t, titan.Config{OrphanPolicy: policy}) // in-order 5-tuple pick
			differ := 0
			const n = 300
			for i := range n {
				first, mid, last := testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, uint16(1000+i), uint16(i))
				orphan := forwardTo(t, process(b, 0, last))
				if got := forwardTo(t, process(b, 0, first)); got != orphan {
					t.Fatalf("datagram %d: first fragment to %d, its orphan to %d", i, got, orphan)
				}
				if got := forwardTo(t, process(b, 0, mid)); got != orphan {
					t.Fatalf("datagram %d: middle fragment to %d, want %d", i, got, orphan)
				}
				if forwardTo(t, process(ref, 0, first)) != orphan {
					differ++
				}
			}
			s := b.Stats()
			if s.Orphans != n || s.FragFollowed != 2*n || s.Len.Frag != n {
				t.Errorf("stats %+v: want %d orphans, %d followed, %d entries", s, n, 2*n, n)
			}
			// The orphan's pick is not the 5-tuple's about 2/3 of the
			// time: following the entry is what keeps the datagram whole.
			if differ < n/3 {
				t.Errorf("orphans agreed with the 5-tuple pick for %d of %d datagrams: the test does not exercise following", n-differ, n)
			}
		})
	}
}

func TestConflictingFirstFragment(t *testing.T) {
	b := newLB(t, titan.Config{})
	first, mid, _ := testutil.Fragments(testutil.ClientN(1), balancer.ProtoUDP, 5000, 42)
	be := forwardTo(t, process(b, 0, first))
	other := first
	other.SrcPort = 5001
	m := cost.NewMeter(cost.Default())
	d := b.Process(&balancer.Env{Meter: m}, &other)
	if d.Action != balancer.Drop || d.Reason != titan.ReasonConflictingFirstFragment {
		t.Fatalf("conflicting first fragment: %+v", d)
	}
	if m.Count(cost.OpArrayRead) != 3 || m.Count(cost.OpHash) != 1 || m.Total() != 70 {
		t.Errorf("conflict costs %d array reads, %d hashes, %d STU; want 3 (stats, frag set, backend), 1 (set index), 70",
			m.Count(cost.OpArrayRead), m.Count(cost.OpHash), m.Total())
	}
	// A duplicate of the first fragment (same ports) follows; so does the
	// rest of the datagram.
	if forwardTo(t, process(b, 0, first)) != be || forwardTo(t, process(b, 0, mid)) != be {
		t.Error("datagram left its backend after a conflict")
	}
	s := b.Stats()
	if s.ConflictingFirstFragments != 1 || s.Dropped[titan.ReasonConflictingFirstFragment] != 1 || s.DroppedTotal() != 1 {
		t.Errorf("stats %+v", s)
	}
	// An orphan-created entry has no ports: the first fragment records
	// them, and a later first fragment with other ports conflicts.
	first2, mid2, _ := testutil.Fragments(testutil.ClientN(2), balancer.ProtoTCP, 7000, 43)
	be2 := forwardTo(t, process(b, 0, mid2))
	if forwardTo(t, process(b, 0, first2)) != be2 {
		t.Fatal("first fragment did not follow its orphan")
	}
	first2.DstPort = 80
	if d := process(b, 0, first2); d.Reason != titan.ReasonConflictingFirstFragment {
		t.Errorf("first fragment with other ports after ports were recorded: %+v", d)
	}
}

// TestEntryKeptAfterLastFragment: the MF=0 fragment does not delete the
// entry; a fragment arriving after it still follows.
func TestEntryKeptAfterLastFragment(t *testing.T) {
	b := newLB(t, titan.Config{})
	first, mid, last := testutil.Fragments(testutil.ClientN(3), balancer.ProtoUDP, 5000, 1)
	be := forwardTo(t, process(b, 0, first))
	forwardTo(t, process(b, time.Millisecond, last))
	if got := forwardTo(t, process(b, 2*time.Millisecond, mid)); got != be {
		t.Errorf("fragment after the last one went to %d, want %d", got, be)
	}
	s := b.Stats()
	if s.Orphans != 0 || s.Len.Frag != 1 || s.Frag.Hits != 2 {
		t.Errorf("stats %+v: want 0 orphans, 1 entry, 2 hits", s)
	}
}

func TestFragExpiry(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprint(timeout), func(t *testing.T) {
			b := newLB(t, titan.Config{FragTimeout: timeout, OrphanPolicy: titan.OrphanHash3})
			to := b.Config().FragTimeout
			first, mid, _ := testutil.Fragments(testutil.ClientN(4), balancer.ProtoUDP, 5000, 1)
			start := 5 * time.Second
			forwardTo(t, process(b, start, first))
			forwardTo(t, process(b, start+to, mid))
			if s := b.Stats(); s.Orphans != 0 || s.Frag.Expiries != 0 {
				t.Fatalf("at exactly the timeout: %+v", s)
			}
			forwardTo(t, process(b, start+to+1, mid))
			if s := b.Stats(); s.Orphans != 1 || s.Frag.Expiries != 1 {
				t.Errorf("past the timeout: orphans %d, expiries %d; want 1, 1", s.Orphans, s.Frag.Expiries)
			}
		})
	}
	// Recording the first fragment's ports in an orphan's entry keeps the
	// entry's creation time, as the kernel's in-place update does.
	b := newLB(t, titan.Config{FragTimeout: 10 * time.Second})
	first, mid, last := testutil.Fragments(testutil.ClientN(5), balancer.ProtoUDP, 5000, 2)
	forwardTo(t, process(b, 0, last))
	forwardTo(t, process(b, 9*time.Second, first))
	forwardTo(t, process(b, 11*time.Second, mid))
	if s := b.Stats(); s.Orphans != 2 || s.Frag.Expiries != 1 {
		t.Errorf("entry written at 0, ports recorded at 9 s, looked up at 11 s: orphans %d, expiries %d; want 2, 1", s.Orphans, s.Frag.Expiries)
	}
}

// flowsOn returns source ports of TCP flows from testutil.ClientN(0) that b places on
// backend id, out of n tried (each flow is processed once).
func flowsOn(t *testing.T, b *titan.Balancer, n int) map[balancer.BackendID][]uint16 {
	t.Helper()
	on := map[balancer.BackendID][]uint16{}
	for i := range n {
		sp := uint16(10000 + i)
		be := forwardTo(t, process(b, 0, testutil.Whole(testutil.ClientN(0), balancer.ProtoTCP, sp)))
		on[be] = append(on[be], sp)
	}
	return on
}

func TestConnRepickOnDownBackend(t *testing.T) {
	b := newLB(t, titan.Config{})
	on := flowsOn(t, b, 300)
	testutil.SetBackends(t, b, func(be *balancer.Backend) { be.Up = be.ID != 103 })
	moved := map[uint16]balancer.BackendID{}
	for _, sp := range on[103] {
		be := forwardTo(t, process(b, 0, testutil.Whole(testutil.ClientN(0), balancer.ProtoTCP, sp)))
		if be == 103 {
			t.Fatalf("flow %d still sent to down backend 103", sp)
		}
		moved[sp] = be
	}
	for _, id := range []balancer.BackendID{101, 102} {
		for _, sp := range on[id] {
			if be := forwardTo(t, process(b, 0, testutil.Whole(testutil.ClientN(0), balancer.ProtoTCP, sp))); be != id {
				t.Fatalf("flow %d on healthy %d moved to %d", sp, id, be)
			}
		}
	}
	if s := b.Stats(); s.ConnRepicks != uint64(len(on[103])) {
		t.Errorf("ConnRepicks %d, want %d", s.ConnRepicks, len(on[103]))
	}
	// 103 comes back: the re-picked entries were overwritten, so the moved
	// flows stay where they went.
	if err := b.SetBackends(testutil.Backends(3)); err != nil {
		t.Fatal(err)
	}
	for sp, want := range moved {
		if be := forwardTo(t, process(b, 0, testutil.Whole(testutil.ClientN(0), balancer.ProtoTCP, sp))); be != want {
			t.Fatalf("flow %d moved back to %d after 103 returned, want %d", sp, be, want)
		}
	}
}

func TestFragRepickOnDownBackend(t *testing.T) {
	b := newLB(t, titan.Config{})
	for i := range 100 {
		first, mid, last := testutil.Fragments(testutil.ClientN(i), balancer.ProtoUDP, 5000, uint16(i))
		if forwardTo(t, process(b, 0, first)) != 103 {
			continue
		}
		testutil.SetBackends(t, b, func(be *balancer.Backend) { be.Up = be.ID != 103 })
		be := forwardTo(t, process(b, 0, mid))
		if be == 103 {
			t.Fatal("fragment followed an entry to a down backend")
		}
		if got := forwardTo(t, process(b, 0, last)); got != be {
			t.Errorf("after the re-pick the last fragment went to %d, want %d (entry overwritten)", got, be)
		}
		if s := b.Stats(); s.FragRepicks != 1 || s.Orphans != 1 {
			t.Errorf("FragRepicks %d, Orphans %d; want 1, 1", s.FragRepicks, s.Orphans)
		}
		return
	}
	t.Fatal("no datagram landed on 103")
}

func TestDrainedBackendKeepsFlows(t *testing.T) {
	b := newLB(t, titan.Config{})
	on := flowsOn(t, b, 300)
	testutil.SetBackends(t, b, func(be *balancer.Backend) {
		if be.ID == 103 {
			be.Weight = 0 // drain
		}
	})
	for _, sp := range on[103] {
		if be := forwardTo(t, process(b, 0, testutil.Whole(testutil.ClientN(0), balancer.ProtoTCP, sp))); be != 103 {
			t.Fatalf("drained backend lost flow %d to %d", sp, be)
		}
	}
	for i := range 1000 {
		if be := forwardTo(t, process(b, 0, testutil.Whole(testutil.ClientN(1), balancer.ProtoTCP, uint16(i)))); be == 103 {
			t.Fatalf("new flow %d sent to drained backend 103", i)
		}
	}
}

func TestBackendRemoved(t *testing.T) {
	b := newLB(t, titan.Config{})
	on := flowsOn(t, b, 300)
	if err := b.SetBackends(testutil.Backends(3)[:2]); err != nil {
		t.Fatal(err)
	}
	for id, sps := range on {
		for _, sp := range sps {
			be := forwardTo(t, process(b, 0, testutil.Whole(testutil.ClientN(0), balancer.ProtoTCP, sp)))
			if id != 103 && be != id {
				t.Fatalf("flow %d moved from %d to %d though its backend stayed", sp, id, be)
			}
			if be == 103 {
				t.Fatalf("flow %d sent to removed backend", sp)
			}
		}
	}
}

func TestVIPFiltering(t *testing.T) {
	b := newLB(t, titan.Config{VIPs: []netip.Addr{testutil.VIP}})
	m := cost.NewMeter(cost.Default())
	p := testutil.Whole(testutil.ClientN(1), balancer.ProtoTCP, 1000)
	p.Dst = netip.MustParseAddr("192.0.2.99")
	if d := b.Process(&balancer.Env{Meter: m}, &p); d.Action != balancer.Pass {
		t.Errorf("packet to a non-VIP: %+v", d)
	}
	if m.Count(cost.OpArrayRead) != 1 || m.Count(cost.OpMapRead) != 1 || m.Total() != 40 {
		t.Errorf("non-VIP costs %d array and %d hash-map reads, %d STU; want 1 (stats) and 1 (VIP), 40",
			m.Count(cost.OpArrayRead), m.Count(cost.OpMapRead), m.Total())
	}
	m.Reset()
	p.Dst = testutil.VIP
	forwardTo(t, b.Process(&balancer.Env{Meter: m}, &p))
	if reads := m.Count(cost.OpArrayRead) + m.Count(cost.OpMapRead) + m.Count(cost.OpRingRead); reads != 7 {
		t.Errorf("new flow to a VIP: %d reads, want 7 (stats, VIP, conn, ring, backend, hint, orphan credit)", reads)
	}
	// No VIPs: every IPv4 destination is balanced; IPv6 is passed.
	all := newLB(t, titan.Config{})
	p.Dst = netip.MustParseAddr("198.51.100.1")
	forwardTo(t, process(all, 0, p))
	p.Dst = netip.MustParseAddr("2001:db8::1")
	if d := process(all, 0, p); d.Action != balancer.Pass {
		t.Errorf("IPv6 destination: %+v", d)
	}
	if s := b.Stats(); s.Passed != 1 || s.Forwarded != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestNoBackend(t *testing.T) {
	b, err := titan.New(titan.Config{})
	if err != nil {
		t.Fatal(err)
	}
	first, mid, _ := testutil.Fragments(testutil.ClientN(1), balancer.ProtoUDP, 5000, 1)
	for _, p := range []balancer.Packet{testutil.Whole(testutil.ClientN(1), balancer.ProtoTCP, 1), first, mid} {
		if d := process(b, 0, p); d.Action != balancer.Drop || d.Reason != balancer.ReasonNoBackend {
			t.Errorf("before SetBackends: %+v", d)
		}
	}
	testutil.SetBackends(t, b, func(be *balancer.Backend) { be.Up = false })
	if d := process(b, 0, testutil.Whole(testutil.ClientN(1), balancer.ProtoTCP, 1)); d.Reason != balancer.ReasonNoBackend {
		t.Errorf("all down: %+v", d)
	}
	s := b.Stats()
	if s.Dropped[balancer.ReasonNoBackend] != 4 || s.Len.Frag != 0 || s.Len.Conn != 0 {
		t.Errorf("stats %+v: want 4 no-backend drops, no entries", s)
	}
	if d := b.Process(nil, nil); d.Action != balancer.Drop || d.Reason != balancer.ReasonMalformed {
		t.Errorf("nil packet: %+v", d)
	}
}

// TestGlobalTables: decisions do not depend on the CPU that runs the
// packet. NIC RSS sends a datagram's fragments to other CPUs than its
// first fragment; the tables are shared.
func TestGlobalTables(t *testing.T) {
	var pkts []balancer.Packet
	for i := range 200 {
		first, mid, last := testutil.Fragments(testutil.ClientN(i%7), balancer.ProtoUDP, uint16(2000+i), uint16(i))
		if i%3 == 0 {
			pkts = append(pkts, last, testutil.Whole(testutil.ClientN(i%7), balancer.ProtoTCP, uint16(i)), first, mid)
		} else {
			pkts = append(pkts, first, mid, testutil.Whole(testutil.ClientN(i%7), balancer.ProtoUDP, uint16(2000+i)), last)
		}
	}
	one := newLB(t, titan.Config{})
	many := newLB(t, titan.Config{})
	x := uint32(12345)
	for i, p := range pkts {
		x = x*1103515245 + 12345
		want := one.Process(&balancer.Env{CPU: 0}, &p)
		got := many.Process(&balancer.Env{CPU: int(x>>16) % 8}, &p)
		if got != want {
			t.Fatalf("packet %d: CPU-dependent decision %+v vs %+v", i, got, want)
		}
	}
}

func TestHostHintPlacesOrphans(t *testing.T) {
	hint := newLB(t, titan.Config{OrphanPolicy: titan.OrphanHostHint})
	hash3 := newLB(t, titan.Config{OrphanPolicy: titan.OrphanHash3})
	agreeHint, agreeHash3 := 0, 0
	const n = 200
	for i := range n {
		src := testutil.ClientN(i)
		flow := forwardTo(t, process(hint, 0, testutil.Whole(src, balancer.ProtoUDP, 4000)))
		forwardTo(t, process(hash3, 0, testutil.Whole(src, balancer.ProtoUDP, 4000)))
		// An orphan of another datagram between the same hosts.
		_, mid, _ := testutil.Fragments(src, balancer.ProtoUDP, 4000, uint16(i))
		if forwardTo(t, process(hint, 0, mid)) == flow {
			agreeHint++
		}
		if forwardTo(t, process(hash3, 0, mid)) == flow {
			agreeHash3++
		}
	}
	if agreeHint != n || hint.Stats().HintHits != n {
		t.Errorf("host hint placed %d of %d orphans with their flow (%d hint hits)", agreeHint, n, hint.Stats().HintHits)
	}
	if agreeHash3 > n/2 {
		t.Errorf("hash3 placed %d of %d orphans with their flow: expected about 1/3", agreeHash3, n)
	}
}

func TestProcessNoAlloc(t *testing.T) {
	b := newLB(t, titan.Config{ConnTableSize: 512, FragTableSize: 256, HintTableSize: 128, VIPs: []netip.Addr{testutil.VIP}})
	env := &balancer.Env{Meter: cost.NewMeter(cost.Default())}
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		i++
		env.Now += time.Millisecond
		first, mid, last := testutil.Fragments(testutil.ClientN(i%300), balancer.ProtoUDP, uint16(i), uint16(i))
		w := testutil.Whole(testutil.ClientN(i%50), balancer.ProtoTCP, uint16(i%700))
		b.Process(env, &last)
		b.Process(env, &first)
		b.Process(env, &mid)
		b.Process(env, &w)
	})
	if allocs != 0 {
		t.Errorf("Process allocates %v per run", allocs)
	}
	if s := b.Stats(); s.Conn.Evictions == 0 || s.Frag.Evictions == 0 {
		t.Errorf("the run should have filled the tables: %+v", s)
	}
}

// FuzzProcess feeds arbitrary packets, malformed ones included: Process
// never panics, every decision is one a balancer may make, and a packet is
// forwarded only to a backend that is up.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{1, 6, 1, 2, 0, 0, 0, 4, 2, 0, 0, 0}, uint8(0))
	f.Add([]byte{1, 17, 1, 2, 0, 0, 1, 90, 0, 5, 0, 1, 1, 17, 0, 0, 0, 185, 0, 40, 0, 5, 0, 2}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, down uint8) {
		b := newLB(t, titan.Config{RingSize: 13, ConnTableSize: 8, FragTableSize: 4, HintTableSize: 2, FragTimeout: 10 * time.Second})
		bs := testutil.Backends(3)
		bs[down%3].Up = down&4 == 0
		bs[(down+1)%3].Weight = uint32(down >> 4)
		if err := b.SetBackends(bs); err != nil {
			t.Fatal(err)
		}
		testutil.FuzzProcess(t, b, data, func(p *balancer.Packet, d balancer.Decision) {
			for _, be := range bs {
				if d.Action == balancer.Forward && be.ID == d.Backend && !be.Up {
					t.Fatalf("forwarded %+v to down backend %d", *p, be.ID)
				}
			}
		})
	})
}

// TestPortsOnlyForTCPAndUDP: a protocol without ports keys and hashes its
// flow with ports 0, whatever the header view holds.
func TestPortsOnlyForTCPAndUDP(t *testing.T) {
	b := newLB(t, titan.Config{})
	for i := range 50 {
		p := balancer.Packet{Src: testutil.ClientN(i), Dst: testutil.VIP, Proto: 47} // GRE
		want := forwardTo(t, process(b, 0, p))
		p.SrcPort, p.DstPort = uint16(i+1), 443
		if got := forwardTo(t, process(b, 0, p)); got != want {
			t.Fatalf("GRE packet with stray ports went to %d, without to %d", got, want)
		}
	}
	if s := b.Stats(); s.ConnHits != 50 || s.NewFlows != 50 {
		t.Errorf("ConnHits %d NewFlows %d, want 50 and 50: stray ports made new flows", s.ConnHits, s.NewFlows)
	}
}

// TestMalformedDropped: a packet no IPv4 header can carry (an offset
// above 13 bits, IHL outside 5 to 15, a total length below the header, a
// fragment empty or past 65535 bytes) is dropped as malformed and
// counted, and writes no table entry; an unusual but valid one is
// forwarded.
func TestMalformedDropped(t *testing.T) {
	b := newLB(t, titan.Config{})
	bad := testutil.Malformed()
	for _, c := range bad {
		b.Process(&balancer.Env{}, &c.P)
	}
	s := b.Stats()
	if s.Dropped[balancer.ReasonMalformed] != uint64(len(bad)) || s.Packets != uint64(len(bad)) || s.Len.Conn+s.Len.Frag != 0 {
		t.Errorf("stats %+v: want %d malformed drops of as many packets, no entries", s, len(bad))
	}
	testutil.DropsMalformed(t, b, func() uint64 { return b.Stats().Dropped[balancer.ReasonMalformed] })
	for _, c := range testutil.Unusual() {
		if d := b.Process(&balancer.Env{}, &c.P); d.Action != balancer.Forward {
			t.Errorf("%s: %+v, want forward", c.Name, d)
		}
	}
}
