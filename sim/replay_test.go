package sim_test

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/sim"
)

// Generated traffic, written as pcap, read back and replayed, gives the
// same Result and the same decision for every packet: the trace is just
// another traffic source for the same machinery, and the ground truth a
// trace derives from headers (5-tuple flows, (src, dst, proto, IP ID)
// datagrams; IPv6 alike, with its 32-bit Identification; a flow's
// service by its key) matches the generator's bookkeeping.
func TestTraceRoundTrip(t *testing.T) {
	overloaded := mixed(5)
	overloaded.Node = sim.Node{CPUs: 1, QueueLen: 8}
	overloaded.Traffic.Rate = 400_000
	overloaded.Duration = 20 * time.Millisecond
	overloaded.Events = nil
	overloaded.Cost = cost.Default()
	overloaded.Cost.NsPerSTU = 20 // a few µs per packet: the one queue overflows
	fleet := mixed(6)
	fleet.Fleet = sim.Fleet{Nodes: 3, Events: []sim.NodeEvent{sim.NodeDown(40*time.Millisecond, 1)}}
	spaced := mixed(7)
	spaced.Traffic.FragmentGap = 50 * time.Microsecond
	ipv6 := mixed(10)
	ipv6.Traffic.IPv6Share, ipv6.Traffic.ExtHeaders = 0.6, 2
	ipv6.Backends = append(ipv6.Backends, sim.Backends6(3)...)
	services := twoServices()
	services.Services = append(services.Services, sim.ServiceTraffic{
		Service: balancer.Service{Key: balancer.ServiceKey{VIP: sim.DefaultVIP6, Port: 53, Proto: balancer.ProtoUDP}, Backends: sim.Backends6(2)},
		Traffic: sim.Traffic{Flows: 100, Rate: 5000, FragmentRate: 0.5, Reorder: 0.5},
	})
	services.Events = []sim.Event{sim.RemoveFromPool(30*time.Millisecond, dnsKey, 105), sim.BackendDown(60*time.Millisecond, 103)}
	for _, c := range []struct {
		name  string
		sc    sim.Scenario
		newLB func() (balancer.Balancer, error)
	}{
		{"maglev mixed", mixed(3), newMaglev},
		{"titan mixed", mixed(4), newTitan},
		{"titan overloaded", overloaded, newTitan},
		{"titan fleet of 3, node down", fleet, newTitan},
		{"titan spaced fragments", spaced, newTitan},
		{"katran mixed", mixed(8), newKatran},
		{"cilium mixed", mixed(9), newCilium},
		{"IPv4 and IPv6 (extension headers)", ipv6, newSvc},
		{"services, IPv4 and IPv6", services, newSvc},
	} {
		t.Run(c.name, func(t *testing.T) {
			gen, rec, err := sim.RunRecorded(c.sc, c.newLB)
			if err != nil {
				t.Fatal(err)
			}
			if plain := mustRun(t, c.sc, c.newLB); !reflect.DeepEqual(plain, gen) {
				t.Fatalf("recording changed the result:\n run %+v\n recorded %+v", plain, gen)
			}
			if uint64(len(rec.Verdicts)) != gen.Packets {
				t.Fatalf("%d verdicts for %d packets", len(rec.Verdicts), gen.Packets)
			}
			var buf bytes.Buffer
			if err := sim.WriteTrace(&buf, rec.Trace()); err != nil {
				t.Fatal(err)
			}
			tr, err := sim.ReadTrace(&buf)
			if err != nil {
				t.Fatal(err)
			}
			replay := replayOf(c.sc, tr)
			if c.sc.Traffic.FragmentGap > 0 {
				// The last datagrams' spaced fragments arrive after
				// Duration; a trace stops at Duration, so replay it
				// whole and compare the figures that do not depend on
				// the Duration.
				replay.Duration = 0
			}
			rp, rrec, err := sim.RunRecorded(replay, c.newLB)
			if err != nil {
				t.Fatal(err)
			}
			if replay.Duration == 0 {
				if rp.Duration <= gen.Duration || rp.End-gen.End > 1 {
					t.Errorf("whole trace replayed over %v, ending %v; generated %v, ending %v", rp.Duration, rp.End, gen.Duration, gen.End)
				}
				rp.Duration, rp.End, rp.Throughput, rp.CPUUtil = gen.Duration, gen.End, gen.Throughput, gen.CPUUtil
			}
			if gen.Fragments == 0 || gen.Whole == 0 || gen.Delivered == 0 {
				t.Fatalf("degenerate run: %+v", gen)
			}
			if c.name == "titan overloaded" && gen.Drops[sim.DropQueueFull] == 0 {
				t.Fatalf("overloaded run dropped nothing: %v", gen.Drops)
			}
			if !reflect.DeepEqual(gen, rp) {
				t.Errorf("replay differs:\n generated %+v\n replayed  %+v", gen, rp)
			}
			if len(rrec.Verdicts) != len(rec.Verdicts) {
				t.Fatalf("replay: %d verdicts, want %d", len(rrec.Verdicts), len(rec.Verdicts))
			}
			for i := range rec.Verdicts {
				g, r := rec.Verdicts[i], rrec.Verdicts[i]
				if !bytes.Equal(g.Frame, r.Frame) {
					t.Fatalf("packet %d: frame differs", i)
				}
				g.Frame, r.Frame = nil, nil
				if !reflect.DeepEqual(g, r) {
					t.Fatalf("packet %d: generated %+v\nreplayed %+v", i, g, r)
				}
			}
		})
	}
}

// Frames that do not decode are counted drops with the decoder's reason;
// everything else in the committed capture replays normally.
func TestTraceUndecodableFramesAreDrops(t *testing.T) {
	tr := readTraceFile(t, tracePcapng)
	sc := replayOf(goldenScenario(), tr)
	sc.Duration = 0 // the whole trace
	r := mustRun(t, sc, newTitan)
	_, reasons := garbage()
	if r.Packets != uint64(len(tr.Packets)) {
		t.Errorf("%d packets, want the trace's %d", r.Packets, len(tr.Packets))
	}
	var undecodable uint64
	for _, why := range reasons {
		if r.Drops[why] != 1 {
			t.Errorf("drops %q = %d, want 1 (all drops %v)", why, r.Drops[why], r.Drops)
		}
	}
	for why, n := range r.Drops {
		if strings.HasPrefix(why, sim.DropUndecodable) {
			undecodable += n
		}
	}
	if undecodable != uint64(len(reasons)) || r.Processed+undecodable != r.Packets {
		t.Errorf("processed %d + undecodable %d, want %d packets", r.Processed, undecodable, r.Packets)
	}
	if r.Reliability != 1 || r.Whole != r.Datagrams || r.Datagrams == 0 {
		t.Errorf("titan on the committed trace: %d of %d datagrams whole", r.Whole, r.Datagrams)
	}

	// Random garbage, and valid frames cut at random lengths: never a
	// panic, every frame accounted for.
	rng := rand.New(rand.NewPCG(1, 2))
	var junk sim.Trace
	for i := range 500 {
		var f []byte
		if i%2 == 0 {
			f = make([]byte, rng.IntN(120))
			for j := range f {
				f[j] = byte(rng.Uint32())
			}
			if len(f) > 14 && i%4 == 0 {
				f[12], f[13], f[14] = 0x08, 0x00, 0x40|byte(rng.IntN(16))
			}
		} else {
			g := tr.Packets[rng.IntN(len(tr.Packets))].Frame
			f = g[:rng.IntN(len(g)+1)]
		}
		junk.Packets = append(junk.Packets, sim.TracePacket{At: time.Duration(i) * time.Microsecond, Frame: f})
	}
	jr := mustRun(t, replayOf(goldenScenario(), junk), newTitan)
	var dropped uint64
	for _, n := range jr.Drops {
		dropped += n
	}
	if jr.Packets != 500 || jr.Processed+dropped < 500 || jr.Processed == 0 || dropped == 0 {
		t.Errorf("junk: packets %d processed %d dropped %d (%v)", jr.Packets, jr.Processed, dropped, jr.Drops)
	}
}

// A hand-built trace gets its datagrams from the headers: the IP ID of a
// complete datagram may be reused by the next; a datagram without its
// first fragment, or with only one fragment in the trace, is never whole.
func TestTraceDatagramGrouping(t *testing.T) {
	base := balancer.Packet{Src: netip.MustParseAddr("10.1.0.1"), Dst: sim.DefaultVIP, Proto: balancer.ProtoUDP, SrcPort: 4000, DstPort: 443, IPID: 9}
	frags := func(ipid uint16, skip int) []balancer.Packet {
		// A 2008-byte UDP datagram in two fragments of 1480 and 520 bytes.
		a, b := base, base
		a.IPID, b.IPID = ipid, ipid
		a.MoreFragments = true
		b.SrcPort, b.DstPort, b.FragOffset = 0, 0, 185
		ps := []balancer.Packet{a, b}
		if skip >= 0 {
			ps = append(ps[:skip], ps[skip+1:]...)
		}
		return ps
	}
	payload := map[bool]int{true: 1480 - balancer.UDPLen, false: 520}
	var tr sim.Trace
	add := func(ps ...balancer.Packet) {
		for _, p := range ps {
			tr.Packets = append(tr.Packets, sim.TracePacket{At: time.Duration(len(tr.Packets)) * time.Microsecond,
				Frame: balancer.Encode(p, payload[p.FragOffset == 0])})
		}
	}
	add(frags(9, -1)...) // whole
	add(frags(9, -1)...) // same IP ID again, after the first completed: whole
	add(frags(10, 0)...) // first fragment missing
	w := base
	w.IPID = 11
	add(w)               // unfragmented
	add(frags(12, 1)...) // last fragment missing
	sc := sim.Scenario{Backends: sim.Backends(2), Traffic: sim.Traffic{Trace: tr}}
	r := mustRun(t, sc, newPin)
	if r.Datagrams != 5 || r.Packets != 7 || r.Fragments != 6 {
		t.Errorf("datagrams %d packets %d fragments %d, want 5, 7, 6", r.Datagrams, r.Packets, r.Fragments)
	}
	if r.Whole != 3 || r.Reliability != 3.0/5 {
		t.Errorf("whole %d reliability %v, want 3 of 5", r.Whole, r.Reliability)
	}
	// The orphan's datagram scores 0; the others' fragments all follow
	// their first: 5 of 6.
	if r.FragmentAccuracy != 5.0/6 {
		t.Errorf("fragment accuracy %v, want 5/6", r.FragmentAccuracy)
	}
	if r.Drops["reassembly: timeout"] != 2 {
		t.Errorf("drops %v, want 2 reassembly timeouts", r.Drops)
	}
}

// Duration 0 replays the whole trace; a shorter one stops the trace.
func TestTraceDuration(t *testing.T) {
	tr := goldenTrace(t)
	sc := replayOf(goldenScenario(), tr)
	sc.Duration = 0
	all := mustRun(t, sc, newPin)
	if all.Packets != uint64(len(tr.Packets)) || all.Duration != tr.Packets[len(tr.Packets)-1].At+1 {
		t.Errorf("duration 0: %d packets over %v, want %d", all.Packets, all.Duration, len(tr.Packets))
	}
	half := tr.Packets[len(tr.Packets)/2].At
	sc.Duration = half
	var want uint64
	for _, p := range tr.Packets {
		if p.At < half {
			want++
		}
	}
	if r := mustRun(t, sc, newPin); r.Packets != want {
		t.Errorf("duration %v: %d packets, want %d", half, r.Packets, want)
	}
}

// BenchmarkTraceReplay replays the throughput scenario's traffic (200 ms,
// about 260,000 packets) from a trace beside BenchmarkTraceGenerated, the
// same scenario generated: the cost of preparing the trace (flows and
// datagrams from the headers) and decoding every frame.
func BenchmarkTraceReplay(b *testing.B) {
	sc := benchScenario(200 * time.Millisecond)
	_, rec, err := sim.RunRecorded(sc, newMaglev)
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, replayOf(sc, rec.Trace()), newMaglev)
}

// BenchmarkTraceGenerated is BenchmarkTraceReplay's baseline: the same
// traffic from the generator.
func BenchmarkTraceGenerated(b *testing.B) {
	benchRun(b, benchScenario(200*time.Millisecond), newMaglev)
}
