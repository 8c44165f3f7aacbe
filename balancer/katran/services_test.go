package katran

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

func TestServices(t *testing.T) {
	testutil.CheckServices(t, func() testutil.ServiceBalancer {
		b, err := New(Config{CPUs: 4, LRUSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestOpCountsIPv6AndServices checks the IPv6 and service rows of the
// op-count table: IPv6 takes IPv4's path (encap_v6 in place of
// encap_v4); a port-0 VIP costs the second vip_map lookup, a packet to
// no VIP both.
func TestOpCountsIPv6AndServices(t *testing.T) {
	d := func() balancer.Balancer { return dual(t, Config{}) }
	port0 := func() balancer.Balancer {
		return services(t, Config{ServiceOptions: []ServiceOption{
			{balancer.ServiceKey{VIP: testutil.VIP, Port: 53, Proto: balancer.ProtoUDP}, VIPOptions{AllPorts: true}},
		}})
	}
	svc := func() balancer.Balancer { return services(t, Config{}) }
	first, _ := testutil.Fragments6(5000, 7)
	ext := testutil.UDP6(5000)
	ext.ExtHeaders = 1 // a Destination Options header
	to := func(port uint16) balancer.Packet {
		p := testutil.UDP(5000)
		p.DstPort = port
		return p
	}
	ops := []cost.Op{cost.OpArrayRead, cost.OpRingRead, cost.OpMapRead, cost.OpLRURead, cost.OpHash, cost.OpLRUInsert, cost.OpClock, cost.OpEncap}
	testutil.CheckOpTable(t, "../../docs/fidelity.md", "## Katran (`balancer/katran`)", 3, ops, []testutil.OpCase{
		{Row: "IPv6 new UDP flow", New: d, P: testutil.UDP6(5000), Want: balancer.Forward},
		{Row: "IPv6 established TCP flow", New: d, Before: []balancer.Packet{testutil.TCP6(1000, balancer.TCPSyn)}, P: testutil.TCP6(1000, balancer.TCPAck), Want: balancer.Forward},
		{Row: "IPv6 fragment", New: d, P: first, Want: balancer.Drop},
		{Row: "IPv6 atomic fragment", New: d, P: testutil.Atomic6(5000, 9), Want: balancer.Drop},
		{Row: "IPv6 extension header", New: d, P: ext, Want: balancer.Pass},
		{Row: "service, new UDP flow", New: svc, P: to(53), Want: balancer.Forward},
		{Row: "port-0 VIP, new UDP flow", New: port0, P: to(5353), Want: balancer.Forward},
		{Row: "no service", New: svc, P: to(5353), Want: balancer.Pass},
	})
}

// TestIPv6 runs IPv6 packets through the catch-alls of both families:
// whole packets go to IPv6 backends; every packet whose IPv6 header's
// Next Header is a Fragment header (a fragment or an atomic fragment) is
// dropped and counted; any other extension header first, or ICMPv6, is
// passed; malformed IPv6 is dropped as malformed. With IPv4 backends only
// every IPv6 packet is passed.
func TestIPv6(t *testing.T) {
	b := dual(t, Config{})
	for sport := uint16(1); sport < 100; sport++ {
		p := testutil.UDP6(sport)
		d := b.Process(&balancer.Env{}, &p)
		if d.Action != balancer.Forward || d.Backend < 201 || d.Backend > 202 {
			t.Fatalf("IPv6 datagram: %+v, want forward to 201 or 202", d)
		}
		p4 := testutil.UDP(sport)
		if d := b.Process(&balancer.Env{}, &p4); d.Action != balancer.Forward || d.Backend < 101 || d.Backend > 103 {
			t.Fatalf("IPv4 datagram: %+v, want forward to 101..103", d)
		}
	}
	first, last := testutil.Fragments6(5000, 1<<20)
	behind := first
	behind.ExtHeaders = 2 // Destination Options, then the Fragment header
	ext := testutil.TCP6(1, balancer.TCPSyn)
	ext.ExtHeaders = 3
	icmp := testutil.UDP6(1)
	icmp.Proto, icmp.SrcPort, icmp.DstPort = balancer.ProtoICMPv6, 0, 0
	for _, c := range []struct {
		name   string
		p      balancer.Packet
		action balancer.Action
		reason string
	}{
		{"first fragment", first, balancer.Drop, ReasonFragment6},
		{"last fragment", last, balancer.Drop, ReasonFragment6},
		{"atomic fragment", testutil.Atomic6(5000, 3), balancer.Drop, ReasonFragment6},
		{"fragment behind a Destination Options header", behind, balancer.Pass, ""},
		{"three extension headers", ext, balancer.Pass, ""},
		{"ICMPv6", icmp, balancer.Pass, ""},
		{"IPv6 source, IPv4 destination", balancer.Packet{Src: testutil.Client6, Dst: testutil.VIP, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 53}, balancer.Drop, balancer.ReasonMalformed},
		{"IPv4 source, IPv6 destination", balancer.Packet{Src: testutil.Client, Dst: testutil.VIP6, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 53}, balancer.Drop, balancer.ReasonMalformed},
		{"five extension headers", balancer.Packet{Src: testutil.Client6, Dst: testutil.VIP6, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 53, ExtHeaders: 5}, balancer.Drop, balancer.ReasonMalformed},
		{"fragment without a header", balancer.Packet{Src: testutil.Client6, Dst: testutil.VIP6, Proto: balancer.ProtoUDP, FragOffset: 8}, balancer.Drop, balancer.ReasonMalformed},
	} {
		d := b.Process(&balancer.Env{}, &c.p)
		if d.Action != c.action || d.Reason != c.reason {
			t.Errorf("%s: %+v, want %v %q", c.name, d, c.action, c.reason)
		}
	}
	if s := b.Stats(); s.DropFragment6 != 3 || s.DropFragment != 0 || s.DropMalformed != 4 {
		t.Errorf("stats %+v: want 3 IPv6 fragment drops, 4 malformed", s)
	}

	// IPv4 backends only: no IPv6 destination is a VIP.
	b4 := newTest(t, Config{})
	m := cost.NewMeter(cost.Default())
	p := testutil.UDP6(1)
	if d := b4.Process(&balancer.Env{Meter: m}, &p); d.Action != balancer.Pass || m.Count(cost.OpMapRead) != 2 || m.Count(cost.OpArrayRead) != 2 {
		t.Errorf("IPv6 datagram, IPv4 backends: %+v after %d vip_map and %d stats reads, want pass after 2 and 2 (both vip_map lookups miss)",
			d, m.Count(cost.OpMapRead), m.Count(cost.OpArrayRead))
	}
}

// The naive variant balances IPv6 fragments as IPv4 ones: a first
// fragment by its flow, the rest with ports 0.
func TestIPv6Naive(t *testing.T) {
	b := dual(t, Config{Naive: true})
	first, last := testutil.Fragments6(5000, 77)
	whole := testutil.UDP6(5000)
	dw := b.Process(&balancer.Env{CPU: 1}, &whole)
	df := b.Process(&balancer.Env{CPU: 2}, &first)
	if df.Action != balancer.Forward || df.Backend != dw.Backend {
		t.Errorf("naive first fragment: %+v, want forward to its flow's %d", df, dw.Backend)
	}
	zero := last
	svc, _ := b.table.Lookup(&zero)
	want, _ := svc.Pick(balancer.Hash5(&zero, balancer.DefaultSeed))
	if d := b.Process(&balancer.Env{CPU: 2}, &last); d.Action != balancer.Forward || d.Backend != want {
		t.Errorf("naive last fragment: %+v, want forward to %d (ports-0 hash)", d, want)
	}
	if d := b.Process(&balancer.Env{}, new(testutil.Atomic6(5000, 1))); d.Action != balancer.Forward || d.Backend != dw.Backend {
		t.Errorf("naive atomic fragment: %+v, want its flow's %d", d, dw.Backend)
	}
}

// A port-0 VIP (VIPOptions.AllPorts) serves every port of its address
// and protocol that no other service names, its own Key.Port included,
// and hashes and tracks with destination port 0: one client port's
// connections to any port share a backend and a connection-table entry.
func TestPortZeroVIP(t *testing.T) {
	all := balancer.ServiceKey{VIP: testutil.VIP, Port: 80, Proto: balancer.ProtoTCP}
	b, err := New(Config{CPUs: 1, LRUSize: 1000, ServiceOptions: []ServiceOption{{all, VIPOptions{AllPorts: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	ss := testutil.Services(func(int, *balancer.Backend) {})
	if err := b.SetServices(ss); err != nil {
		t.Fatal(err)
	}
	for sport := uint16(1000); sport < 1100; sport++ {
		to := func(port uint16) balancer.Decision {
			p := balancer.Packet{Src: testutil.Client, Dst: testutil.VIP, Proto: balancer.ProtoTCP, SrcPort: sport, DstPort: port, Len: 60, TCPFlags: balancer.TCPSyn}
			return b.Process(&balancer.Env{}, &p)
		}
		d80, d8080, d443 := to(80), to(8080), to(443)
		if d80.Action != balancer.Forward || d80.Backend > 102 || d8080 != d80 {
			t.Fatalf("sport %d: port 80 %+v, port 8080 %+v; want one backend of 101, 102", sport, d80, d8080)
		}
		if d443.Action != balancer.Forward || d443.Backend < 102 || d443.Backend > 103 {
			t.Fatalf("sport %d: port 443 %+v, want its own service's 102 or 103", sport, d443)
		}
	}
	// 100 client ports to two ports of the port-0 VIP share 100 entries;
	// port 443's flows have their own.
	if n := b.LRULen(); n != 200 {
		t.Errorf("connection table holds %d entries, want 200", n)
	}
	// UDP to the VIP has no port-0 VIP: only port 53 is served.
	p := testutil.UDP(1)
	p.DstPort = 5353
	if d := b.Process(&balancer.Env{}, &p); d.Action != balancer.Pass {
		t.Errorf("UDP to port 5353: %+v, want pass", d)
	}

	two := []ServiceOption{{all, VIPOptions{AllPorts: true}}, {balancer.ServiceKey{VIP: testutil.VIP, Port: 443, Proto: balancer.ProtoTCP}, VIPOptions{AllPorts: true}}}
	b2, _ := New(Config{ServiceOptions: two})
	testutil.WantError(t, b2.SetServices(ss), "services[1].Key 198.51.100.1:443/tcp", ErrAllPorts)
	_, err = New(Config{ServiceOptions: append(two, two[0])})
	testutil.WantError(t, err, "config.ServiceOptions[2].Key 198.51.100.1:80/tcp", balancer.ErrDuplicateService)
}

// HashNoSrcPort (F_HASH_NO_SRC_PORT): every connection of a client
// address goes to one backend, tracked by one entry; other services are
// not affected.
func TestHashNoSrcPort(t *testing.T) {
	k := balancer.ServiceKey{VIP: testutil.VIP, Port: 443, Proto: balancer.ProtoTCP}
	b, err := New(Config{CPUs: 1, LRUSize: 1000, ServiceOptions: []ServiceOption{{k, VIPOptions{HashNoSrcPort: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetServices(testutil.Services(func(int, *balancer.Backend) {})); err != nil {
		t.Fatal(err)
	}
	seen443, seen80 := map[balancer.BackendID]bool{}, map[balancer.BackendID]bool{}
	for sport := uint16(1000); sport < 1100; sport++ {
		p := testutil.TCP(sport, balancer.TCPSyn)
		seen443[b.Process(&balancer.Env{}, &p).Backend] = true
		p.DstPort = 80
		seen80[b.Process(&balancer.Env{}, &p).Backend] = true
	}
	if len(seen443) != 1 || len(seen80) != 2 {
		t.Errorf("one client, 100 ports: port 443 (no source port) on %v, port 80 on %v; want one backend and both", seen443, seen80)
	}
	if n := b.LRULen(); n != 1+100 {
		t.Errorf("connection table holds %d entries, want 101", n)
	}
}

// A refused SetServices keeps the previous VIPs, their options and
// rings.
func TestSetServicesErrors(t *testing.T) {
	b := services(t, Config{})
	p := testutil.TCP(1000, balancer.TCPSyn)
	p.DstPort = 80
	before := b.Process(&balancer.Env{}, &p)
	for _, c := range []struct {
		mod   func(ss []balancer.Service) []balancer.Service
		field string
		err   error
	}{
		{func(ss []balancer.Service) []balancer.Service { ss[1].Key.Port = 0; return ss }, "services[1].Key.Port 0", balancer.ErrBadPort},
		{func(ss []balancer.Service) []balancer.Service { ss[3].Backends[0].Addr = testutil.Client; return ss }, "services[3].backends[0].Addr 192.0.2.7", balancer.ErrFamily},
		{func(ss []balancer.Service) []balancer.Service { ss[0].RingSize = 12; return ss }, "services[0].RingSize 12", nil},
		{func(ss []balancer.Service) []balancer.Service { return append(ss, ss[2]) }, "services[4].Key 198.51.100.1:53/udp", balancer.ErrDuplicateService},
	} {
		testutil.WantError(t, b.SetServices(c.mod(testutil.Services(func(int, *balancer.Backend) {}))), c.field, c.err)
		if d := b.Process(&balancer.Env{}, &p); d != before {
			t.Errorf("after a refused call (%s): %+v, want %+v", c.field, d, before)
		}
	}
}

func TestProcessDoesNotAllocateIPv6AndServices(t *testing.T) {
	for name, b := range map[string]*Balancer{"dual": dual(t, Config{CPUs: 2, LRUSize: 200}), "services": services(t, Config{CPUs: 2, LRUSize: 200})} {
		env := &balancer.Env{Meter: cost.NewMeter(cost.Default())}
		for sport := range uint16(300) { // fill the LRUs to their bound
			p := testutil.TCP6(sport, balancer.TCPSyn)
			b.Process(env, &p)
		}
		est := testutil.TCP6(1, balancer.TCPAck)
		b.Process(env, &est)
		first, _ := testutil.Fragments6(1, 1)
		sport := uint16(0)
		for what, fn := range map[string]func(){
			"established": func() { b.Process(env, &est) },
			"new flow": func() {
				sport++
				p := testutil.TCP6(sport, balancer.TCPSyn)
				b.Process(env, &p)
			},
			"fragment": func() { b.Process(env, &first) },
			"no service": func() {
				p := testutil.UDP(1)
				p.DstPort = 9
				b.Process(env, &p)
			},
		} {
			if n := testing.AllocsPerRun(200, fn); n != 0 {
				t.Errorf("%s %s: %v allocations per Process, want 0", name, what, n)
			}
		}
	}
}

// FuzzServices applies fuzzed service and backend sets and IPv6 and
// IPv4 packets: Process never panics, never forwards a malformed packet
// or one to a backend of the other family, and (unless naive) never
// forwards a fragment of either family.
func FuzzServices(f *testing.F) {
	f.Add([]byte{0x04, 0x01, 0x03, 0x12, 0x0d, 0x02, 0x00, 0x10, 0x06, 0x03, 0x41, 0x02})
	f.Add([]byte{0x01, 0x3f, 0x02, 0x02, 0x03, 0x40, 0x06, 0x26, 0x00, 0x61, 0x03, 0x42, 0x21, 0xe1})
	f.Fuzz(func(t *testing.T, in []byte) {
		naive := len(in)%3 == 0
		b, err := New(Config{CPUs: 2, LRUSize: 16, RingSize: 13, Naive: naive, ServiceOptions: []ServiceOption{
			{balancer.ServiceKey{VIP: testutil.VIP, Port: 80, Proto: balancer.ProtoTCP}, VIPOptions{AllPorts: true}},
			{balancer.ServiceKey{VIP: testutil.VIP6, Port: 443, Proto: balancer.ProtoUDP}, VIPOptions{HashNoSrcPort: true}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		testutil.FuzzServices(t, b, in, func(p *balancer.Packet, d balancer.Decision) {
			if d.Action == balancer.Forward && !naive && (p.IsFragment() || p.Dst.Is6() && p.ExtHeaders > 0) {
				t.Fatalf("forwarded %+v", *p)
			}
		})
	})
}
