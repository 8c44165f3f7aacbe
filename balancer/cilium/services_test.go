package cilium

import (
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

func TestServices(t *testing.T) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		testutil.CheckServices(t, func() testutil.ServiceBalancer {
			b, err := New(Config{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			return b
		})
	}
}

// TestOpCountsIPv6AndServices checks the IPv6 and service rows of the
// op-count table: nodeport_lb6 takes nodeport_lb4's steps on the IPv6
// maps; a chain ipv6_hdrlen_offset refuses costs the tail call and the
// drop's metrics; a packet to no service both service lookups.
func TestOpCountsIPv6AndServices(t *testing.T) {
	snat := func() balancer.Balancer { return dual(t, Config{}) }
	dsr := func() balancer.Balancer { return dual(t, Config{Mode: ModeDSR}) }
	svc := func() balancer.Balancer { return services(t, Config{}) }
	first, last := testutil.Fragments6(5000, 7)
	four := testutil.UDP6(5000)
	four.ExtHeaders = 4
	to := func(port uint16, proto uint8) balancer.Packet {
		p := testutil.UDP(5000)
		p.DstPort, p.Proto = port, proto
		return p
	}
	ops := []cost.Op{cost.OpMapRead, cost.OpHash, cost.OpMapWrite, cost.OpEncap, cost.OpTailCall, cost.OpRewrite}
	testutil.CheckOpTable(t, "../../docs/fidelity.md", "## Cilium (`balancer/cilium`)", 0, ops, []testutil.OpCase{
		{Row: "IPv6 SNAT new UDP flow, new client", New: snat, P: testutil.UDP6(5000), Want: balancer.Forward},
		{Row: "IPv6 SNAT established TCP flow", New: snat, Before: []balancer.Packet{testutil.TCP6(1000, balancer.TCPSyn)}, P: testutil.TCP6(1000, balancer.TCPAck), Want: balancer.Forward},
		{Row: "IPv6 SNAT first fragment, known flow", New: snat, Before: []balancer.Packet{testutil.UDP6(5000)}, P: first, Want: balancer.Forward},
		{Row: "IPv6 SNAT non-first fragment, entry", New: snat, Before: []balancer.Packet{testutil.UDP6(5000), first}, P: last, Want: balancer.Forward},
		{Row: "IPv6 SNAT non-first fragment, no entry", New: snat, P: last, Want: balancer.Drop},
		{Row: "IPv6 SNAT atomic fragment, known flow", New: snat, Before: []balancer.Packet{testutil.UDP6(5000)}, P: testutil.Atomic6(5000, 7), Want: balancer.Forward},
		{Row: "IPv6 four extension headers", New: snat, P: four, Want: balancer.Drop},
		{Row: "IPv6 DSR new flow", New: dsr, P: testutil.UDP6(5000), Want: balancer.Forward},
		{Row: "service, SNAT new UDP flow, new client", New: svc, P: to(53, balancer.ProtoUDP), Want: balancer.Forward},
		{Row: "no service", New: svc, P: to(5353, balancer.ProtoUDP), Want: balancer.Pass},
		{Row: "ICMP to a service's VIP", New: svc, P: to(0, balancer.ProtoICMP), Want: balancer.Pass},
	})
}

// TestIPv6 runs IPv6 packets through the catch-alls of both families, in
// both modes: whole packets and atomic fragments go to IPv6 backends
// without touching the fragment map; fragments follow their first
// fragment through cilium_ipv6_frag_datagrams, a fragment whose first
// has not passed is dropped; a chain of four extension headers or No
// Next Header is DROP_INVALID_EXTHDR; malformed IPv6 is dropped as
// malformed. With IPv4 backends only every IPv6 packet is passed.
func TestIPv6(t *testing.T) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b := dual(t, Config{Mode: mode})
		for id := uint32(1); id < 200; id++ {
			sport := uint16(1000 + id)
			whole := testutil.UDP6(sport)
			first, last := testutil.Fragments6(sport, id<<16|id) // IDs above 16 bits
			dw := b.Process(&balancer.Env{}, &whole)
			df := b.Process(&balancer.Env{}, &first)
			dl := b.Process(&balancer.Env{}, &last)
			if dw.Action != balancer.Forward || dw.Backend < 201 || dw.Backend > 202 || df != dw || dl != dw {
				t.Fatalf("%v, flow %d: whole %+v, first %+v, last %+v; want one IPv6 backend", mode, sport, dw, df, dl)
			}
		}
		s := b.Stats()
		if s.FragWrites == 0 || s.FragHits == 0 || b.v6.frag.Len() != 199 || b.v4.frag.Len() != 0 {
			t.Errorf("%v: stats %+v, IPv6 fragment map %d entries, IPv4 %d; want 199 and 0", mode, s, b.v6.frag.Len(), b.v4.frag.Len())
		}

		atomic := testutil.Atomic6(9, 12345)
		if d := b.Process(&balancer.Env{}, &atomic); d.Action != balancer.Forward || b.v6.frag.Len() != 199 {
			t.Errorf("%v: atomic fragment: %+v, fragment map %d entries; want forward, untracked", mode, d, b.v6.frag.Len())
		}
		_, orphan := testutil.Fragments6(1, 999999)
		three := testutil.TCP6(1, balancer.TCPSyn)
		three.ExtHeaders = 3
		four := three
		four.ExtHeaders = 4
		nonext := testutil.UDP6(1)
		nonext.Proto, nonext.SrcPort, nonext.DstPort, nonext.ExtHeaders = balancer.ProtoNoNext, 0, 0, 1
		icmp := testutil.UDP6(1)
		icmp.Proto, icmp.SrcPort, icmp.DstPort = balancer.ProtoICMPv6, 0, 0
		for _, c := range []struct {
			name   string
			p      balancer.Packet
			action balancer.Action
			reason string
		}{
			{"non-first fragment before its first", orphan, balancer.Drop, ReasonFragNotFound},
			{"three extension headers", three, balancer.Forward, ""},
			{"four extension headers", four, balancer.Drop, ReasonInvalidExtHdr},
			{"No Next Header", nonext, balancer.Drop, ReasonInvalidExtHdr},
			{"ICMPv6", icmp, balancer.Pass, ""},
			{"IPv4 source, IPv6 destination", balancer.Packet{Src: testutil.Client, Dst: testutil.VIP6, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 53}, balancer.Drop, balancer.ReasonMalformed},
			{"five extension headers", balancer.Packet{Src: testutil.Client6, Dst: testutil.VIP6, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 53, ExtHeaders: 5}, balancer.Drop, balancer.ReasonMalformed},
		} {
			d := b.Process(&balancer.Env{}, &c.p)
			if d.Action != c.action || d.Reason != c.reason {
				t.Errorf("%v: %s: %+v, want %v %q", mode, c.name, d, c.action, c.reason)
			}
		}
		if s := b.Stats(); s.DropInvalidExtHdr != 2 || s.DropFragNotFound != 1 || s.DropMalformed != 2 {
			t.Errorf("%v: stats %+v: want 2 invalid-extension-header, 1 frag-not-found, 2 malformed drops", mode, s)
		}
	}

	// IPv4 backends only: no IPv6 destination is a frontend.
	b4 := newTest(t, Config{})
	m := cost.NewMeter(cost.Default())
	p := testutil.UDP6(1)
	if d := b4.Process(&balancer.Env{Meter: m}, &p); d.Action != balancer.Pass || m.Count(cost.OpMapRead) != 2 {
		t.Errorf("IPv6 datagram, IPv4 backends: %+v after %d reads, want pass after 2 (both service lookups miss)", d, m.Count(cost.OpMapRead))
	}
}

// A non-first fragment carries no ports, but Cilium reads them from the
// fragment map before the service lookup: when a VIP has two services of
// one protocol, each datagram's fragments go to its own service's pool;
// one whose first fragment has not passed is dropped whatever its
// service.
func TestFragmentsFindTheirService(t *testing.T) {
	for _, vip := range []netip.Addr{testutil.VIP, testutil.VIP6} {
		b, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		pool := testutil.Backends(2)
		if vip.Is6() {
			pool = testutil.Backends6(2)
		}
		dns := balancer.Service{Key: balancer.ServiceKey{VIP: vip, Port: 53, Proto: balancer.ProtoUDP}, Backends: pool[:1]}
		ntp := balancer.Service{Key: balancer.ServiceKey{VIP: vip, Port: 123, Proto: balancer.ProtoUDP}, Backends: pool[1:]}
		if err := b.SetServices([]balancer.Service{dns, ntp}); err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			port, want := uint16(53), pool[0].ID
			if i%2 == 1 {
				port, want = 123, pool[1].ID
			}
			var first, last balancer.Packet
			if vip.Is6() {
				first, last = testutil.Fragments6(uint16(2000+i), uint32(i))
			} else {
				first, _, last = testutil.Fragments(testutil.Client, balancer.ProtoUDP, uint16(2000+i), uint16(i))
				first.Dst, last.Dst = vip, vip
			}
			first.DstPort = port
			df := b.Process(&balancer.Env{}, &first)
			dl := b.Process(&balancer.Env{}, &last)
			if df.Action != balancer.Forward || df.Backend != want || dl != df {
				t.Fatalf("%v datagram %d to port %d: first %+v, last %+v; want both to %d", vip, i, port, df, dl, want)
			}
		}
		var orphan balancer.Packet
		if vip.Is6() {
			_, orphan = testutil.Fragments6(1, 5000)
		} else {
			_, _, orphan = testutil.Fragments(testutil.Client, balancer.ProtoUDP, 1, 5000)
			orphan.Dst = vip
		}
		if d := b.Process(&balancer.Env{}, &orphan); d.Reason != ReasonFragNotFound {
			t.Errorf("%v orphan: %+v, want drop %q", vip, d, ReasonFragNotFound)
		}
	}
}

// A tracked flow keeps a backend its service dropped while another
// service keeps it in the backends map (lb4_local checks only the map),
// and moves when no service has it up.
func TestTrackedFlowAcrossServiceChanges(t *testing.T) {
	b := services(t, Config{})
	syn := testutil.TCP(1000, balancer.TCPSyn)
	syn.DstPort = 443 // served by 102 and 103
	ack := syn
	ack.TCPFlags = balancer.TCPAck
	var first balancer.Decision
	for sport := uint16(1000); ; sport++ { // a flow on 102, the shared backend
		syn.SrcPort, ack.SrcPort = sport, sport
		if first = b.Process(&balancer.Env{}, &syn); first.Backend == 102 {
			break
		}
	}
	ss := testutil.Services(func(int, *balancer.Backend) {})
	ss[1].Backends = ss[1].Backends[1:] // 102 leaves port 443, stays on port 80
	if err := b.SetServices(ss); err != nil {
		t.Fatal(err)
	}
	if d := b.Process(&balancer.Env{}, &ack); d.Backend != 102 {
		t.Errorf("102 left the service but not the map: established flow got %+v, want it kept on 102", d)
	}
	ss[0].Backends = ss[0].Backends[:1] // 102 in no service: deleted
	if err := b.SetServices(ss); err != nil {
		t.Fatal(err)
	}
	if d := b.Process(&balancer.Env{}, &ack); d.Action != balancer.Forward || d.Backend != 103 {
		t.Errorf("102 in no service: established flow got %+v, want it moved to 103", d)
	}
}

func TestProcessDoesNotAllocateIPv6AndServices(t *testing.T) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		for name, b := range map[string]*Balancer{
			"dual":     dual(t, Config{Mode: mode, CTMapSizeAny: 512, NATMapSize: 512, NeighMapSize: 64, FragMapSize: 64}),
			"services": services(t, Config{Mode: mode, CTMapSizeAny: 512, NATMapSize: 512, NeighMapSize: 64, FragMapSize: 64}),
		} {
			env := &balancer.Env{Meter: cost.NewMeter(cost.Default())}
			p6 := func(i int) balancer.Packet {
				p := testutil.UDP6(uint16(i))
				p.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 14: byte(i >> 8), 15: byte(i)})
				p.DstPort = 443
				p.Proto, p.TCPFlags = balancer.ProtoTCP, balancer.TCPSyn
				return p
			}
			for i := range 2000 { // fill every table to its bound
				p := p6(i)
				b.Process(env, &p)
				first, last := testutil.Fragments6(uint16(i), uint32(i))
				first.Proto, first.DstPort, last.Proto = balancer.ProtoTCP, 443, balancer.ProtoTCP
				b.Process(env, &first)
				b.Process(env, &last)
			}
			est := p6(1)
			est.TCPFlags = balancer.TCPAck
			i := 0
			for what, fn := range map[string]func(){
				"established": func() { b.Process(env, &est) },
				"new flow": func() {
					i++
					p := p6(i)
					b.Process(env, &p)
				},
				"fragment": func() {
					i++
					first, last := testutil.Fragments6(1, uint32(i))
					first.Proto, first.DstPort, last.Proto = balancer.ProtoTCP, 443, balancer.ProtoTCP
					b.Process(env, &first)
					b.Process(env, &last)
				},
				"no service": func() {
					p := testutil.UDP(1)
					p.DstPort = 9
					b.Process(env, &p)
				},
			} {
				if n := testing.AllocsPerRun(200, fn); n != 0 {
					t.Errorf("%v %s %s: %v allocations per run, want 0", mode, name, what, n)
				}
			}
		}
	}
}

// FuzzServices applies fuzzed service and backend sets and IPv6 and
// IPv4 packets: Process never panics, never forwards a malformed packet
// or one to a backend of the other family or one that is not up, and
// forwards a non-first fragment only after a first fragment of its
// datagram (same family, addresses, protocol and ID) was seen.
func FuzzServices(f *testing.F) {
	f.Add([]byte{0x04, 0x01, 0x03, 0x12, 0x0d, 0x02, 0x00, 0x10, 0x06, 0x03, 0x41, 0x02})
	f.Add([]byte{0x01, 0x3f, 0x02, 0x02, 0x03, 0x40, 0x06, 0x26, 0x00, 0x61, 0x03, 0x42, 0x21, 0xe1})
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := New(Config{Mode: Mode(len(in) % 2), MaglevTableSize: 13, FragMapSize: 4,
			CTMapSizeTCP: 4, CTMapSizeAny: 4, NATMapSize: 8, NeighMapSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		type fk struct {
			src, dst netip.Addr
			proto    uint8
			id       uint32
		}
		firsts := map[fk]bool{}
		testutil.FuzzServices(t, b, in, func(p *balancer.Packet, d balancer.Decision) {
			k := fk{p.Src, p.Dst, p.Proto, uint32(p.IPID) | p.FragID}
			if p.IsFirstFragment() {
				// Recorded whatever its verdict: ipv{4,6}_handle_fragmentation
				// runs before the service lookup, so a first fragment passed
				// for want of a service leaves its ports for later fragments,
				// which a service set in between then forwards.
				firsts[k] = true
			}
			if d.Action != balancer.Forward {
				return
			}
			if _, ok := b.backend.Get(d.Backend); !ok || !upInTable(b, d.Backend) {
				t.Fatalf("forwarded %+v to %d, not an up backend", *p, d.Backend)
			}
			if p.FragOffset != 0 && !firsts[k] {
				t.Fatalf("forwarded non-first fragment %+v whose first fragment never passed", *p)
			}
			if p.Dst.Is6() && (p.ExtHeaders >= ipv6MaxHeaders || p.Proto == balancer.ProtoNoNext) {
				t.Fatalf("forwarded %+v past IPV6_MAX_HEADERS", *p)
			}
		})
	})
}
