package sim_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
	"github.com/titanlb/titanlb/xdp"
)

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
