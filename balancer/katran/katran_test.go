package katran

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

func newTest(t testing.TB, cfg Config) *Balancer {
	t.Helper()
	b, err := New(cfg)
	return testutil.Ready(t, b, err)
}

// fidelity is the page whose op-count table TestOpCountsMatchDoc checks.
const fidelity = "../../docs/fidelity.md"

// measure runs p through b metered and returns the row of the op-count
// table it makes: OpMapRead, OpHash, OpMapWrite, OpEncap, STU.
func measure(b *Balancer, cpu int, p balancer.Packet) ([]uint64, balancer.Decision) {
	m := cost.NewMeter(cost.Default())
	d := b.Process(&balancer.Env{CPU: cpu, Meter: m}, &p)
	return testutil.Counts(m, cost.OpMapRead, cost.OpHash, cost.OpMapWrite, cost.OpEncap), d
}

func TestOpCountsMatchDoc(t *testing.T) {
	doc := testutil.OpTable(t, fidelity, "## Katran (`balancer/katran`)", 5)
	cases := []struct {
		row    string
		cfg    Config
		before []balancer.Packet // processed unmetered on the same CPU first
		pkt    balancer.Packet
		want   balancer.Action
	}{
		{"new TCP flow (SYN)", Config{}, nil, testutil.TCP(1000, balancer.TCPSyn), balancer.Forward},
		{"established TCP flow", Config{}, []balancer.Packet{testutil.TCP(1000, balancer.TCPSyn)}, testutil.TCP(1000, balancer.TCPAck), balancer.Forward},
		{"TCP non-SYN LRU miss", Config{}, nil, testutil.TCP(1000, balancer.TCPAck), balancer.Forward},
		{"new UDP flow", Config{}, nil, testutil.UDP(5000), balancer.Forward},
		{"established UDP flow", Config{}, []balancer.Packet{testutil.UDP(5000)}, testutil.UDP(5000), balancer.Forward},
		{"first fragment", Config{}, []balancer.Packet{testutil.UDP(5000)}, testutil.FirstFrag(5000), balancer.Drop},
		{"non-first fragment", Config{}, []balancer.Packet{testutil.UDP(5000)}, testutil.NonFirstFrag(), balancer.Drop},
		{"naive first fragment, flow known", Config{Naive: true}, []balancer.Packet{testutil.UDP(5000)}, testutil.FirstFrag(5000), balancer.Forward},
		{"naive non-first fragment, new", Config{Naive: true}, []balancer.Packet{testutil.UDP(5000)}, testutil.NonFirstFrag(), balancer.Forward},
	}
	for _, c := range cases {
		t.Run(c.row, func(t *testing.T) {
			want, ok := doc[c.row]
			if !ok {
				t.Fatalf("%s has no op-count row %q", fidelity, c.row)
			}
			b := newTest(t, c.cfg)
			for _, p := range c.before {
				b.Process(&balancer.Env{CPU: 3}, &p)
			}
			got, d := measure(b, 3, c.pkt)
			if d.Action != c.want {
				t.Errorf("action %v (%q), want %v", d.Action, d.Reason, c.want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Process charged %v, %s says %v", got, fidelity, want)
			}
		})
	}
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
	want, _ := b.ring.Lookup(h)
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
	bs := testutil.Backends(3)
	for i := range bs {
		if bs[i].ID == first.Backend {
			bs[i].Up = false
		}
	}
	if err := b.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
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
	bs := testutil.Backends(3)
	for i := range bs {
		bs[i].Up = false
	}
	if err := b.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
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
		{Config{VIPs: []netip.Addr{netip.MustParseAddr("::1")}}, "config.VIPs[0] ::1", ErrNotIPv4},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("New(%+v) = %v, want an error naming %q", c.cfg, err, c.field)
		}
		if c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("New(%+v) = %v, want %v", c.cfg, err, c.err)
		}
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

func FuzzProcess(f *testing.F) {
	f.Add([]byte{6, 0, 1, 0, 2, 0, 0, 1, 2, 3, 0, 5})
	f.Fuzz(func(t *testing.T, in []byte) {
		b := newTest(t, Config{CPUs: 2, LRUSize: 64, Naive: len(in)%2 == 0})
		for len(in) >= 12 {
			p := balancer.Packet{
				Src: netip.AddrFrom4([4]byte{10, 0, 0, in[0]}), Dst: testutil.VIP,
				Proto: in[1], SrcPort: uint16(in[2]) << 8, DstPort: uint16(in[3]),
				FragOffset: uint16(in[4]) & 0x1fff, MoreFragments: in[5]&1 != 0,
				Len: uint16(in[6]) << 4, TCPFlags: in[7], IHL: in[8] & 0xf, IPID: uint16(in[9]),
			}
			env := balancer.Env{CPU: int(int8(in[10])), Now: time.Duration(in[11]) * time.Second}
			testutil.CheckDecision(t, &p, b.Process(&env, &p))
			in = in[12:]
		}
	})
}

// TestMalformedDropped: a packet no IPv4 header can carry (an offset
// above 13 bits, IHL outside 5 to 15, a total length below the header, a
// fragment empty or past 65535 bytes) is dropped as malformed and
// counted, naive or not; an unusual but valid one is not.
func TestMalformedDropped(t *testing.T) {
	for _, naive := range []bool{false, true} {
		b := newTest(t, Config{Naive: naive})
		n := uint64(testutil.DropsMalformed(t, b))
		if s := b.Stats(); s.DropMalformed != n || s.Forwarded+s.Passed+s.DropMalformed > s.Packets {
			t.Errorf("naive %v: stats %+v, want %d malformed drops", naive, s, n)
		}
	}
}
