package xdp

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/testutil"
)

func TestOptionsErrorsNameField(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Options
		want string
		is   error
	}{
		{"ring not prime", Options{Config: titan.Config{RingSize: 65536}}, "xdp: options.RingSize 65536: not prime", titan.ErrNotPrime},
		{"ring too large", Options{Config: titan.Config{RingSize: 1<<24 + 1}}, "xdp: options.RingSize 16777217: too large (max 16777216)", titan.ErrTooLarge},
		{"negative conn", Options{Config: titan.Config{ConnTableSize: -1}}, "xdp: options.ConnTableSize -1: must not be negative", titan.ErrNegative},
		{"negative frag timeout", Options{Config: titan.Config{FragTimeout: -1}}, "xdp: options.FragTimeout -1ns: must not be negative", titan.ErrNegative},
		{"bad policy", Options{Config: titan.Config{OrphanPolicy: 7}}, "xdp: options.OrphanPolicy 7: unknown orphan policy", titan.ErrUnknownPolicy},
		{"bad admission", Options{Config: titan.Config{OrphanAdmission: 7}}, "xdp: options.OrphanAdmission 7: unknown orphan admission", titan.ErrUnknownAdmission},
		{"ipv6 vip", Options{Config: titan.Config{VIPs: []netip.Addr{testVIP, netip.MustParseAddr("::1")}}}, "xdp: options.VIPs[1] ::1: not an IPv4 address", titan.ErrNotIPv4},
		{"ipv6 source", Options{SourceAddr: netip.MustParseAddr("::1")}, "xdp: options.SourceAddr ::1: not an IPv4 address", titan.ErrNotIPv4},
		{"max backends", Options{MaxBackends: 1 << 25}, "xdp: options.MaxBackends 33554432: too large (max 16777216)", titan.ErrTooLarge},
		{"negative max backends", Options{MaxBackends: -1}, "xdp: options.MaxBackends -1: must not be negative", titan.ErrNegative},
		{"frag table", Options{Config: titan.Config{FragTableSize: 1<<28 + 1}}, "xdp: options.FragTableSize 268435457: too large (max 268435456)", titan.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Load: %v, want %q", err, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			// The field is named as titan names it: the one definition.
			if ce, ok := errors.AsType[*titan.ConfigError](err); !ok || !strings.HasPrefix(tc.want, "xdp: options."+ce.Field+" ") {
				t.Errorf("error %v: no *titan.ConfigError naming the field", err)
			}
		})
	}
}

// TestOptionsDefaults checks the kernel-only defaults, and that Options
// resolve their embedded Config exactly as titan does: the zero pair is
// in parity (TestParity's zero-config trace runs it).
func TestOptionsDefaults(t *testing.T) {
	o, err := Options{}.resolved()
	if err != nil {
		t.Fatal(err)
	}
	c, err := titan.Config{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Config, c) {
		t.Errorf("Options{} resolve to %+v, titan.Config{} to %+v", o.Config, c)
	}
	if o.Seed != balancer.DefaultSeed || o.RingSize != 65537 || o.ConnTableSize != 131072 ||
		o.FragTableSize != 16384 || o.FragTimeout.Seconds() != 30 || o.HintTableSize != 131072 ||
		o.OrphanPolicy != titan.OrphanHostHint || o.MaxBackends != 4096 {
		t.Errorf("defaults %+v", o)
	}
}

// TestCDefaultsMatchOptions checks that titan.c, loaded as it is (no
// configuration set: what a harness outside the loader does), has the
// configuration and table sizes of Options{}.
func TestCDefaultsMatchOptions(t *testing.T) {
	spec, err := loadTitan()
	if err != nil {
		t.Fatal(err)
	}
	o, err := Options{}.resolved()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]uint32{
		titanVarCfgSeed:            o.Seed,
		titanVarCfgRingSize:        uint32(o.RingSize),
		titanVarCfgOrphanPolicy:    uint32(o.OrphanPolicy),
		titanVarCfgOrphanAdmission: uint32(o.OrphanAdmission),
		titanVarCfgFragSets:        uint32(frag.SetCount(o.FragTableSize)),
		titanVarCfgConnSets:        uint32(frag.SetCount(o.ConnTableSize)),
		titanVarCfgHintSets:        uint32(frag.SetCount(o.HintTableSize)),
	}
	for name, want := range vars {
		var got uint32
		if err := spec.Variables[name].Get(&got); err != nil || got != want {
			t.Errorf("%s = %d (%v), want %d", name, got, err, want)
		}
	}
	var fam [2]uint64
	if err := spec.Variables[titanVarSvcFamily].Get(&fam); err != nil || fam != [2]uint64{svcDesc(0, int(o.RingSize), 0), 0} {
		t.Errorf("svc_family = %x (%v), want the IPv4 catch-all on the first %d slots", fam, err, o.RingSize)
	}
	sizes := map[string]uint32{
		titanMapConns:    uint32(frag.SetCount(o.ConnTableSize)),
		titanMapFrags:    uint32(frag.SetCount(o.FragTableSize)),
		titanMapHints:    uint32(frag.SetCount(o.HintTableSize)),
		titanMapConns6:   uint32(frag.SetCount(o.ConnTableSize)),
		titanMapFrags6:   uint32(frag.SetCount(o.FragTableSize)),
		titanMapHints6:   uint32(frag.SetCount(o.HintTableSize)),
		titanMapRing:     uint32(2 * o.MaxRingSlots),
		titanMapBackends: uint32(o.MaxBackends),
		titanMapServices: servicesEntries,
	}
	for name, want := range sizes {
		if got := spec.Maps[name].MaxEntries; got != want {
			t.Errorf("map %s: %d entries, want %d", name, got, want)
		}
	}
}

func TestSetBackendsErrors(t *testing.T) {
	p := mustLoad(t, Options{MaxBackends: 200})
	bs := testutil.Backends(3)
	bs[2].ID = 200
	if err := p.SetBackends(bs); err == nil || !errors.Is(err, ErrBadBackend) ||
		err.Error() != "xdp: backends[2].ID 200: backend id not below Options.MaxBackends (200)" {
		t.Errorf("ID 200 of MaxBackends 200: %v", err)
	}
	bs = testutil.Backends(3)
	bs[1].Addr = bs[0].Addr
	if err := p.SetBackends(bs); !errors.Is(err, ErrDuplicateAddr) {
		t.Errorf("duplicate address: %v", err)
	}
	bs = testutil.Backends(3)
	bs[1].ID = bs[0].ID
	if err := p.SetBackends(bs); !errors.Is(err, balancer.ErrDuplicateBackend) {
		t.Errorf("duplicate id: %v", err)
	}
	// Both families: a catch-all each.
	bs = testutil.Backends(2)
	bs[1].Addr = netip.MustParseAddr("2001:db8::2")
	bs = append(bs, balancer.Backend{ID: 110, Name: "110", Addr: netip.MustParseAddr("2001:db8::3"), Weight: 1, Up: true})
	if err := p.SetBackends(bs); err != nil {
		t.Errorf("IPv4 and IPv6 backends: %v", err)
	}
}

func TestSetServicesErrors(t *testing.T) {
	p := mustLoad(t, Options{MaxBackends: 200, Config: titan.Config{RingSize: 13}, MaxRingSlots: 30})
	v6 := netip.MustParseAddr("2001:db8::10")
	b6 := balancer.Backend{ID: 120, Name: "120", Addr: netip.MustParseAddr("2001:db8::20"), Weight: 1, Up: true}
	svc := func(port uint16, bs ...balancer.Backend) balancer.Service {
		return balancer.Service{Key: balancer.ServiceKey{VIP: testVIP, Port: port, Proto: balancer.ProtoTCP}, Backends: bs}
	}
	bs := testutil.Backends(3)
	for _, tc := range []struct {
		name string
		ss   []balancer.Service
		err  error
		text string
	}{
		{"mixed family", []balancer.Service{svc(80, bs[0], b6)}, balancer.ErrFamily, "xdp: services[0].backends[1].Addr 2001:db8::20: not the VIP's family"},
		{"id too large", []balancer.Service{svc(80, bs[0]), svc(81, balancer.Backend{ID: 300, Name: "300", Addr: netip.MustParseAddr("10.1.0.9"), Weight: 1, Up: true})},
			ErrBadBackend, "xdp: services[1].backends[0].ID 300"},
		{"address of two ids", []balancer.Service{svc(80, bs[0]), svc(81, balancer.Backend{ID: 150, Name: "150", Addr: bs[0].Addr, Weight: 1, Up: true})},
			ErrDuplicateAddr, "xdp: services[1].backends[0].Addr 10.1.0.1"},
		// Three services of one VIP and protocol sharing their pool: a
		// fourth ring, the orphans'.
		{"rings beyond MaxRingSlots", []balancer.Service{svc(80, bs...), svc(81, bs...), svc(82, bs...)}, ErrRingSlots, "xdp: rings of 52 slots in all"},
		{"too many", make([]balancer.Service, MaxServices+1), ErrTooManyServices, "xdp: services: 257"},
	} {
		if err := p.SetServices(tc.ss); !errors.Is(err, tc.err) || !strings.HasPrefix(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %v starting %q", tc.name, err, tc.err, tc.text)
		}
	}
	// Two rings of 13 fit 30 slots; an IPv6 service beside IPv4 ones.
	ok := []balancer.Service{svc(80, bs...), {Key: balancer.ServiceKey{VIP: v6, Port: 80, Proto: balancer.ProtoUDP}, Backends: []balancer.Backend{b6}}}
	if err := p.SetServices(ok); err != nil {
		t.Errorf("two services: %v", err)
	}
}

// TestHashParity checks that the kernel's first choice for a new flow is
// the Go ring's slot of balancer.Hash5, for random 5-tuples, two seeds and
// two ring sizes.
func TestHashParity(t *testing.T) {
	for _, o := range []Options{{}, {Config: titan.Config{Seed: 0xdeadbeef, RingSize: 251}}} {
		p := mustLoad(t, o)
		bs := testutil.Backends(7)
		if err := p.SetBackends(bs); err != nil {
			t.Fatal(err)
		}
		r, err := balancer.NewRing(bs, p.Options().RingSize)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, uint64(o.Seed)))
		protos := []uint8{balancer.ProtoTCP, balancer.ProtoUDP, balancer.ProtoICMP}
		seen := map[balancer.BackendID]int{}
		for i := range 3000 {
			pk := balancer.Packet{
				Src:     netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(i)}),
				Dst:     netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.Uint32())}),
				Proto:   protos[i%3],
				SrcPort: uint16(rng.Uint32()), DstPort: uint16(rng.Uint32()),
			}
			if pk.Proto == balancer.ProtoICMP {
				pk.SrcPort, pk.DstPort = 0, 0
			}
			res, err := p.Run(balancer.Encode(pk, 10))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := r.Lookup(balancer.Hash5(&pk, p.Options().Seed))
			if res.Action != balancer.Forward || res.Backend != want {
				t.Fatalf("seed %#x M %d packet %d %+v: kernel %v %v, Go ring %v", p.Options().Seed, p.Options().RingSize, i, pk, res.Action, res.Backend, want)
			}
			seen[want]++
		}
		if len(seen) != len(bs) {
			t.Errorf("only %d of %d backends chosen: %v", len(seen), len(bs), seen)
		}
	}
}

// TestBadInput runs each malformed frame through the program and checks
// the action, the counter it moved, and that balancer.Decode rejects the
// same frame (the Go model and the kernel agree on what is malformed).
func TestBadInput(t *testing.T) {
	p := mustLoad(t, Options{})
	if err := p.SetBackends(testutil.Backends(3)); err != nil {
		t.Fatal(err)
	}
	good := func() []byte { return balancer.Encode(tcpPacket(1234), 100) }
	setLen := func(b []byte, n int) { binary.BigEndian.PutUint16(b[16:18], uint16(n)) }
	frag := func(off uint16, mf bool, data int, proto uint8) []byte {
		pk := tcpPacket(1)
		pk.Proto = proto
		pk.FragOffset, pk.MoreFragments = off, mf
		return balancer.Encode(pk, data)
	}
	for _, tc := range []struct {
		name    string
		frame   func() []byte
		want    balancer.Action
		counter func(Stats) uint64
	}{
		// BPF_PROG_TEST_RUN refuses frames shorter than 14 bytes
		// (EINVAL), so a short Ethernet header cannot be run; the
		// program drops it as truncated like a short IPv4 header.
		{"short ipv4", func() []byte { return good()[:14+19] }, balancer.Drop, func(s Stats) uint64 { return s.DropTruncated }},
		{"arp", func() []byte { b := good(); b[12], b[13] = 0x08, 0x06; return b }, balancer.Pass, func(s Stats) uint64 { return s.PassNotIPv4 }},
		{"ipv6 ethertype, version 4", func() []byte { b := good(); b[12], b[13] = 0x86, 0xdd; return b }, balancer.Drop, func(s Stats) uint64 { return s.Drop6Version }},
		{"version 6", func() []byte { b := good(); b[14] = 0x65; return b }, balancer.Drop, func(s Stats) uint64 { return s.DropBadVersion }},
		{"ihl 4", func() []byte { b := good(); b[14] = 0x44; return b }, balancer.Drop, func(s Stats) uint64 { return s.DropBadIHL }},
		{"ihl 0", func() []byte { b := good(); b[14] = 0x40; return b }, balancer.Drop, func(s Stats) uint64 { return s.DropBadIHL }},
		{"total beyond frame", func() []byte { b := good(); setLen(b, len(b)-14+1); return b }, balancer.Drop, func(s Stats) uint64 { return s.DropBadLength }},
		{"total below header", func() []byte { b := good(); setLen(b, 19); return b }, balancer.Drop, func(s Stats) uint64 { return s.DropBadLength }},
		{"ihl 15 beyond total", func() []byte { b := good(); b[14] = 0x4f; setLen(b, 40); return b }, balancer.Drop, func(s Stats) uint64 { return s.DropBadLength }},
		{"tcp header cut", func() []byte { b := good(); setLen(b, 20+19); return b }, balancer.Drop, func(s Stats) uint64 { return s.DropL4Truncated }},
		{"udp header cut", func() []byte {
			pk := tcpPacket(1)
			pk.Proto = balancer.ProtoUDP
			b := balancer.Encode(pk, 0)
			setLen(b, 20+7)
			return b
		}, balancer.Drop, func(s Stats) uint64 { return s.DropL4Truncated }},
		{"first fragment tcp cut", func() []byte { b := frag(0, true, 0, balancer.ProtoTCP); setLen(b, 20+8); return b }, balancer.Drop, func(s Stats) uint64 { return s.DropL4Truncated }},
		{"zero-length fragment", func() []byte { return frag(10, true, 0, balancer.ProtoTCP) }, balancer.Drop, func(s Stats) uint64 { return s.DropEmptyFrag }},
		{"zero-length last fragment", func() []byte { return frag(10, false, 0, balancer.ProtoUDP) }, balancer.Drop, func(s Stats) uint64 { return s.DropEmptyFrag }},
		{"fragment past 65535", func() []byte { return frag(8190, false, 24, balancer.ProtoUDP) }, balancer.Drop, func(s Stats) uint64 { return s.DropFragOverrun }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := tc.frame()
			before, err := p.Stats()
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Run(frame)
			if err != nil {
				t.Fatal(err)
			}
			after, err := p.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != tc.want {
				t.Errorf("action %v, want %v", res.Action, tc.want)
			}
			if d := tc.counter(after) - tc.counter(before); d != 1 {
				t.Errorf("counter moved by %d, want 1 (stats %+v)", d, after)
			}
			if after.Forwarded != before.Forwarded || after.Packets != before.Packets+1 {
				t.Errorf("forwarded %d->%d packets %d->%d", before.Forwarded, after.Forwarded, before.Packets, after.Packets)
			}
			if _, err := balancer.Decode(frame); err == nil {
				t.Errorf("balancer.Decode accepts a frame the kernel rejects")
			}
		})
	}
	// The edges that are still valid: a fragment ending exactly at 65535,
	// IHL 15 with options, Ethernet padding after the total length.
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"fragment ending at 65535", frag(8189, false, 23, balancer.ProtoUDP)},
		{"options", func() []byte {
			pk := tcpPacket(9)
			b := balancer.Encode(pk, 40)
			// Turn the first 40 payload bytes into options: move the TCP
			// header after them.
			ip := b[14:]
			copy(ip[60:80], ip[20:40])
			ip[0] = 0x4f
			for i := 20; i < 60; i++ {
				ip[i] = 1 // NOP options
			}
			return b
		}()},
		{"padding", append(good(), make([]byte, 30)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := balancer.Decode(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Run(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != balancer.Forward {
				t.Fatalf("action %v, want forward", res.Action)
			}
			if want.SrcPort != 9 && tc.name == "options" {
				t.Errorf("decode read port %d", want.SrcPort)
			}
		})
	}
}

// parseIPIP checks that out is an Ethernet frame carrying a valid outer
// IPv4 header of protocol 4 and returns the outer header and the inner
// packet.
func parseIPIP(t *testing.T, out []byte) (outer, inner []byte) {
	t.Helper()
	if len(out) < 14+20+20 {
		t.Fatalf("output %d bytes", len(out))
	}
	if binary.BigEndian.Uint16(out[12:14]) != 0x0800 {
		t.Fatalf("outer ethertype %#x", out[12:14])
	}
	outer = out[14:34]
	if outer[0] != 0x45 || outer[9] != 4 || outer[8] != 64 {
		t.Errorf("outer header %x: want version 4 IHL 5, protocol 4, TTL 64", outer)
	}
	if c := balancer.Checksum(outer, 0); c != 0 {
		t.Errorf("outer checksum does not verify (%#x)", c)
	}
	tot := int(binary.BigEndian.Uint16(outer[2:4]))
	inner = out[34:]
	itot := int(binary.BigEndian.Uint16(inner[2:4]))
	if tot != itot+20 {
		t.Errorf("outer total length %d, inner %d", tot, itot)
	}
	return outer, inner
}

func TestEncapsulation(t *testing.T) {
	src := netip.MustParseAddr("10.0.0.254")
	for _, o := range []Options{{}, {SourceAddr: src}} {
		p := mustLoad(t, o)
		bs := testutil.Backends(3)
		if err := p.SetBackends(bs); err != nil {
			t.Fatal(err)
		}
		addr := map[balancer.BackendID]netip.Addr{}
		for _, b := range bs {
			addr[b.ID] = b.Addr
		}
		for i, pk := range []balancer.Packet{
			tcpPacket(1000),
			{Src: testClient, Dst: testVIP, Proto: balancer.ProtoUDP, SrcPort: 5353, DstPort: 53, IPID: 7},
			{Src: testClient, Dst: testVIP, Proto: balancer.ProtoUDP, IPID: 9, FragOffset: 185, MoreFragments: true},
			{Src: testClient, Dst: testVIP, Proto: balancer.ProtoICMP, IPID: 11},
		} {
			in := balancer.Encode(pk, 200+i)
			in[15] = 0x28 // TOS, copied to the outer header
			binary.BigEndian.PutUint16(in[24:26], 0)
			binary.BigEndian.PutUint16(in[24:26], balancer.Checksum(in[14:34], 0))
			res, err := p.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != balancer.Forward || res.Ret != xdpTX {
				t.Fatalf("packet %d: %v (%d), want forward (XDP_TX)", i, res.Action, res.Ret)
			}
			if len(res.Out) != len(in)+20 {
				t.Fatalf("output %d bytes, want %d", len(res.Out), len(in)+20)
			}
			outer, inner := parseIPIP(t, res.Out)
			if got := netip.AddrFrom4([4]byte(outer[16:20])); got != addr[res.Backend] {
				t.Errorf("outer dst %v, backend %v has %v", got, res.Backend, addr[res.Backend])
			}
			wantSrc := testVIP
			if o.SourceAddr.IsValid() {
				wantSrc = src
			}
			if got := netip.AddrFrom4([4]byte(outer[12:16])); got != wantSrc {
				t.Errorf("outer src %v, want %v", got, wantSrc)
			}
			if outer[1] != 0x28 {
				t.Errorf("outer TOS %#x, want the inner's 0x28", outer[1])
			}
			if string(res.Out[:14]) != string(in[:14]) {
				t.Errorf("ethernet header %x, want %x", res.Out[:14], in[:14])
			}
			if string(inner) != string(in[14:]) {
				t.Errorf("inner packet changed")
			}
			if balancer.Checksum(inner[:20], 0) != 0 {
				t.Errorf("inner checksum broken")
			}
			got, err := balancer.Decode(append(append([]byte(nil), res.Out[:14]...), inner...))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := balancer.Decode(in)
			if got != want {
				t.Errorf("inner decodes as %+v, want %+v", got, want)
			}
		}
	}
}

// TestStatsPerCPU runs packets pinned to each CPU in turn and checks the
// per-CPU counters sum.
func TestStatsPerCPU(t *testing.T) {
	p := mustLoad(t, Options{})
	if err := p.SetBackends(testutil.Backends(2)); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var orig unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &orig)
	cpus := 0
	for cpu := 0; cpu < 1024 && cpus < 4; cpu++ {
		if !orig.IsSet(cpu) {
			continue
		}
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			t.Fatal(err)
		}
		cpus++
		for i := range 5 {
			if _, err := p.Run(balancer.Encode(tcpPacket(uint16(100*cpus+i)), 10)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Run(balancer.Encode(tcpPacket(1), 10)[:20]); err != nil {
			t.Fatal(err)
		}
	}
	var per []titanCounters
	if err := p.objs.Stats.Lookup(uint32(0), &per); err != nil {
		t.Fatal(err)
	}
	busy := 0
	for _, c := range per {
		if c.Packets > 0 {
			busy++
		}
	}
	if busy != cpus {
		t.Errorf("%d CPUs counted packets, ran on %d", busy, cpus)
	}
	s, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Packets != uint64(6*cpus) || s.Forwarded != uint64(5*cpus) || s.DropTruncated != uint64(cpus) || s.ConnMisses+s.ConnHits != uint64(5*cpus) {
		t.Errorf("stats %+v after %d CPUs × (5 forwarded + 1 truncated)", s, cpus)
	}
}
