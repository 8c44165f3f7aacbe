package xdp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
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

// step is one packet of a trace, or a backend change when backends is set.
type step struct {
	pkt      balancer.Packet
	now      time.Duration
	kind     int
	backends []balancer.Backend
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
}

type traceFlow struct {
	src, dst        netip.Addr
	proto           uint8
	sport, dport    uint16
	sent, datagrams int
}

// genTrace builds the trace: flows open and close over time, each sends
// datagrams of 100-6000 bytes over an MTU of 1500; fragments of up to 6
// datagrams in flight interleave; backends change at 40% (102 down), 55%
// (103 drained), 70% (102 up), 85% (105 added, 101 removed) of the run.
func genTrace(tc traceConfig) []step {
	rng := rand.New(rand.NewPCG(tc.seed, 0x7469746e))
	bs := testutil.Backends(4) // 101..104
	steps := make([]step, 0, tc.packets+8)
	steps = append(steps, step{backends: append([]balancer.Backend(nil), bs...)})
	packets := 0
	setAt := map[int]func(){
		tc.packets * 40 / 100: func() { bs[1].Up = false },
		tc.packets * 55 / 100: func() { bs[2].Weight = 0 },
		tc.packets * 70 / 100: func() { bs[1].Up = true },
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
			steps = append(steps, step{backends: append([]balancer.Backend(nil), bs...), now: now})
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
			f := &traceFlow{
				src:       netip.AddrFrom4([4]byte{10, 200, byte(rng.IntN(4)), byte(1 + rng.IntN(250))}),
				dst:       vips[rng.IntN(len(vips))],
				proto:     balancer.ProtoTCP,
				sport:     uint16(1024 + rng.IntN(60000)),
				dport:     443,
				datagrams: 1 + rng.IntN(30),
			}
			if rng.IntN(2) == 0 {
				f.proto, f.dport = balancer.ProtoUDP, 4789
			}
			flows = append(flows, f)
		}
		fi := rng.IntN(len(flows))
		f := flows[fi]
		id := ipid[f.src]
		ipid[f.src] = id + 1
		base := balancer.Packet{Src: f.src, Dst: f.dst, Proto: f.proto, SrcPort: f.sport, DstPort: f.dport, IPID: id, TCPFlags: balancer.TCPAck}
		if f.sent == 0 && f.proto == balancer.ProtoTCP {
			base.TCPFlags = balancer.TCPSyn
		}
		if rng.Float64() >= tc.fragShare {
			base.Len = uint16(40 + rng.IntN(1400))
			kind := kindEstablished
			if f.sent == 0 {
				kind = kindNewFlow
			}
			emit(step{pkt: base, kind: kind})
		} else {
			inflight = append(inflight, fragment(rng, base, 1501+rng.IntN(4500), tc, f.sent == 0))
		}
		if f.sent++; f.sent >= f.datagrams {
			flows = append(flows[:fi], flows[fi+1:]...)
		}
	}
	return steps
}

// fragment splits a datagram of size bytes (IPv4 payload, L4 header
// included) into MTU-1500 fragments, reorders them with probability
// tc.reorder and may add a conflicting first fragment.
func fragment(rng *rand.Rand, base balancer.Packet, size int, tc traceConfig, newFlow bool) []step {
	const chunk = 1480
	var fs []step
	for off := 0; off < size; off += chunk {
		p := base
		n := min(chunk, size-off)
		p.FragOffset = uint16(off / 8)
		p.MoreFragments = off+n < size
		p.Len = uint16(20 + n)
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
	_ = newFlow
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			model, err := titan.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			p := mustLoad(t, Options{Config: tc.cfg}) // the same Config: parity by construction
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
			if tc.evictConns && (s.ConnEvictions < 10_000 || s.HintEvictions < 1_000) {
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
