package cilium

import (
	"net/netip"
	"testing"

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
// docs/fidelity.md.
func TestOpCountsMatchDoc(t *testing.T) {
	snat := func() balancer.Balancer { return newTest(t, Config{}) }
	dsr := func() balancer.Balancer { return newTest(t, Config{Mode: ModeDSR}) }
	other := testutil.TCP(999, balancer.TCPSyn)
	ops := []cost.Op{cost.OpMapRead, cost.OpHash, cost.OpMapWrite, cost.OpEncap, cost.OpTailCall, cost.OpRewrite}
	testutil.CheckOpTable(t, "../../docs/fidelity.md", "## Cilium (`balancer/cilium`)", 0, ops, []testutil.OpCase{
		{Row: "SNAT new TCP flow, new client", New: snat, P: testutil.TCP(1000, balancer.TCPSyn), Want: balancer.Forward},
		{Row: "SNAT new TCP flow, known client", New: snat, Before: []balancer.Packet{other}, P: testutil.TCP(1000, balancer.TCPSyn), Want: balancer.Forward},
		{Row: "SNAT established TCP flow", New: snat, Before: []balancer.Packet{testutil.TCP(1000, balancer.TCPSyn)}, P: testutil.TCP(1000, balancer.TCPAck), Want: balancer.Forward},
		{Row: "SNAT new UDP flow, new client", New: snat, P: testutil.UDP(5000), Want: balancer.Forward},
		{Row: "SNAT established UDP flow", New: snat, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.UDP(5000), Want: balancer.Forward},
		{Row: "SNAT first fragment, known flow", New: snat, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.FirstFrag(5000), Want: balancer.Forward},
		{Row: "SNAT non-first fragment, entry", New: snat, Before: []balancer.Packet{testutil.UDP(5000), testutil.FirstFrag(5000)}, P: testutil.NonFirstFrag(), Want: balancer.Forward},
		{Row: "SNAT non-first fragment, no entry", New: snat, P: testutil.NonFirstFrag(), Want: balancer.Drop},
		{Row: "DSR new flow", New: dsr, P: testutil.UDP(5000), Want: balancer.Forward},
		{Row: "DSR established flow", New: dsr, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.UDP(5000), Want: balancer.Forward},
		{Row: "DSR first fragment, known flow", New: dsr, Before: []balancer.Packet{testutil.UDP(5000)}, P: testutil.FirstFrag(5000), Want: balancer.Forward},
		{Row: "DSR non-first fragment, entry", New: dsr, Before: []balancer.Packet{testutil.UDP(5000), testutil.FirstFrag(5000)}, P: testutil.NonFirstFrag(), Want: balancer.Forward},
	})
}

func TestFragmentsFollowFirstFragment(t *testing.T) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b := newTest(t, Config{Mode: mode})
		for sport := uint16(1000); sport < 1300; sport++ {
			f := testutil.FirstFrag(sport)
			f.IPID = sport
			nf := testutil.NonFirstFrag()
			nf.IPID = sport
			d1 := b.Process(&balancer.Env{}, &f)
			d2 := b.Process(&balancer.Env{CPU: 1}, &nf)
			if d1.Action != balancer.Forward || d2.Action != balancer.Forward || d1.Backend != d2.Backend {
				t.Fatalf("%v: datagram %d split: first %+v, rest %+v", mode, sport, d1, d2)
			}
		}
	}
}

func TestReorderedFragmentDropped(t *testing.T) {
	b := newTest(t, Config{})
	nf := testutil.NonFirstFrag()
	d := b.Process(&balancer.Env{}, &nf)
	if d.Action != balancer.Drop || d.Reason != ReasonFragNotFound {
		t.Fatalf("non-first fragment before its first: %+v, want drop %q", d, ReasonFragNotFound)
	}
	f := testutil.FirstFrag(5000)
	if d := b.Process(&balancer.Env{}, &f); d.Action != balancer.Forward {
		t.Errorf("late first fragment: %+v, want forward", d)
	}
	if s := b.Stats(); s.DropFragNotFound != 1 || s.FragWrites != 2 {
		t.Errorf("stats %+v: want 1 frag-not-found drop, 2 frag writes (lb4_extract_tuple and snat_v4_nat)", s)
	}
}

func TestFragMapEviction(t *testing.T) {
	b := newTest(t, Config{FragMapSize: 16})
	for id := range uint16(17) {
		f := testutil.FirstFrag(5000)
		f.IPID = id
		b.Process(&balancer.Env{}, &f)
	}
	if n := b.FragMapLen(); n != 16 {
		t.Errorf("fragment map holds %d entries, want its bound 16", n)
	}
	nf := testutil.NonFirstFrag()
	nf.IPID = 0 // the oldest datagram: evicted
	if d := b.Process(&balancer.Env{}, &nf); d.Reason != ReasonFragNotFound {
		t.Errorf("fragment of an evicted datagram: %+v, want drop %q", d, ReasonFragNotFound)
	}
	nf.IPID = 16
	if d := b.Process(&balancer.Env{}, &nf); d.Action != balancer.Forward {
		t.Errorf("fragment of a tracked datagram: %+v, want forward", d)
	}
	if s := b.Stats(); s.Evictions < 1 {
		t.Errorf("stats %+v: want an eviction", s)
	}
}

func TestBackendChanges(t *testing.T) {
	b := newTest(t, Config{})
	syn := testutil.TCP(1000, balancer.TCPSyn)
	first := b.Process(&balancer.Env{}, &syn)
	ack := testutil.TCP(1000, balancer.TCPAck)

	// Weight 0 (maintenance): the established flow stays, a SYN moves.
	testutil.SetBackends(t, b, func(be *balancer.Backend) {
		if be.ID == first.Backend {
			be.Weight = 0
		}
	})
	if d := b.Process(&balancer.Env{}, &ack); d.Backend != first.Backend {
		t.Errorf("drained backend: established flow moved to %d, want it kept on %d", d.Backend, first.Backend)
	}
	if d := b.Process(&balancer.Env{}, &syn); d.Backend == first.Backend {
		t.Errorf("drained backend: SYN still sent to %d", first.Backend)
	}

	// Down: the flow is re-balanced on its next packet.
	b2 := newTest(t, Config{})
	first = b2.Process(&balancer.Env{}, &syn)
	testutil.SetBackends(t, b2, func(be *balancer.Backend) { be.Up = be.ID != first.Backend })
	if d := b2.Process(&balancer.Env{}, &ack); d.Action != balancer.Forward || d.Backend == first.Backend {
		t.Errorf("down backend: established flow got %+v, want moved off %d", d, first.Backend)
	}
	if s := b2.Stats(); s.Reselected != 1 {
		t.Errorf("stats %+v: want 1 re-selection", s)
	}
}

func TestSNATPortExhaustion(t *testing.T) {
	// Many clients using the same source port towards one backend: each
	// needs its own NAT port; the model must stay bounded and keep going.
	b, _ := New(Config{NATMapSize: 64})
	_ = b.SetBackends(testutil.Backends(1))
	for i := range 200 {
		p := testutil.UDP(40000)
		p.Src = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		if d := b.Process(&balancer.Env{}, &p); d.Action != balancer.Forward {
			t.Fatalf("client %d: %+v", i, d)
		}
	}
	if n := b.v4.nat.Len(); n > 64 {
		t.Errorf("NAT map holds %d entries, above its bound 64", n)
	}
	if s := b.Stats(); s.NATNew != 200 {
		t.Errorf("stats %+v: want 200 NAT mappings", s)
	}
}

func TestNoBackendsAndBadInput(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.UDP(1)
	if d := b.Process(&balancer.Env{}, &p); d.Reason != ReasonNoBackend {
		t.Errorf("before SetBackends: %+v, want drop %q", d, ReasonNoBackend)
	}
	if d := b.Process(nil, nil); d.Action != balancer.Drop {
		t.Errorf("nil packet: %+v, want drop", d)
	}
	if d := b.Process(nil, &balancer.Packet{}); d.Action != balancer.Drop {
		t.Errorf("zero packet: %+v, want drop", d)
	}
	icmp := testutil.UDP(1)
	icmp.Proto = balancer.ProtoICMP
	if d := b.Process(nil, &icmp); d.Action != balancer.Pass {
		t.Errorf("ICMP: %+v, want pass", d)
	}
	vb := newTest(t, Config{VIPs: []netip.Addr{testutil.VIP}})
	p.Dst = netip.MustParseAddr("203.0.113.1")
	if d := vb.Process(nil, &p); d.Action != balancer.Pass {
		t.Errorf("non-frontend destination: %+v, want pass", d)
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		cfg   Config
		field string
		err   error
	}{
		{Config{MaglevTableSize: 16380}, "config.MaglevTableSize 16380", nil},
		{Config{FragMapSize: -1}, "config.FragMapSize -1", ErrNegative},
		{Config{CTMapSizeTCP: -1}, "config.CTMapSizeTCP -1", ErrNegative},
		{Config{NATMapSize: -2}, "config.NATMapSize -2", ErrNegative},
		{Config{CTMapSizeAny: 1 << 29}, "config.CTMapSizeAny 536870912", ErrTooLarge},
		{Config{Mode: 7}, "config.Mode 7", ErrMode},
		{Config{VIPs: []netip.Addr{{}}}, "config.VIPs[0]", balancer.ErrBadVIP},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		testutil.WantError(t, err, c.field, c.err)
	}
}

func TestProcessDoesNotAllocate(t *testing.T) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b := newTest(t, Config{Mode: mode, CTMapSizeAny: 512, NATMapSize: 512, NeighMapSize: 64, FragMapSize: 64})
		env := &balancer.Env{Meter: cost.NewMeter(cost.Default())}
		est := testutil.UDP(1)
		b.Process(env, &est)
		for i := range 2000 { // fill every table to its bound
			p := testutil.UDP(uint16(i))
			p.Src = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
			p.IPID, p.MoreFragments = uint16(i), true
			b.Process(env, &p)
		}
		i := 0
		for name, fn := range map[string]func(){
			"established": func() { b.Process(env, &est) },
			"new flow": func() {
				i++
				p := testutil.UDP(uint16(i))
				b.Process(env, &p)
			},
			"fragment": func() {
				i++
				f, nf := testutil.FirstFrag(1), testutil.NonFirstFrag()
				f.IPID, nf.IPID = uint16(i), uint16(i)
				b.Process(env, &f)
				b.Process(env, &nf)
			},
		} {
			if n := testing.AllocsPerRun(200, fn); n != 0 {
				t.Errorf("%v %s: %v allocations per run, want 0", mode, name, n)
			}
		}
	}
}

// FuzzProcess feeds arbitrary packets, malformed ones included, through
// small maps in both modes: Process never panics and every decision is
// one a balancer may make.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0, 17, 1, 0, 0, 0, 1, 4, 2, 3, 0, 5})
	f.Add([]byte{1, 17, 0x13, 53, 0, 0, 1, 90, 0, 1, 1, 9, 1, 17, 0, 53, 0, 185, 10, 40, 0, 1, 200, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		b := newTest(t, Config{Mode: Mode(len(in) % 2), FragMapSize: 8, CTMapSizeAny: 16, CTMapSizeTCP: 16, NATMapSize: 16, NeighMapSize: 4})
		testutil.FuzzProcess(t, b, in, nil)
	})
}

// TestMalformedDropped: a packet no IPv4 header can carry (an offset
// above 13 bits, IHL outside 5 to 15, a total length below the header, a
// fragment empty or past 65535 bytes) is dropped as malformed and
// counted, in both modes; an unusual but valid one is not.
func TestMalformedDropped(t *testing.T) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b := newTest(t, Config{Mode: mode})
		testutil.DropsMalformed(t, b, func() uint64 { return b.Stats().DropMalformed })
	}
}
