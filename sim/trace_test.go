package sim_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
	"github.com/titanlb/titanlb/xdp"
)

var updateTrace = flag.Bool("update", false, "rewrite sim/testdata/trace.pcap and trace.pcapng from the generator")

// Committed captures, made by goldenTrace (go test ./sim -run TestTraceTestdata -update).
const (
	tracePcap   = "testdata/trace.pcap"
	tracePcapng = "testdata/trace.pcapng"
)

// goldenScenario is the simulated traffic of the committed captures: TCP
// and UDP flows, some datagrams fragmented, half of those reordered.
func goldenScenario() sim.Scenario {
	return sim.Scenario{
		Seed:     8,
		Duration: 5 * time.Millisecond,
		Backends: sim.Backends(3),
		Traffic: sim.Traffic{Flows: 24, Clients: 6, Rate: 20000, UDPShare: 0.5,
			FragmentRate: 0.25, Reorder: 0.5, Size: 200, LargeSize: 2000},
	}
}

// goldenStart is the committed captures' wall-clock start.
var goldenStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// garbage are frames appended to the committed captures that do not
// decode, and the drop reason each must give.
func garbage() (frames [][]byte, reasons []string) {
	good := balancer.Encode(balancer.Packet{
		Src: netip.MustParseAddr("10.9.0.1"), Dst: sim.DefaultVIP, Proto: balancer.ProtoUDP,
		SrcPort: 5000, DstPort: 443, IPID: 7,
	}, 100)
	cut := good[:60] // cut short by a 60-byte snap length
	arp := append(bytes.Clone(good[:12]), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	ihl := bytes.Clone(good)
	ihl[balancer.EthLen] = 0x44
	return [][]byte{cut, arp, ihl, {0xde, 0xad}}, []string{
		sim.DropUndecodable + "ipv4.total_length: total length inconsistent",
		sim.DropUndecodable + "ethernet.type: not ipv4",
		sim.DropUndecodable + "ipv4.ihl: ihl below 5",
		sim.DropUndecodable + "ethernet: truncated",
	}
}

// goldenTrace generates the committed captures' content: the recorded
// arrivals of goldenScenario, then the garbage frames 1 µs apart.
func goldenTrace(t testing.TB) sim.Trace {
	t.Helper()
	_, rec, err := sim.RunRecorded(goldenScenario(), newPin)
	if err != nil {
		t.Fatal(err)
	}
	tr := rec.Trace()
	tr.Start = goldenStart
	at := tr.Packets[len(tr.Packets)-1].At
	frames, _ := garbage()
	for _, f := range frames {
		at += time.Microsecond
		tr.Packets = append(tr.Packets, sim.TracePacket{At: at, Frame: f})
	}
	return tr
}

// goldenFiles renders tr as the committed pcap and pcapng files. The
// pcapng file has two interfaces, Ethernet and raw IPv4, and writes every
// third decodable frame on the raw one, without its Ethernet header.
func goldenFiles(t testing.TB, tr sim.Trace) (pcap, pcapng []byte) {
	t.Helper()
	var a, b bytes.Buffer
	if err := sim.WriteTrace(&a, tr); err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(&b,
		pcapgo.NgInterface{Name: "sim0", LinkType: layers.LinkTypeEthernet, TimestampResolution: 9},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "titanlb sim trace_test.go"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "raw0", LinkType: layers.LinkTypeRaw, TimestampResolution: 9}); err != nil {
		t.Fatal(err)
	}
	for i, p := range tr.Packets {
		data, intf := p.Frame, 0
		if _, err := balancer.Decode(p.Frame); err == nil && i%3 == 2 {
			data, intf = p.Frame[balancer.EthLen:], 1
		}
		ci := gopacket.CaptureInfo{Timestamp: tr.Start.Add(p.At), CaptureLength: len(data), Length: len(data), InterfaceIndex: intf}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return a.Bytes(), b.Bytes()
}

// The committed captures are exactly what the generator produces, so they
// cannot rot: regenerate them with -update after changing the generator.
func TestTraceTestdata(t *testing.T) {
	pcap, pcapng := goldenFiles(t, goldenTrace(t))
	for _, f := range []struct {
		path string
		data []byte
	}{{tracePcap, pcap}, {tracePcapng, pcapng}} {
		if *updateTrace {
			if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s (%d bytes) differs from the generator's %d bytes: run go test ./sim -run TestTraceTestdata -update", f.path, len(got), len(f.data))
		}
	}
}

func readTraceFile(t testing.TB, path string) sim.Trace {
	t.Helper()
	f, err := os.Open(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := sim.ReadTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Both committed files read back as the generated trace: times to the
// nanosecond, frames byte for byte (the pcapng's raw IPv4 frames get the
// Ethernet header back).
func TestReadTracePcapAndPcapng(t *testing.T) {
	want := goldenTrace(t)
	for _, path := range []string{tracePcap, tracePcapng} {
		t.Run(path, func(t *testing.T) {
			got := readTraceFile(t, path)
			if !got.Start.Equal(want.Start) {
				t.Errorf("start %v, want %v", got.Start, want.Start)
			}
			if len(got.Packets) != len(want.Packets) {
				t.Fatalf("%d packets, want %d", len(got.Packets), len(want.Packets))
			}
			for i := range want.Packets {
				g, w := got.Packets[i], want.Packets[i]
				if g.At != w.At || !bytes.Equal(g.Frame, w.Frame) {
					t.Fatalf("packet %d: at %v, %d bytes; want at %v, %d bytes", i, g.At, len(g.Frame), w.At, len(w.Frame))
				}
			}
		})
	}
}

// replayOf returns sc with its traffic replaced by tr.
func replayOf(sc sim.Scenario, tr sim.Trace) sim.Scenario {
	sc.Traffic = sim.Traffic{Trace: tr}
	return sc
}

// Generated traffic, written as pcap, read back and replayed, gives the
// same Result and the same decision for every packet: the trace is just
// another traffic source for the same machinery, and the ground truth a
// trace derives from headers (5-tuple flows, (src, dst, proto, IP ID)
// datagrams) matches the generator's bookkeeping.
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
		{"katran mixed", mixed(8), func() (balancer.Balancer, error) { return katran.New(katran.Config{}) }},
		{"cilium mixed", mixed(9), func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) }},
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

// ReadTrace names what is wrong in a malformed file and where.
func TestReadTraceMalformed(t *testing.T) {
	pcap, err := os.ReadFile(tracePcap)
	if err != nil {
		t.Fatal(err)
	}
	ng, err := os.ReadFile(tracePcapng)
	if err != nil {
		t.Fatal(err)
	}
	tr := goldenTrace(t)
	rec1 := int64(24 + 16 + len(tr.Packets[0].Frame)) // pcap: second record
	rec2 := rec1 + 16 + int64(len(tr.Packets[1].Frame))

	bigCap := bytes.Clone(pcap)
	binary.LittleEndian.PutUint32(bigCap[rec1+8:], 70000) // caplen beyond the file
	smallSnap := bytes.Clone(pcap)
	binary.LittleEndian.PutUint32(smallSnap[16:], 100)
	ngBadLen := bytes.Clone(ng)
	shb := int(binary.LittleEndian.Uint32(ng[4:]))
	binary.LittleEndian.PutUint32(ngBadLen[shb+4:], 13) // first interface block
	ngTrail := bytes.Clone(ng)
	binary.LittleEndian.PutUint32(ngTrail[shb-4:], uint32(shb+4))
	lastBlock := int(binary.LittleEndian.Uint32(ng[len(ng)-4:]))
	linkType := bytes.Clone(pcap)
	binary.LittleEndian.PutUint32(linkType[20:], uint32(layers.LinkTypeLinuxSLL))

	for _, c := range []struct {
		name   string
		data   []byte
		packet int
		offset int64
		want   string
	}{
		{"empty", nil, -1, 0, "0-byte file: too short"},
		{"not a capture", []byte("GET / HTTP/1.1\r\n"), -1, 0, "magic number 0x20544547: neither pcap"},
		{"pcap header cut", pcap[:20], -1, 0, "pcap file header: unexpected EOF"},
		{"pcap record header cut", pcap[:rec1+10], 1, rec1, "pcap record: unexpected EOF"},
		{"pcap record data cut", pcap[:rec2-3], 1, rec1, fmt.Sprintf("pcap record: capture length %d beyond the %d bytes left", len(tr.Packets[1].Frame), len(tr.Packets[1].Frame)-3)},
		{"pcap caplen beyond the file", bigCap, 1, rec1, "pcap record: capture length 70000 beyond the"},
		{"pcap caplen beyond snaplen", smallSnap, 0, 24, fmt.Sprintf("capture length exceeds snap length: %d > 100", len(tr.Packets[0].Frame))},
		{"gzip garbage", []byte{0x1f, 0x8b, 0, 0}, -1, 0, "gzip: unexpected EOF"},
		{"pcap link type", linkType, -1, 20, "link type 113 (Linux SLL): want Ethernet"},
		{"pcapng block length", ngBadLen, 0, int64(shb), "total length 13: must be a multiple of 4"},
		{"pcapng trailing length", ngTrail, 0, 0, fmt.Sprintf("total length %d but trailing length %d", shb, shb+4)},
		{"pcapng cut", ng[:len(ng)-6], len(tr.Packets) - 1, int64(len(ng) - lastBlock), fmt.Sprintf("total length %d: must be a multiple of 4 between 12 and the %d bytes left", lastBlock, lastBlock-6)},
		{"pcapng cut in a block header", ng[:len(ng)-lastBlock+6], len(tr.Packets) - 1, int64(len(ng) - lastBlock), "pcapng block: 6 bytes left: too short"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sim.ReadTrace(bytes.NewReader(c.data))
			var te *sim.TraceError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T), want a *sim.TraceError", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if c.offset >= 0 && (te.Packet != c.packet || te.Offset != c.offset) {
				t.Errorf("error %q at packet %d offset %d, want packet %d offset %d", err, te.Packet, te.Offset, c.packet, c.offset)
			}
			if !strings.HasPrefix(err.Error(), "sim: trace: ") {
				t.Errorf("error %q: want the sim: trace: prefix", err)
			}
		})
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

func TestTraceValidate(t *testing.T) {
	f := []byte{0}
	sc := sim.Scenario{Backends: sim.Backends(1), Traffic: sim.Traffic{Trace: sim.Trace{Packets: []sim.TracePacket{
		{At: 5, Frame: f}, {At: 7, Frame: f}, {At: 6, Frame: f},
	}}}}
	err := sc.Validate()
	var se *sim.ScenarioError
	if !errors.As(err, &se) || se.Field != "traffic.trace.packets[2].at" {
		t.Fatalf("error %v, want one naming traffic.trace.packets[2].at", err)
	}
	if !strings.Contains(err.Error(), "previous packet's 7ns") {
		t.Errorf("error %q does not give the rule", err)
	}
}

// The decisions file holds every forwarded packet, as the XDP program
// transmits it: gopacket parses each as Ethernet / IPv4 (IPIP) / IPv4,
// the outer header toward the chosen backend with a valid checksum, the
// inner packet the original one. The dropped file holds the rest, one
// interface per drop reason.
func TestWriteDecisionsAndDropped(t *testing.T) {
	sc := replayOf(goldenScenario(), readTraceFile(t, tracePcap))
	sc.Duration = 0
	sc.Node = sim.Node{CPUs: 1, QueueLen: 1}
	sc.Cost = cost.Default()
	sc.Cost.NsPerSTU = 100 // 7 µs per packet: fragment bursts overflow the queue
	_, rec, err := sim.RunRecorded(sc, newMaglev)
	if err != nil {
		t.Fatal(err)
	}
	var fwd, drop bytes.Buffer
	if err := sim.WriteDecisions(&fwd, rec); err != nil {
		t.Fatal(err)
	}
	if err := sim.WriteDropped(&drop, rec); err != nil {
		t.Fatal(err)
	}

	pr, err := pcapgo.NewReader(&fwd)
	if err != nil {
		t.Fatal(err)
	}
	n, backendsSeen := 0, map[netip.Addr]bool{}
	for i, v := range rec.Verdicts {
		if v.Action != balancer.Forward {
			continue
		}
		data, ci, err := pr.ReadPacketData()
		if err != nil {
			t.Fatalf("forwarded packet %d (verdict %d): %v", n, i, err)
		}
		n++
		if !ci.Timestamp.Equal(rec.Start.Add(v.Leave)) || !rec.Start.Equal(goldenStart) {
			t.Errorf("verdict %d stamped %v, want %v + %v", i, ci.Timestamp, rec.Start, v.Leave)
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("verdict %d: %v", i, el.Error())
		}
		ls := pkt.Layers()
		if len(ls) < 3 || ls[1].LayerType() != layers.LayerTypeIPv4 || ls[2].LayerType() != layers.LayerTypeIPv4 {
			t.Fatalf("verdict %d: layers %v, want Ethernet/IPv4/IPv4", i, ls)
		}
		outer, inner := ls[1].(*layers.IPv4), ls[2].(*layers.IPv4)
		orig, _ := balancer.Decode(v.Frame)
		if outer.Protocol != layers.IPProtocolIPv4 || netip.AddrFrom4([4]byte(outer.DstIP.To4())) != v.Addr ||
			!v.Addr.IsValid() || netip.AddrFrom4([4]byte(outer.SrcIP.To4())) != orig.Dst {
			t.Errorf("verdict %d: outer %v -> %v proto %v, want %v -> %v (backend %d)", i, outer.SrcIP, outer.DstIP, outer.Protocol, orig.Dst, v.Addr, v.Backend)
		}
		if balancer.Checksum(data[balancer.EthLen:balancer.EthLen+balancer.IPv4Len], 0) != 0 || int(outer.Length) != len(data)-balancer.EthLen {
			t.Errorf("verdict %d: outer checksum or length wrong", i)
		}
		if !bytes.Equal(data[balancer.EthLen+balancer.IPv4Len:], v.Frame[balancer.EthLen:balancer.EthLen+int(orig.Len)]) ||
			inner.Id != orig.IPID {
			t.Errorf("verdict %d: inner packet is not the original", i)
		}
		backendsSeen[v.Addr] = true
	}
	if _, _, err := pr.ReadPacketData(); err != io.EOF {
		t.Errorf("decisions file has more packets than the %d forwarded: %v", n, err)
	}
	if n == 0 || len(backendsSeen) != 3 {
		t.Errorf("%d forwarded packets to %d backends", n, len(backendsSeen))
	}

	nr, err := pcapgo.NewNgReader(&drop, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	byReason := map[string]int{}
	var dropped []sim.Verdict
	for _, v := range rec.Verdicts {
		if v.Reason != "" {
			byReason[v.Reason]++
			dropped = append(dropped, v)
		}
	}
	got := map[string]int{}
	for k := 0; ; k++ {
		data, ci, err := nr.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		intf, err := nr.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		got[intf.Name]++
		if k >= len(dropped) || !bytes.Equal(data, dropped[k].Frame) || intf.Name != dropped[k].Reason ||
			!ci.Timestamp.Equal(rec.Start.Add(dropped[k].Leave)) {
			t.Fatalf("dropped packet %d (%q, %d bytes at %v) is not the verdict's", k, intf.Name, len(data), ci.Timestamp)
		}
	}
	if !reflect.DeepEqual(got, byReason) || byReason[sim.DropQueueFull] == 0 || len(byReason) != 5 {
		t.Errorf("dropped file by interface %v, want %v (queue-full drops and the 4 undecodable reasons)", got, byReason)
	}
}

// Replay a capture, then write what the balancer sent as pcap for
// Wireshark: every forwarded packet IPIP-encapsulated toward its backend.
func ExampleWriteDecisions() {
	f, err := os.Open("testdata/trace.pcap")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	tr, err := sim.ReadTrace(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	sc := sim.Scenario{
		Backends: []balancer.Backend{
			{ID: 101, Addr: netip.MustParseAddr("10.0.1.1"), Weight: 1, Up: true},
			{ID: 102, Addr: netip.MustParseAddr("10.0.1.2"), Weight: 1, Up: true},
		},
		Traffic: sim.Traffic{Trace: tr}, // Duration 0: the whole trace
	}
	res, rec, err := sim.RunRecorded(sc, newTitan)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out bytes.Buffer // os.Create("decisions.pcap") to open it in Wireshark
	if err := sim.WriteDecisions(&out, rec); err != nil {
		fmt.Println(err)
		return
	}
	sent, err := sim.ReadTrace(&out)
	if err != nil {
		fmt.Println(err)
		return
	}
	outer, _ := balancer.Decode(sent.Packets[0].Frame)
	fmt.Printf("%d packets in, %d forwarded, reliability %.2f\n", res.Packets, len(sent.Packets), res.Reliability)
	fmt.Printf("first: %v -> %v, protocol %d (IPIP), %d bytes\n", outer.Src, outer.Dst, outer.Proto, outer.Len)
	// Output:
	// 132 packets in, 128 forwarded, reliability 1.00
	// first: 192.0.2.1 -> 10.0.1.1, protocol 4 (IPIP), 220 bytes
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

// BenchmarkRunRecorded is RunRecorded on the generated scenario: the
// recording's cost (a Verdict and an encoded frame per packet).
func BenchmarkRunRecorded(b *testing.B) {
	sc := benchScenario(200 * time.Millisecond)
	b.ReportAllocs()
	var pkts uint64
	for b.Loop() {
		r, _, err := sim.RunRecorded(sc, newMaglev)
		if err != nil {
			b.Fatal(err)
		}
		pkts += r.Packets
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "pkts/s")
}

// A gzip-compressed pcap reads as the pcap does.
func TestReadTraceGzip(t *testing.T) {
	raw, err := os.ReadFile(tracePcap)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	got, err := sim.ReadTrace(&z)
	if err != nil {
		t.Fatal(err)
	}
	if want := readTraceFile(t, tracePcap); !reflect.DeepEqual(got, want) {
		t.Errorf("gzip-compressed pcap read differently: %d packets, want %d", len(got.Packets), len(want.Packets))
	}
}

// FuzzReadTrace feeds ReadTrace mutated captures: it returns a trace or a
// *TraceError, never panics, and whatever it reads replays without error
// (every frame a Packet).
func FuzzReadTrace(f *testing.F) {
	for _, path := range []string{tracePcap, tracePcapng} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 2000)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := sim.ReadTrace(bytes.NewReader(data))
		if err != nil {
			var te *sim.TraceError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *sim.TraceError", err)
			}
			return
		}
		if len(tr.Packets) == 0 {
			return
		}
		r, err := sim.Run(sim.Scenario{Backends: sim.Backends(2), Traffic: sim.Traffic{Trace: tr}}, newTitan)
		if err != nil {
			t.Fatal(err)
		}
		if r.Packets != uint64(len(tr.Packets)) {
			t.Fatalf("%d packets replayed of %d", r.Packets, len(tr.Packets))
		}
	})
}

// ReadTrace reads microsecond pcap with raw IPv4 frames, big-endian pcap,
// and raises a capture time that goes back to the previous frame's.
func TestReadTraceFormats(t *testing.T) {
	tr := goldenTrace(t)
	frames := [][]byte{tr.Packets[0].Frame, tr.Packets[1].Frame, tr.Packets[2].Frame}
	t0 := goldenStart.Add(250 * time.Millisecond)
	times := []time.Time{t0, t0.Add(5 * time.Microsecond), t0.Add(3 * time.Microsecond)}
	wantAt := []time.Duration{250 * time.Millisecond, 250*time.Millisecond + 5*time.Microsecond, 250*time.Millisecond + 5*time.Microsecond}
	check := func(t *testing.T, data []byte) {
		t.Helper()
		got, err := sim.ReadTrace(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Start.Equal(goldenStart) || len(got.Packets) != len(frames) {
			t.Fatalf("start %v, %d packets; want %v, %d", got.Start, len(got.Packets), goldenStart, len(frames))
		}
		for i, p := range got.Packets {
			if p.At != wantAt[i] || !bytes.Equal(p.Frame, frames[i]) {
				t.Errorf("packet %d at %v (%d bytes), want %v (%d bytes)", i, p.At, len(p.Frame), wantAt[i], len(frames[i]))
			}
		}
	}

	t.Run("microsecond raw IPv4", func(t *testing.T) {
		var b bytes.Buffer
		w := pcapgo.NewWriter(&b)
		if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
			t.Fatal(err)
		}
		for i, f := range frames {
			ip := f[balancer.EthLen:]
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: times[i], CaptureLength: len(ip), Length: len(ip)}, ip); err != nil {
				t.Fatal(err)
			}
		}
		check(t, b.Bytes())
	})

	t.Run("big-endian nanosecond Ethernet", func(t *testing.T) {
		be := binary.BigEndian
		b := be.AppendUint32(nil, 0xa1b23c4d)
		b = be.AppendUint16(b, 2)
		b = be.AppendUint16(b, 4)
		b = be.AppendUint64(b, 0)
		b = be.AppendUint32(b, 65535)
		b = be.AppendUint32(b, uint32(layers.LinkTypeEthernet))
		for i, f := range frames {
			b = be.AppendUint32(b, uint32(times[i].Unix()))
			b = be.AppendUint32(b, uint32(times[i].Nanosecond()))
			b = be.AppendUint32(b, uint32(len(f)))
			b = be.AppendUint32(b, uint32(len(f)))
			b = append(b, f...)
		}
		check(t, b)
	})
}

// WriteDecisions writes a forwarded packet byte for byte as the kernel
// program transmits it: the committed trace, replayed through Titan,
// against the Titan XDP program run on each forwarded frame in turn
// (BPF_PROG_TEST_RUN; skips without BPF privileges, fails with
// TITANLB_REQUIRE_BPF=1).
func TestWriteDecisionsMatchesKernel(t *testing.T) {
	testutil.RequireBPF(t)
	prog, err := xdp.Load(xdp.Options{})
	if errors.Is(err, xdp.ErrNotPermitted) {
		testutil.SkipOrFail(t, "ebpf: loading XDP programs: "+err.Error())
		return
	}
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer prog.Close()
	sc := replayOf(goldenScenario(), readTraceFile(t, tracePcap))
	sc.Duration = 0
	sc.Node.CPUs = 1 // the kernel runs the frames in trace order
	if err := prog.SetBackends(sc.Backends); err != nil {
		t.Fatal(err)
	}
	_, rec, err := sim.RunRecorded(sc, newTitan)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := sim.WriteDecisions(&out, rec); err != nil {
		t.Fatal(err)
	}
	written, err := sim.ReadTrace(&out)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for i, v := range rec.Verdicts {
		if v.Reason != "" && v.Action != balancer.Forward {
			continue // undecodable: the kernel never saw these in the simulation either
		}
		res, err := prog.Run(v.Frame)
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != v.Action || res.Backend != v.Backend {
			t.Fatalf("verdict %d: kernel %v to %d, simulated %v to %d", i, res.Action, res.Backend, v.Action, v.Backend)
		}
		if v.Action != balancer.Forward {
			continue
		}
		if !bytes.Equal(res.Out, written.Packets[k].Frame) {
			t.Fatalf("verdict %d: written frame differs from the kernel's\n got % x\nwant % x", i, written.Packets[k].Frame[:48], res.Out[:min(48, len(res.Out))])
		}
		k++
	}
	if k == 0 || k != len(written.Packets) {
		t.Errorf("compared %d of %d written packets", k, len(written.Packets))
	}
}

// A recorded run becomes a trace: written as pcap, read back and replayed,
// it gives the generated run's Result.
func ExampleRecording_Trace() {
	sc := sim.Scenario{
		Seed:     1,
		Duration: 20 * time.Millisecond,
		Backends: []balancer.Backend{
			{ID: 101, Addr: netip.MustParseAddr("10.0.1.1"), Weight: 1, Up: true},
			{ID: 102, Addr: netip.MustParseAddr("10.0.1.2"), Weight: 1, Up: true},
		},
		Traffic: sim.Traffic{Flows: 100, Rate: 20000, UDPShare: 1, FragmentRate: 0.2, Reorder: 0.5},
	}
	gen, rec, err := sim.RunRecorded(sc, newTitan)
	if err != nil {
		fmt.Println(err)
		return
	}
	var file bytes.Buffer
	if err := sim.WriteTrace(&file, rec.Trace()); err != nil {
		fmt.Println(err)
		return
	}
	tr, err := sim.ReadTrace(&file)
	if err != nil {
		fmt.Println(err)
		return
	}
	sc.Traffic = sim.Traffic{Trace: tr}
	rep, err := sim.Run(sc, newTitan)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range []sim.Result{gen, rep} {
		fmt.Printf("%d datagrams, %d packets, reliability %.2f\n", r.Datagrams, r.Packets, r.Reliability)
	}
	fmt.Println("same result:", reflect.DeepEqual(gen, rep))
	// Output:
	// 409 datagrams, 585 packets, reliability 1.00
	// 409 datagrams, 585 packets, reliability 1.00
	// same result: true
}

// Without drops, the dropped file is a valid pcapng file with no packets
// and one interface, "none"; without forwards, the decisions file is a
// valid pcap file with no packets.
func TestWriteEmptyRecording(t *testing.T) {
	var drop, fwd bytes.Buffer
	if err := sim.WriteDropped(&drop, sim.Recording{}); err != nil {
		t.Fatal(err)
	}
	nr, err := pcapgo.NewNgReader(&drop, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := nr.ReadPacketData(); err != io.EOF {
		t.Errorf("empty dropped file: %v, want EOF", err)
	}
	if intf, err := nr.Interface(0); err != nil || intf.Name != "none" || nr.NInterfaces() != 1 {
		t.Errorf("interfaces %d, first %q (%v); want one, none", nr.NInterfaces(), intf.Name, err)
	}
	if err := sim.WriteDecisions(&fwd, sim.Recording{}); err != nil {
		t.Fatal(err)
	}
	tr, err := sim.ReadTrace(&fwd)
	if err != nil || len(tr.Packets) != 0 {
		t.Errorf("empty decisions file: %d packets, %v", len(tr.Packets), err)
	}
	// A hand-made verdict forwarding a frame that does not decode is an
	// error naming it, not a panic.
	bad := sim.Recording{Verdicts: []sim.Verdict{{Action: balancer.Forward, Frame: []byte{1, 2, 3}}}}
	if err := sim.WriteDecisions(io.Discard, bad); err == nil || !strings.Contains(err.Error(), "verdict 0: decode 3-byte frame: ethernet: truncated") {
		t.Errorf("forwarding garbage: %v", err)
	}
}

// ReadTrace keeps a pcap file's bytes once: its frames are slices of
// them, so reading allocates a few buffers, not one per packet.
func TestReadTraceSharesFileBytes(t *testing.T) {
	data, err := os.ReadFile(tracePcap)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := sim.ReadTrace(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})
	if n := len(goldenTrace(t).Packets); allocs > 16 {
		t.Errorf("reading %d packets: %v allocations, want at most 16", n, allocs)
	}
}
