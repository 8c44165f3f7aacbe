package cilium

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

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
// table it makes: OpMapRead, OpHash, OpMapWrite, OpEncap, OpTailCall, OpRewrite, STU.
func measure(b *Balancer, p balancer.Packet) ([]uint64, balancer.Decision) {
	m := cost.NewMeter(cost.Default())
	d := b.Process(&balancer.Env{Meter: m}, &p)
	return testutil.Counts(m, cost.OpMapRead, cost.OpHash, cost.OpMapWrite, cost.OpEncap, cost.OpTailCall, cost.OpRewrite), d
}

func TestOpCountsMatchDoc(t *testing.T) {
	doc := testutil.OpTable(t, fidelity, "## Cilium (`balancer/cilium`)", 7)
	dsr := Config{Mode: ModeDSR}
	other := testutil.TCP(999, balancer.TCPSyn)
	cases := []struct {
		row    string
		cfg    Config
		before []balancer.Packet
		pkt    balancer.Packet
		want   balancer.Action
	}{
		{"SNAT new TCP flow, new client", Config{}, nil, testutil.TCP(1000, balancer.TCPSyn), balancer.Forward},
		{"SNAT new TCP flow, known client", Config{}, []balancer.Packet{other}, testutil.TCP(1000, balancer.TCPSyn), balancer.Forward},
		{"SNAT established TCP flow", Config{}, []balancer.Packet{testutil.TCP(1000, balancer.TCPSyn)}, testutil.TCP(1000, balancer.TCPAck), balancer.Forward},
		{"SNAT new UDP flow, new client", Config{}, nil, testutil.UDP(5000), balancer.Forward},
		{"SNAT established UDP flow", Config{}, []balancer.Packet{testutil.UDP(5000)}, testutil.UDP(5000), balancer.Forward},
		{"SNAT first fragment, known flow", Config{}, []balancer.Packet{testutil.UDP(5000)}, testutil.FirstFrag(5000), balancer.Forward},
		{"SNAT non-first fragment, entry", Config{}, []balancer.Packet{testutil.UDP(5000), testutil.FirstFrag(5000)}, testutil.NonFirstFrag(), balancer.Forward},
		{"SNAT non-first fragment, no entry", Config{}, nil, testutil.NonFirstFrag(), balancer.Drop},
		{"DSR new flow", dsr, nil, testutil.UDP(5000), balancer.Forward},
		{"DSR established flow", dsr, []balancer.Packet{testutil.UDP(5000)}, testutil.UDP(5000), balancer.Forward},
		{"DSR first fragment, known flow", dsr, []balancer.Packet{testutil.UDP(5000)}, testutil.FirstFrag(5000), balancer.Forward},
		{"DSR non-first fragment, entry", dsr, []balancer.Packet{testutil.UDP(5000), testutil.FirstFrag(5000)}, testutil.NonFirstFrag(), balancer.Forward},
	}
	for _, c := range cases {
		t.Run(c.row, func(t *testing.T) {
			want, ok := doc[c.row]
			if !ok {
				t.Fatalf("%s has no op-count row %q", fidelity, c.row)
			}
			b := newTest(t, c.cfg)
			for _, p := range c.before {
				b.Process(&balancer.Env{}, &p)
			}
			got, d := measure(b, c.pkt)
			if d.Action != c.want {
				t.Errorf("action %v (%q), want %v", d.Action, d.Reason, c.want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Process charged %v, %s says %v", got, fidelity, want)
			}
		})
	}
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
	bs := testutil.Backends(3)
	for i := range bs {
		if bs[i].ID == first.Backend {
			bs[i].Weight = 0
		}
	}
	if err := b.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	if d := b.Process(&balancer.Env{}, &ack); d.Backend != first.Backend {
		t.Errorf("drained backend: established flow moved to %d, want it kept on %d", d.Backend, first.Backend)
	}
	if d := b.Process(&balancer.Env{}, &syn); d.Backend == first.Backend {
		t.Errorf("drained backend: SYN still sent to %d", first.Backend)
	}

	// Down: the flow is re-balanced on its next packet.
	b2 := newTest(t, Config{})
	first = b2.Process(&balancer.Env{}, &syn)
	for i := range bs {
		bs[i].Weight, bs[i].Up = 1, bs[i].ID != first.Backend
	}
	if err := b2.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
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
	if n := b.nat.Len(); n > 64 {
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
		{Config{VIPs: []netip.Addr{{}}}, "config.VIPs[0]", ErrNotIPv4},
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

func FuzzProcess(f *testing.F) {
	f.Add([]byte{17, 0, 1, 0, 2, 1, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		b := newTest(t, Config{Mode: Mode(len(in) % 2), FragMapSize: 8, CTMapSizeAny: 16, CTMapSizeTCP: 16, NATMapSize: 16, NeighMapSize: 4})
		for len(in) >= 10 {
			p := balancer.Packet{
				Src: netip.AddrFrom4([4]byte{10, 0, 0, in[0] & 7}), Dst: testutil.VIP,
				Proto: in[1], SrcPort: uint16(in[2]) << 8, DstPort: uint16(in[3]),
				FragOffset: uint16(in[4]) & 3, MoreFragments: in[5]&1 != 0,
				Len: uint16(in[6]) << 4, TCPFlags: in[7], IPID: uint16(in[8] & 3),
			}
			testutil.CheckDecision(t, &p, b.Process(&balancer.Env{CPU: int(in[9])}, &p))
			in = in[10:]
		}
	})
}

// TestMalformedDropped: a packet no IPv4 header can carry (an offset
// above 13 bits, IHL outside 5 to 15, a total length below the header, a
// fragment empty or past 65535 bytes) is dropped as malformed and
// counted, in both modes; an unusual but valid one is not.
func TestMalformedDropped(t *testing.T) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b := newTest(t, Config{Mode: mode})
		n := uint64(testutil.DropsMalformed(t, b))
		if s := b.Stats(); s.DropMalformed != n || s.Forwarded+s.Passed+s.DropMalformed > s.Packets {
			t.Errorf("%v: stats %+v, want %d malformed drops", mode, s, n)
		}
	}
}
