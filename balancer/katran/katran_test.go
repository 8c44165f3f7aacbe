package katran

import (
	"net/netip"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

// The models the tests use: newTest serving Backends(3); dual the
// catch-alls of Backends(3) and Backends6(2), so that every IPv4 and
// every IPv6 destination is a VIP; services serving testutil.Services.
var (
	newTest  = testutil.Make(New, testutil.Ready)
	dual     = testutil.Make(New, testutil.ReadyDual)
	services = testutil.Make(New, testutil.ReadyServices)
)

// TestOpCountsMatchDoc checks Process against the op-count table of
// docs/fidelity.md, each packet run on CPU 3 (a forwarding core).
func TestOpCountsMatchDoc(t *testing.T) {
	def := func() balancer.Balancer { return newTest(t, Config{}) }
	naive := func() balancer.Balancer { return newTest(t, Config{Naive: true}) }
	ops := []cost.Op{cost.OpArrayRead, cost.OpRingRead, cost.OpMapRead, cost.OpLRURead, cost.OpHash, cost.OpLRUInsert, cost.OpClock, cost.OpEncap}
	testutil.CheckOpTable(t, "../../docs/fidelity.md", "## Katran (`balancer/katran`)", 3, ops, []testutil.OpCase{
		{Row: "new TCP flow (SYN)", New: def, P: testutil.TCP(1000, balancer.TCPSyn), Want: balancer.Forward},
		{Row: "established TCP flow", New: def, Before: []balancer.Packet{testutil.TCP(1000, balancer.TCPSyn)}, P: testutil.TCP(1000, balancer.TCPAck), Want: balancer.Forward},
		{Row: "TCP non-SYN LRU miss", New: def, P: testutil.TCP(1000, balancer.TCPAck), Want: balancer.Forward},
		{Row: "new UDP flow", New: def, P: testutil.UDP(5000), Want: balancer.Forward},
		{Row: "established UDP flow", New: def, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.UDP(5000), Want: balancer.Forward},
		{Row: "first fragment", New: def, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.FirstFrag(5000), Want: balancer.Drop},
		{Row: "non-first fragment", New: def, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.NonFirstFrag(), Want: balancer.Drop},
		{Row: "naive first fragment, flow known", New: naive, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.FirstFrag(5000), Want: balancer.Forward},
		{Row: "naive non-first fragment, new", New: naive, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.NonFirstFrag(), Want: balancer.Forward},
	})
}

func TestFragmentsDroppedWithReason(t *testing.T) {
	b := newTest(t, Config{})
	for _, p := range []balancer.Packet{testutil.FirstFrag(5000), testutil.NonFirstFrag()} {
		d := b.Process(&balancer.Env{}, &p)
		if d.Action != balancer.Drop || d.Reason != ReasonFragment {
			t.Errorf("fragment %+v: got %+v, want drop %q", p, d, ReasonFragment)
		}
	}
	if s := b.Stats(); s.DropFragment != 2 || s.Packets != 2 {
		t.Errorf("stats %+v: want 2 fragment drops of 2 packets", s)
	}
	opt := testutil.UDP(1)
	opt.IHL = 6
	if d := b.Process(&balancer.Env{}, &opt); d.Reason != ReasonIPOptions {
		t.Errorf("IHL 6: got %+v, want drop %q", d, ReasonIPOptions)
	}
	big := testutil.UDP(1)
	big.Len = 1501
	if d := b.Process(&balancer.Env{}, &big); d.Reason != ReasonTooBig {
		t.Errorf("1515-byte frame: got %+v, want drop %q", d, ReasonTooBig)
	}
}

// A naive non-first fragment lands where hash(src, dst, 0, 0, proto) points,
// independent of its first fragment's ports.
func TestNaiveNonFirstFragmentIgnoresPorts(t *testing.T) {
	b := newTest(t, Config{Naive: true})
	nf := testutil.NonFirstFrag()
	d0 := b.Process(&balancer.Env{CPU: 1}, &nf)
	zero := testutil.UDP(0)
	zero.DstPort = 0
	h := balancer.Hash5(&zero, balancer.DefaultSeed)
	svc, _ := b.table.Lookup(&zero)
	want, _ := svc.Pick(h)
	if d0.Action != balancer.Forward || d0.Backend != want {
		t.Fatalf("non-first fragment: %+v, want forward to %d (ports-0 hash)", d0, want)
	}
	differ := 0
	for sport := uint16(1000); sport < 1300; sport++ {
		f := testutil.FirstFrag(sport)
		if d := b.Process(&balancer.Env{CPU: 1}, &f); d.Backend != d0.Backend {
			differ++
		}
	}
	// With 3 backends about 2/3 of first fragments differ from the
	// non-first fragments' fixed backend.
	if differ < 150 || differ > 250 {
		t.Errorf("%d of 300 first fragments on another backend than the non-first ones, want about 200", differ)
	}
}

func TestPerCPUTables(t *testing.T) {
	b := newTest(t, Config{CPUs: 4})
	syn := testutil.TCP(1000, balancer.TCPSyn)
	b.Process(&balancer.Env{CPU: 0}, &syn)
	ack := testutil.TCP(1000, balancer.TCPAck)
	b.Process(&balancer.Env{CPU: 1}, &ack) // other CPU: miss
	b.Process(&balancer.Env{CPU: 0}, &ack) // same CPU: hit
	b.Process(&balancer.Env{CPU: 9}, &ack) // no LRU: fallback, miss
	s := b.Stats()
	if s.LRUHits != 1 || s.TCPNonSYNMisses != 2 || s.FallbackLRU != 1 {
		t.Errorf("stats %+v: want 1 hit, 2 non-SYN misses, 1 fallback", s)
	}
	if got, want := b.PerCPULRUSize(), DefaultLRUSize/4; got != want {
		t.Errorf("PerCPULRUSize %d, want %d", got, want)
	}
}

// An LRU entry outlives a ring change: Katran keeps sending the flow to its
// backend even after that backend is taken out of the ring.
func TestLRUKeepsFlowAcrossRingChange(t *testing.T) {
	b := newTest(t, Config{})
	syn := testutil.TCP(1000, balancer.TCPSyn)
	first := b.Process(&balancer.Env{}, &syn)
	testutil.SetBackends(t, b, func(be *balancer.Backend) { be.Up = be.ID != first.Backend })
	ack := testutil.TCP(1000, balancer.TCPAck)
	if d := b.Process(&balancer.Env{}, &ack); d.Backend != first.Backend {
		t.Errorf("established flow moved from %d to %d after its backend went down; Katran's LRU keeps it", first.Backend, d.Backend)
	}
	if d := b.Process(&balancer.Env{}, &syn); d.Backend == first.Backend {
		t.Errorf("SYN still sent to down backend %d", first.Backend)
	}
}

func TestUDPEntryExpires(t *testing.T) {
	b := newTest(t, Config{})
	p := testutil.UDP(5000)
	b.Process(&balancer.Env{Now: 0}, &p)
	b.Process(&balancer.Env{Now: 10 * time.Second}, &p)
	b.Process(&balancer.Env{Now: 10*time.Second + LRUUDPTimeout + 1}, &p)
	if s := b.Stats(); s.LRUHits != 1 || s.LRUMisses != 2 {
		t.Errorf("stats %+v: want 1 hit, 2 misses (the entry expired 30 s after its last use)", s)
	}
}

func TestLRUBounded(t *testing.T) {
	b := newTest(t, Config{CPUs: 1, LRUSize: 100})
	for sport := range uint16(1000) {
		p := testutil.UDP(sport)
		b.Process(&balancer.Env{}, &p)
	}
	if n := b.cpus[0].lru.Len(); n != 100 {
		t.Errorf("LRU holds %d entries, want its bound 100", n)
	}
	if s := b.Stats(); s.LRUEvictions != 900 {
		t.Errorf("evictions %d, want 900", s.LRUEvictions)
	}
}

// The default 8,000,000-entry connection table over 128 CPUs is not
// allocated up front: each per-CPU LRU reserves 256 entries and doubles
// toward its 62,500-entry bound only as flows arrive on that CPU.
func TestLRUGrowsOnDemand(t *testing.T) {
	b := newTest(t, Config{})
	for i := range b.cpus {
		if l := b.cpus[i].lru; l.Reserved() != lruReserve || l.Cap() != DefaultLRUSize/MaxSupportedCPUs {
			t.Fatalf("cpu %d: Reserved, Cap = %d, %d; want %d, %d", i, l.Reserved(), l.Cap(), lruReserve, DefaultLRUSize/MaxSupportedCPUs)
		}
	}
	for sport := range uint16(1000) {
		p := testutil.UDP(sport)
		b.Process(&balancer.Env{CPU: 3}, &p)
	}
	if l := b.cpus[3].lru; l.Len() != 1000 || l.Reserved() != 1024 {
		t.Errorf("cpu 3 after 1000 flows: Len, Reserved = %d, %d; want 1000, 1024", l.Len(), l.Reserved())
	}
	if l := b.cpus[2].lru; l.Len() != 0 || l.Reserved() != lruReserve {
		t.Errorf("idle cpu 2: Len, Reserved = %d, %d; want 0, %d", l.Len(), l.Reserved(), lruReserve)
	}
	if s := b.Stats(); s.LRUEvictions != 0 {
		t.Errorf("%d evictions below the bound", s.LRUEvictions)
	}
}

func TestNoBackendsAndBadInput(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.UDP(1)
	if d := b.Process(&balancer.Env{}, &p); d.Action != balancer.Drop || d.Reason != ReasonNoBackend {
		t.Errorf("before SetBackends: %+v, want drop %q", d, ReasonNoBackend)
	}
	if d := b.Process(nil, nil); d.Action != balancer.Drop {
		t.Errorf("nil packet: %+v, want drop", d)
	}
	if d := b.Process(nil, &balancer.Packet{}); d.Action != balancer.Drop {
		t.Errorf("zero packet, nil env: %+v, want drop", d)
	}
	testutil.SetBackends(t, b, func(be *balancer.Backend) { be.Up = false })
	if d := b.Process(&balancer.Env{}, &p); d.Reason != ReasonNoBackend {
		t.Errorf("all backends down: %+v, want drop %q", d, ReasonNoBackend)
	}
	other := testutil.UDP(1)
	other.Proto = balancer.ProtoICMP
	if d := b.Process(&balancer.Env{}, &other); d.Action != balancer.Pass {
		t.Errorf("ICMP: %+v, want pass", d)
	}
}

func TestVIPs(t *testing.T) {
	b := newTest(t, Config{VIPs: []netip.Addr{testutil.VIP}})
	p := testutil.UDP(1)
	if d := b.Process(&balancer.Env{}, &p); d.Action != balancer.Forward {
		t.Errorf("to VIP: %+v, want forward", d)
	}
	p.Dst = netip.MustParseAddr("203.0.113.9")
	if d := b.Process(&balancer.Env{}, &p); d.Action != balancer.Pass {
		t.Errorf("to non-VIP: %+v, want pass", d)
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		cfg   Config
		field string
		err   error
	}{
		{Config{RingSize: 100}, "config.RingSize 100", nil},
		{Config{CPUs: -1}, "config.CPUs -1", ErrNegative},
		{Config{CPUs: 129}, "config.CPUs 129", ErrTooMany},
		{Config{LRUSize: -5}, "config.LRUSize -5", ErrNegative},
		{Config{CPUs: 8, LRUSize: 4}, "config.LRUSize 4", ErrTooSmall},
		{Config{CPUs: 2, LRUSize: 1 << 30}, "config.LRUSize 1073741824", ErrTooLarge}, // 2^29 per CPU
		{Config{VIPs: []netip.Addr{netip.MustParseAddr("ff02::1")}}, "config.VIPs[0] ff02::1", balancer.ErrBadVIP},
		{Config{VIPs: []netip.Addr{{}}}, "config.VIPs[0] invalid IP", balancer.ErrBadVIP},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		testutil.WantError(t, err, c.field, c.err)
	}
	b, _ := New(Config{})
	if err := b.SetBackends(nil); err == nil {
		t.Error("SetBackends(nil) succeeded, want an error")
	}
}

func TestProcessDoesNotAllocate(t *testing.T) {
	b := newTest(t, Config{CPUs: 2, LRUSize: 200})
	m := cost.NewMeter(cost.Default())
	env := &balancer.Env{Meter: m}
	est := testutil.TCP(1000, balancer.TCPSyn)
	b.Process(env, &est)
	est.TCPFlags = balancer.TCPAck
	// Fill the LRU to its bound so new flows evict instead of growing.
	for sport := range uint16(300) {
		p := testutil.UDP(sport)
		b.Process(env, &p)
	}
	frag := testutil.FirstFrag(7)
	sport := uint16(0)
	for name, fn := range map[string]func(){
		"established": func() { b.Process(env, &est) },
		"new flow": func() {
			sport++
			p := testutil.UDP(sport)
			b.Process(env, &p)
		},
		"fragment": func() { b.Process(env, &frag) },
	} {
		if n := testing.AllocsPerRun(200, fn); n != 0 {
			t.Errorf("%s: %v allocations per Process, want 0", name, n)
		}
	}
}

// FuzzProcess feeds arbitrary packets, malformed ones included, on CPUs
// with and without their own LRU: Process never panics and every decision
// is one a balancer may make.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0, 6, 1, 0, 0, 0, 0, 4, 2, 3, 0, 5})
	f.Add([]byte{1, 17, 0, 53, 0, 185, 11, 40, 0, 1, 200, 9, 1, 17, 0x13, 53, 0, 0, 1, 90, 0, 1, 1, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		b := newTest(t, Config{CPUs: 2, LRUSize: 64, Naive: len(in)%2 == 0})
		testutil.FuzzProcess(t, b, in, nil)
	})
}

// TestMalformedDropped: a packet no IPv4 header can carry (an offset
// above 13 bits, IHL outside 5 to 15, a total length below the header, a
// fragment empty or past 65535 bytes) is dropped as malformed and
// counted, naive or not; an unusual but valid one is not.
func TestMalformedDropped(t *testing.T) {
	for _, naive := range []bool{false, true} {
		b := newTest(t, Config{Naive: naive})
		testutil.DropsMalformed(t, b, func() uint64 { return b.Stats().DropMalformed })
	}
}
