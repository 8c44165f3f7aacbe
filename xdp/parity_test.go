package xdp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

// Packet kinds the parity trace counts.
const (
	kindNewFlow     = iota // first packet of a flow, unfragmented
	kindEstablished        // later packet of a flow, unfragmented
	kindFirstFrag          // first fragment (offset 0, MF)
	kindNonFirst           // non-first fragment, in order
	kindReordered          // non-first fragment sent before its first fragment
	kindConflict           // a second first fragment with other ports
	kindNotVIP             // to an address that is not a VIP
	numKinds
)

var kindNames = [numKinds]string{"new flow", "established", "first fragment", "non-first fragment", "reordered non-first", "conflicting first", "not a VIP"}

// step is one packet of a trace, a backend change when backends is set,
// or a service change when services is.
type step struct {
	pkt      balancer.Packet
	now      time.Duration
	kind     int
	backends []balancer.Backend
	services []balancer.Service
}

// traceConfig shapes a deterministic parity trace.
type traceConfig struct {
	seed      uint64
	packets   int
	fragShare float64 // share of datagrams larger than the MTU, fragmented
	reorder   float64 // share of fragmented datagrams sent out of order
	vips      []netip.Addr
	notVIP    float64 // share of packets to a non-VIP address
	conflict  float64 // share of first fragments repeated with other ports
	// v6 is the share of flows that are IPv6, to traceVIPs6, with 0 to 2
	// Destination Options headers, some of their packets atomic
	// fragments; backends 201-204 serve them.
	v6 float64
	// services runs the trace on traceServices instead of catch-alls:
	// services sharing backends on an IPv4 and an IPv6 VIP, changed at
	// every backend change, and flows to ports that are no service.
	services bool
}

type traceFlow struct {
	src, dst        netip.Addr
	proto           uint8
	sport, dport    uint16
	sent, datagrams int
	ext             int // IPv6: extension headers before the upper layer (3: an atomic fragment's one)
}

// traceVIPs6 are the IPv6 VIPs of the traces.
var traceVIPs6 = []netip.Addr{netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::11")}

// traceBackends6 are the IPv6 backends 201 to 200+n.
func traceBackends6(n int) []balancer.Backend {
	bs := make([]balancer.Backend, n)
	for i := range bs {
		id := 201 + i
		bs[i] = balancer.Backend{ID: balancer.BackendID(id), Name: fmt.Sprint(id),
			Addr: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(1 + i)}), Weight: 1, Up: true}
	}
	return bs
}

// traceKeys are the (VIP, protocol, port) a services trace's flows go to:
// the services of traceServices, and two ports that are none.
var traceKeys = []balancer.ServiceKey{
	{VIP: testVIP, Port: 443, Proto: balancer.ProtoTCP},
	{VIP: testVIP, Port: 4789, Proto: balancer.ProtoUDP},
	{VIP: testVIP, Port: 53, Proto: balancer.ProtoUDP},
	{VIP: netip.MustParseAddr("192.0.2.11"), Port: 443, Proto: balancer.ProtoTCP},
	{VIP: testVIP, Port: 8080, Proto: balancer.ProtoTCP},
	{VIP: traceVIPs6[0], Port: 443, Proto: balancer.ProtoTCP},
	{VIP: traceVIPs6[0], Port: 4789, Proto: balancer.ProtoUDP},
	{VIP: traceVIPs6[0], Port: 53, Proto: balancer.ProtoUDP},
	{VIP: traceVIPs6[0], Port: 9999, Proto: balancer.ProtoUDP},
}

// traceServices is a services trace's set at each phase (0 at the start,
// 1-4 at the backend changes): backends shared between services, two UDP
// services on each VIP (the lower port is its orphans' fallback); 102 and
// 202 go down everywhere (1), 103 is drained in one service only and the
// port-53 service goes (2), 102 and 202 come back and port 53 returns
// with another pool (3), 104 leaves one pool and 105 and 205 join (4).
func traceServices(phase int) []balancer.Service {
	bs := testutil.Backends(4)
	b6 := traceBackends6(4)
	b105 := balancer.Backend{ID: 105, Name: "105", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 5}), Weight: 2, Up: true}
	if phase == 1 || phase == 2 {
		bs[1].Up, b6[1].Up = false, false
	}
	pool := func(from []balancer.Backend, idx ...int) []balancer.Backend {
		var out []balancer.Backend
		for _, i := range idx {
			out = append(out, from[i])
		}
		return out
	}
	svc := func(k int, pool []balancer.Backend) balancer.Service {
		return balancer.Service{Key: traceKeys[k], Backends: pool}
	}
	tcp := pool(bs, 0, 1, 2)
	if phase >= 2 {
		tcp[2].Weight = 0
	}
	ss := []balancer.Service{svc(0, tcp), svc(1, pool(bs, 2, 3)), svc(3, pool(bs, 0, 1, 2, 3)),
		svc(5, pool(b6, 0, 1)), svc(6, pool(b6, 1, 2, 3)), svc(7, pool(b6, 0, 3))}
	switch phase {
	case 0, 1:
		ss = append(ss, svc(2, pool(bs, 0, 3)))
	case 3:
		ss = append(ss, svc(2, pool(bs, 1, 3)))
	case 4:
		ss = append(ss, svc(2, pool(bs, 1, 3)))
		ss[1].Backends = []balancer.Backend{bs[2], b105}
		ss[4].Backends = append(ss[4].Backends, traceBackends6(5)[4])
	}
	return ss
}

// genTrace builds the trace: flows open and close over time, each sends
// datagrams of 100-6000 bytes over an MTU of 1500; fragments of up to 6
// datagrams in flight interleave; backends change at 40% (102 down), 55%
// (103 drained), 70% (102 up), 85% (105 added, 101 removed) of the run
// (with IPv6 flows, 202 down and up with 102; with services, the service
// changes of traceServices).
func genTrace(tc traceConfig) []step {
	rng := rand.New(rand.NewPCG(tc.seed, 0x7469746e))
	bs := testutil.Backends(4) // 101..104
	var bs6 []balancer.Backend
	if tc.v6 > 0 {
		bs6 = traceBackends6(4)
	}
	steps := make([]step, 0, tc.packets+8)
	set := func() step {
		if tc.services {
			return step{services: traceServices(phase(steps))}
		}
		return step{backends: append(slices.Clone(bs), bs6...)}
	}
	steps = append(steps, set())
	packets := 0
	setAt := map[int]func(){
		tc.packets * 40 / 100: func() { bs[1].Up = false; setUp(bs6, 1, false) },
		tc.packets * 55 / 100: func() { bs[2].Weight = 0 },
		tc.packets * 70 / 100: func() { bs[1].Up = true; setUp(bs6, 1, true) },
		tc.packets * 85 / 100: func() {
			bs = append(bs[1:], balancer.Backend{ID: 105, Name: "105", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 5}), Weight: 2, Up: true})
		},
	}
	vips := tc.vips
	if len(vips) == 0 {
		vips = []netip.Addr{testVIP, netip.MustParseAddr("192.0.2.11")}
	}
	ipid := map[netip.Addr]uint16{}
	var flows []*traceFlow
	var inflight [][]step
	now := time.Duration(0)
	emit := func(s step) {
		packets++
		now += 50 * time.Microsecond
		s.now = now
		steps = append(steps, s)
	}
	for packets < tc.packets {
		n := packets
		if f, ok := setAt[n]; ok {
			delete(setAt, n)
			f()
			s := set()
			s.now = now
			steps = append(steps, s)
			continue
		}
		// Continue an in-flight fragmented datagram half of the time.
		if len(inflight) > 0 && (len(inflight) >= 6 || rng.IntN(2) == 0) {
			i := rng.IntN(len(inflight))
			emit(inflight[i][0])
			if inflight[i] = inflight[i][1:]; len(inflight[i]) == 0 {
				inflight = append(inflight[:i], inflight[i+1:]...)
			}
			continue
		}
		if rng.Float64() < tc.notVIP {
			p := tcpPacket(uint16(rng.Uint32()))
			p.Dst = netip.MustParseAddr("203.0.113.1")
			emit(step{pkt: p, kind: kindNotVIP})
			continue
		}
		if len(flows) < 20 || rng.IntN(8) == 0 {
			src := [4]byte{10, 200, byte(rng.IntN(4)), byte(1 + rng.IntN(250))}
			vi := rng.IntN(len(vips))
			f := &traceFlow{
				src:       netip.AddrFrom4(src),
				dst:       vips[vi],
				proto:     balancer.ProtoTCP,
				sport:     uint16(1024 + rng.IntN(60000)),
				dport:     443,
				datagrams: 1 + rng.IntN(30),
			}
			if rng.IntN(2) == 0 {
				f.proto, f.dport = balancer.ProtoUDP, 4789
			}
			if tc.v6 > 0 && rng.Float64() < tc.v6 {
				f.src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x02, 0, 13: src[2], 14: src[3], 15: 7})
				f.dst, f.ext = traceVIPs6[vi%len(traceVIPs6)], rng.IntN(4)
			}
			if tc.services { // a key of the flow's family
				keys := traceKeys[:5]
				if !f.dst.Is4() {
					keys = traceKeys[5:]
				}
				k := keys[rng.IntN(len(keys))]
				f.dst, f.proto, f.dport = k.VIP, k.Proto, k.Port
			}
			flows = append(flows, f)
		}
		fi := rng.IntN(len(flows))
		f := flows[fi]
		id := ipid[f.src]
		ipid[f.src] = id + 1
		base := balancer.Packet{Src: f.src, Dst: f.dst, Proto: f.proto, SrcPort: f.sport, DstPort: f.dport, IPID: id, TCPFlags: balancer.TCPAck}
		if f.dst.Is6() {
			base.IPID, base.FragID = 0, 0x5a0000|uint32(id)
		}
		if f.sent == 0 && f.proto == balancer.ProtoTCP {
			base.TCPFlags = balancer.TCPSyn
		}
		if rng.Float64() >= tc.fragShare {
			base.Len = uint16(40 + rng.IntN(1400))
			if f.dst.Is6() {
				base.ExtHeaders = uint8(min(f.ext, 2))
				if f.ext == 3 { // an atomic fragment: a Fragment header, offset 0, M clear
					base.ExtHeaders = 1
				} else {
					base.FragID = 0
				}
				base.Len += 20 + 8*uint16(base.ExtHeaders)
			}
			kind := kindEstablished
			if f.sent == 0 {
				kind = kindNewFlow
			}
			emit(step{pkt: base, kind: kind})
		} else {
			inflight = append(inflight, fragment(rng, base, 1501+rng.IntN(4500), tc, f))
		}
		if f.sent++; f.sent >= f.datagrams {
			flows = append(flows[:fi], flows[fi+1:]...)
		}
	}
	return steps
}

// phase returns the number of backend changes among steps: the phase of
// traceServices that the next change starts.
func phase(steps []step) int {
	n := -1
	for _, s := range steps {
		if s.backends != nil || s.services != nil {
			n++
		}
	}
	return n + 1
}

// setUp sets the Up of bs[i], when bs has it.
func setUp(bs []balancer.Backend, i int, up bool) {
	if i < len(bs) {
		bs[i].Up = up
	}
}

// fragment splits a datagram of size bytes (IP payload after the
// extension headers, L4 header included) into MTU-1500 fragments (IPv6:
// a Fragment header after the flow's Destination Options), reorders them
// with probability tc.reorder and may add a conflicting first fragment.
func fragment(rng *rand.Rand, base balancer.Packet, size int, tc traceConfig, f *traceFlow) []step {
	const chunk = 1480
	hdr := 20
	if base.Dst.Is6() {
		base.ExtHeaders = uint8(1 + min(f.ext, 2))
		hdr = 40 + 8*int(base.ExtHeaders)
	}
	var fs []step
	for off := 0; off < size; off += chunk {
		p := base
		n := min(chunk, size-off)
		p.FragOffset = uint16(off / 8)
		p.MoreFragments = off+n < size
		p.Len = uint16(hdr + n)
		kind := kindNonFirst
		if off == 0 {
			kind = kindFirstFrag
		} else {
			p.SrcPort, p.DstPort, p.TCPFlags = 0, 0, 0
		}
		fs = append(fs, step{pkt: p, kind: kind})
	}
	if rng.Float64() < tc.reorder {
		// Send the last fragment first, then the rest from the first.
		last := fs[len(fs)-1]
		last.kind = kindReordered
		fs = append([]step{last}, fs[:len(fs)-1]...)
	}
	if rng.Float64() < tc.conflict {
		c := fs[0]
		for _, s := range fs {
			if s.kind == kindFirstFrag {
				c = s
			}
		}
		c.pkt.SrcPort++
		c.kind = kindConflict
		fs = append(fs, c)
	}
	return fs
}

// parityResult counts a parity run.
type parityResult struct {
	packets    int
	costDiffs  int // packets whose operation counts differ
	byKind     [numKinds]int
	mismatches [numKinds]int
	actions    map[string]int
	examples   []string
}

func (r parityResult) total() (n int) {
	for _, m := range r.mismatches {
		n += m
	}
	return n
}

// runParity drives the Go model and the kernel program with the same trace
// and compares every decision.
func runParity(t *testing.T, steps []step, model, kernel balancer.Balancer) parityResult {
	t.Helper()
	r := parityResult{actions: map[string]int{}}
	envM := &balancer.Env{Meter: cost.NewMeter(cost.Default())}
	envK := &balancer.Env{Meter: cost.NewMeter(cost.Default())}
	for i := range steps {
		s := &steps[i]
		if s.backends != nil {
			if err := model.SetBackends(s.backends); err != nil {
				t.Fatal(err)
			}
			if err := kernel.SetBackends(s.backends); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if s.services != nil {
			if err := model.(balancer.ServiceSetter).SetServices(s.services); err != nil {
				t.Fatal(err)
			}
			if err := kernel.(balancer.ServiceSetter).SetServices(s.services); err != nil {
				t.Fatal(err)
			}
			continue
		}
		envM.Now, envK.Now = s.now, s.now
		want := model.Process(envM, &s.pkt)
		got := kernel.Process(envK, &s.pkt)
		if envM.Meter.Total() != envK.Meter.Total() {
			r.costDiffs++
			if len(r.examples) < 10 {
				r.examples = append(r.examples, fmt.Sprintf("step %d %s %+v: model %d STU, kernel %d STU", i, kindNames[s.kind], s.pkt, envM.Meter.Total(), envK.Meter.Total()))
			}
			envM.Meter.Reset()
			envK.Meter.Reset()
		}
		r.packets++
		r.byKind[s.kind]++
		key := want.Action.String()
		if want.Action == balancer.Drop {
			key += ": " + want.Reason
		}
		r.actions[key]++
		if got != want {
			r.mismatches[s.kind]++
			if len(r.examples) < 10 {
				r.examples = append(r.examples, fmt.Sprintf("step %d %s %+v: model %+v, kernel %+v", i, kindNames[s.kind], s.pkt, want, got))
			}
		}
	}
	if kb, ok := kernel.(*Balancer); ok && kb.Err() != nil {
		t.Fatalf("kernel balancer: %v", kb.Err())
	}
	for op := range cost.NumOps {
		if envM.Meter.Count(op) != envK.Meter.Count(op) {
			t.Errorf("%v: model %d, kernel %d", op, envM.Meter.Count(op), envK.Meter.Count(op))
		}
	}
	return r
}

func (r parityResult) log(t *testing.T) {
	t.Helper()
	t.Logf("%d packets, %d mismatches, %d cost differences; decisions %v", r.packets, r.total(), r.costDiffs, r.actions)
	for k := range numKinds {
		t.Logf("  %-22s %7d packets %d mismatches", kindNames[k], r.byKind[k], r.mismatches[k])
	}
	for _, e := range r.examples {
		t.Log(e)
	}
}

// TestParity is the project's core claim: the Go model (balancer/titan)
// and the kernel program, configured alike, decide the same for every
// packet of a trace with TCP and UDP, new and established flows, 100% or
// 60% fragmentation, 20% reordering, conflicting first fragments, and a
// backend going down, draining, coming back, added and removed mid-run.
func TestParity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 100,000-packet parity run")
	}
	for _, tc := range []struct {
		name  string
		cfg   titan.Config
		trace traceConfig
		// evictInFlight: the fragment table must evict live entries.
		evictInFlight bool
		// evictConns: the connection and hint tables must evict.
		evictConns bool
	}{
		{
			name: "large tables, 100% fragmentation, 20% reordering",
			// The fragment table (65,536 entries) ends half full; a few
			// of its sets fill and evict (about 1,200 entries).
			cfg:   titan.Config{FragTableSize: 1 << 16},
			trace: traceConfig{seed: 1, packets: 100_000, fragShare: 1, reorder: 0.2, conflict: 0.002},
		},
		{
			name:  "VIPs, hash3 orphans, custom seed and ring, 60% fragmentation",
			cfg:   titan.Config{Seed: 99, RingSize: 4099, OrphanPolicy: titan.OrphanHash3, VIPs: []netip.Addr{testVIP, netip.MustParseAddr("192.0.2.11")}, FragTableSize: 1 << 16},
			trace: traceConfig{seed: 2, packets: 100_000, fragShare: 0.6, reorder: 0.2, notVIP: 0.02, conflict: 0.002},
		},
		{
			// 33,000 datagrams through the default 16,384-entry
			// fragment table, so both evict.
			name:  "zero config, fragment table evicting",
			trace: traceConfig{seed: 4, packets: 100_000, fragShare: 1, reorder: 0.2, conflict: 0.002},
		},
		{
			// A fragment table far too small (2 sets of 4): entries of
			// datagrams in flight are evicted, so their later fragments
			// become orphans (about twice as many orphans as reordered
			// datagrams). The set-associative table's eviction is
			// deterministic, so the two still agree packet by packet.
			name:          "fragment table of 8 entries, evicting datagrams in flight",
			cfg:           titan.Config{FragTableSize: 8},
			trace:         traceConfig{seed: 5, packets: 100_000, fragShare: 1, reorder: 0.2, conflict: 0.002},
			evictInFlight: true,
		},
		{
			// 250 sets: not a power of two, so the kernel takes the set
			// index by modulo rather than by mask.
			name:  "fragment table of 1,000 entries, a set count not a power of two",
			cfg:   titan.Config{FragTableSize: 1000},
			trace: traceConfig{seed: 6, packets: 100_000, fragShare: 1, reorder: 0.2, conflict: 0.002},
		},
		{
			// Connection and hint tables far too small (3 and 2 sets of
			// 4; 3 is not a power of two): flows and host pairs evict
			// each other all the time. Their replacement (CLOCK within
			// a set) is deterministic, like the fragment table's, so
			// the two agree packet by packet however full.
			name:       "connection table of 12 entries, hint table of 8, evicting",
			cfg:        titan.Config{ConnTableSize: 12, HintTableSize: 8},
			trace:      traceConfig{seed: 7, packets: 100_000, fragShare: 0.6, reorder: 0.2, conflict: 0.002},
			evictConns: true,
		},
		{
			// Half the flows IPv6 (0 to 2 Destination Options headers,
			// a Fragment header per fragment with a 32-bit ID, atomic
			// fragments), an IPv4 and an IPv6 catch-all; 202 goes down
			// and up with 102.
			name:  "IPv4 and IPv6 catch-alls, extension headers, 60% fragmentation",
			trace: traceConfig{seed: 8, packets: 100_000, fragShare: 0.6, reorder: 0.2, conflict: 0.002, v6: 0.5},
		},
		{
			// Seven services on an IPv4 and an IPv6 VIP sharing
			// backends, two UDP services a VIP (orphans fall back to
			// the lower port's ring), changed at every phase: a backend
			// down everywhere, drained in one service, a service
			// removed and back with another pool, a backend leaving a
			// pool; flows to ports that are no service are passed.
			name:  "services sharing backends, IPv4 and IPv6, changes mid-trace",
			trace: traceConfig{seed: 9, packets: 100_000, fragShare: 0.5, reorder: 0.2, conflict: 0.002, v6: 0.5, services: true},
		},
		{
			name:       "services, hash3 orphans, every orphan admitted, tables evicting",
			cfg:        titan.Config{OrphanPolicy: titan.OrphanHash3, OrphanAdmission: titan.AdmitAll, ConnTableSize: 12, HintTableSize: 8, FragTableSize: 64},
			trace:      traceConfig{seed: 10, packets: 100_000, fragShare: 0.5, reorder: 0.2, conflict: 0.002, v6: 0.5, services: true},
			evictConns: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model, err := titan.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The same Config: parity by construction (the ring map holds
			// the services traces' nine rings).
			p := mustLoad(t, Options{Config: tc.cfg, MaxRingSlots: 16 * titan.DefaultRingSize})
			steps := genTrace(tc.trace)
			start := time.Now()
			r := runParity(t, steps, model, NewBalancer(p))
			r.log(t)
			if el := time.Since(start); el > 20*time.Second {
				t.Logf("run took %v: near the 30 s fragment timeout, kernel entries may expire where the model's do not", el)
			}
			if r.packets < 100_000 {
				t.Errorf("%d packets, want at least 100,000", r.packets)
			}
			for k := range numKinds {
				if tc.trace.notVIP == 0 && (k == kindNotVIP) || tc.trace.fragShare == 1 && (k == kindNewFlow || k == kindEstablished) {
					continue
				}
				if r.byKind[k] == 0 {
					t.Errorf("no %s packets in the trace", kindNames[k])
				}
			}
			if r.total() != 0 {
				t.Errorf("%d mismatches", r.total())
			}
			if r.costDiffs != 0 {
				t.Errorf("%d packets cost differently", r.costDiffs)
			}
			s, err := p.Stats()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("kernel: %+v", s)
			ms := model.Stats()
			t.Logf("model:  %+v", ms)
			// The two also took the same paths as often.
			for _, c := range []struct {
				name          string
				kernel, model uint64
			}{
				{"connection hits", s.ConnHits, ms.ConnHits},
				{"re-picks", s.Repicks, ms.ConnRepicks + ms.FragRepicks},
				{"orphans", s.Orphans, ms.Orphans},
				{"hint hits", s.HintHits, ms.HintHits},
				{"conflicts", s.DropFragConflict, ms.ConflictingFirstFragments},
				{"forwarded", s.Forwarded, ms.Forwarded},
				{"fragment evictions", s.FragEvictions, ms.Frag.Evictions},
				{"connection evictions", s.ConnEvictions, ms.Conn.Evictions},
				{"hint evictions", s.HintEvictions, ms.Hint.Evictions},
			} {
				if c.kernel != c.model {
					t.Errorf("%s: kernel %d, model %d", c.name, c.kernel, c.model)
				}
			}
			// The paths the claim covers were all taken.
			if s.ConnHits == 0 || s.ConnMisses == 0 || s.Repicks == 0 || s.FragHits == 0 || s.Orphans == 0 || s.DropFragConflict == 0 {
				t.Errorf("a path was not exercised: %+v", s)
			}
			if tc.evictInFlight && (s.FragEvictions < 10_000 || 2*ms.Orphans < 3*uint64(r.byKind[kindReordered])) {
				t.Errorf("%d fragment evictions, %d orphans (%d reordered): the table did not evict datagrams in flight",
					s.FragEvictions, ms.Orphans, r.byKind[kindReordered])
			}
			v6 := 0
			for _, st := range steps {
				if st.pkt.Dst.Is6() {
					v6++
				}
			}
			t.Logf("%d IPv6 packets", v6)
			if tc.trace.v6 > 0 && v6 < 20_000 {
				t.Errorf("%d IPv6 packets, want at least 20,000", v6)
			}
			if tc.trace.services && s.PassNoService < 1_000 {
				t.Errorf("%d packets to no service", s.PassNoService)
			}
			if tc.evictConns && (s.ConnEvictions < 10_000 || s.HintEvictions < 1_000 && tc.cfg.OrphanAdmission != titan.AdmitAll) {
				t.Errorf("%d connection and %d hint evictions: the tables did not evict", s.ConnEvictions, s.HintEvictions)
			}
			if tc.cfg.OrphanPolicy != titan.OrphanHash3 && s.HintHits == 0 {
				t.Errorf("no orphan followed a host hint: %+v", s)
			}
		})
	}
}

// TestParityDetectsDifference is the control: the same comparison between
// a model and a kernel program configured with different seeds reports
// mismatches, so a 0 above means agreement, not a blind comparison.
func TestParityDetectsDifference(t *testing.T) {
	model, err := titan.New(titan.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := mustLoad(t, Options{Config: titan.Config{Seed: 2}})
	r := runParity(t, genTrace(traceConfig{seed: 3, packets: 5000, fragShare: 0.5, reorder: 0.2}), model, NewBalancer(p))
	if r.total() < r.packets/4 {
		t.Errorf("seeds 1 and 2: only %d of %d packets differ", r.total(), r.packets)
	}
}
