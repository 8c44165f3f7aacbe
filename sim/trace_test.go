package sim_test

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/sim"
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
		sim.DropUndecodable + "ethernet.type: not ipv4 or ipv6",
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
			if err := atomicfile.WriteFile(f.path, f.data, 0o644); err != nil {
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

// replayOf returns sc with its traffic replaced by tr.
func replayOf(sc sim.Scenario, tr sim.Trace) sim.Scenario {
	sc.Traffic = sim.Traffic{Trace: tr}
	sc.Services = slices.Clone(sc.Services)
	for i := range sc.Services {
		sc.Services[i].Traffic = sim.Traffic{}
	}
	return sc
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
