package sim_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/sim"
)

// ipv6Scenario sends IPv6 UDP flows only, 40% of datagrams fragmented
// (half of those reordered), to IPv6 backends.
func ipv6Scenario(ext int) sim.Scenario {
	return sim.Scenario{
		Seed:     5,
		Duration: 50 * time.Millisecond,
		Backends: sim.Backends6(3),
		Traffic: sim.Traffic{Flows: 400, Clients: 50, Rate: 20000, UDPShare: 1, IPv6Share: 1,
			FragmentRate: 0.4, Reorder: 0.5, ExtHeaders: ext, LargeSize: 5000},
	}
}

// TestIPv6Fragments checks every generated IPv6 packet against RFC 8200
// §4.5 as an IPv6 host fragments: each fragment within the MTU, the
// unfragmentable part (the Destination Options) repeated before a
// Fragment header, 8-byte units, one 32-bit Identification per datagram,
// the ports in the first fragment only; and that its frame decodes to
// the header the balancer saw.
func TestIPv6Fragments(t *testing.T) {
	for _, ext := range []int{0, 2} {
		sc := ipv6Scenario(ext)
		_, rec, err := sim.RunRecorded(sc, newPin)
		if err != nil {
			t.Fatal(err)
		}
		type dgram struct {
			frags, bytes, end int
			first             bool
		}
		byID := map[[2]uint64]*dgram{} // (client's low word, ID)
		var whole, frags int
		for _, v := range rec.Verdicts {
			h, err := balancer.Decode(v.Frame)
			if err != nil {
				t.Fatal(err)
			}
			if !h.Src.Is6() || !h.Dst.Is6() || h.Dst != sim.DefaultVIP6 || h.Proto != balancer.ProtoUDP {
				t.Fatalf("not an IPv6 UDP packet to the VIP: %+v", h)
			}
			if int(h.Len) > 1500 || h.IPID != 0 || h.IHL != 0 {
				t.Fatalf("header %+v", h)
			}
			if !h.IsFragment() {
				whole++
				if int(h.ExtHeaders) != ext || h.FragID != 0 {
					t.Fatalf("whole packet with %d extension headers, ID %d", h.ExtHeaders, h.FragID)
				}
				continue
			}
			frags++
			if int(h.ExtHeaders) != ext+1 {
				t.Fatalf("fragment with %d extension headers, want %d", h.ExtHeaders, ext+1)
			}
			data := int(h.Len) - balancer.IPv6Len - balancer.ExtHeaderLen*(ext+1)
			if h.MoreFragments && data%8 != 0 {
				t.Fatalf("non-last fragment of %d bytes", data)
			}
			if h.FragOffset == 0 != (h.SrcPort != 0) {
				t.Fatalf("fragment at offset %d with ports %d/%d", h.FragOffset, h.SrcPort, h.DstPort)
			}
			src := h.Src.As16()
			k := [2]uint64{binary.BigEndian.Uint64(src[8:]), uint64(h.FragID)}
			d := byID[k]
			if d == nil {
				d = &dgram{}
				byID[k] = d
			}
			d.frags++
			d.bytes += data
			d.first = d.first || h.FragOffset == 0
			if !h.MoreFragments {
				d.end = int(h.FragOffset)*8 + data
			}
		}
		if whole == 0 || frags == 0 {
			t.Fatalf("%d whole packets, %d fragments", whole, frags)
		}
		// A datagram of LargeSize bytes: its fragmentable part (UDP
		// header and payload) split in as many fragments as the MTU
		// needs, numbered with its own Identification.
		unfrag := balancer.IPv6Len + balancer.ExtHeaderLen*ext
		per := (1500 - unfrag - balancer.ExtHeaderLen) / 8 * 8
		wantFrags := (5000 - unfrag + per - 1) / per
		for k, d := range byID {
			if !d.first || d.end != 5000-unfrag || d.bytes != d.end || d.frags != wantFrags {
				t.Fatalf("datagram %v: %+v, want %d fragments of %d bytes", k, *d, wantFrags, 5000-unfrag)
			}
		}
	}
}

func TestIPv6Reassembly(t *testing.T) {
	sc := ipv6Scenario(1)
	r := mustRun(t, sc, newPin)
	if r.Fragments == 0 || r.Reliability != 1 || r.FragmentAccuracy != 1 || len(r.Drops) != 0 {
		t.Errorf("IPv6 to one backend: %d fragments, reliability %v, accuracy %v, drops %v",
			r.Fragments, r.Reliability, r.FragmentAccuracy, r.Drops)
	}
	// A balancer that hashes fragments without their ports splits
	// datagrams: the backends' reassemblers time them out.
	m := mustRun(t, sc, newMaglev)
	if m.Reliability >= 0.95 || m.Drops["reassembly: timeout"] == 0 {
		t.Errorf("stateless IPv6: reliability %v, drops %v", m.Reliability, m.Drops)
	}
	// The reassemblers' limits apply to IPv6 as to IPv4, with the same
	// reasons.
	for _, v6 := range []float64{0, 1} {
		sc.Traffic.IPv6Share = v6
		sc.Traffic.ExtHeaders = 0
		sc.Backends = sim.Backends(3)
		if v6 == 1 {
			sc.Backends = sim.Backends6(3)
		}
		sc.Reassembly = frag.ReassemblerOptions{MaxFragments: 3}
		r := mustRun(t, sc, newPin)
		if r.Drops["reassembly: too many fragments"] == 0 || r.Reliability >= 1 {
			t.Errorf("IPv6 share %v, 3 fragments at most: reliability %v, drops %v", v6, r.Reliability, r.Drops)
		}
	}
}

func TestIPv6CatchAllServesEachFamily(t *testing.T) {
	sc := mixed(7)
	sc.Traffic.IPv6Share = 0.5
	sc.Backends = append(sim.Backends(3), sim.Backends6(2)...)
	sc.Events = nil
	r, rec, err := sim.RunRecorded(sc, newSvc)
	if err != nil {
		t.Fatal(err)
	}
	var v4, v6 int
	for _, v := range rec.Verdicts {
		h, err := balancer.Decode(v.Frame)
		if err != nil {
			t.Fatal(err)
		}
		if v.Action != balancer.Forward {
			continue
		}
		if h.Dst.Is6() != v.Addr.Is6() {
			t.Fatalf("%v packet forwarded to %v", h.Dst, v.Addr)
		}
		if h.Dst.Is6() {
			v6++
		} else {
			v4++
		}
	}
	if v4 == 0 || v6 == 0 || r.PerBackend["601"] == 0 || r.PerBackend["101"] == 0 {
		t.Errorf("forwarded %d IPv4, %d IPv6; per backend %v", v4, v6, r.PerBackend)
	}
	// Without IPv6 backends the IPv6 flows are passed.
	sc.Backends = sim.Backends(3)
	r = mustRun(t, sc, newSvc)
	if p := r.Drops[sim.DropPassed]; p == 0 || p > r.Packets*6/10 || p < r.Packets*4/10 {
		t.Errorf("IPv6 without IPv6 backends: %d of %d packets passed", p, r.Packets)
	}
}

func TestIPv6Service(t *testing.T) {
	v6key := balancer.ServiceKey{VIP: netip.MustParseAddr("2001:db8::10"), Port: 443, Proto: balancer.ProtoUDP}
	sc := twoServices()
	sc.Services = append(sc.Services, sim.ServiceTraffic{
		Service: balancer.Service{Key: v6key, Backends: sim.Backends6(3)},
		Traffic: sim.Traffic{Flows: 200, Clients: 100, Rate: 10000, FragmentRate: 0.5, ExtHeaders: 1},
	})
	r, rec, err := sim.RunRecorded(sc, newSvc)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Services[v6key.String()]
	if s.Datagrams == 0 || s.Fragments == 0 || s.Index != 2 || s.PerBackend["601"] == 0 {
		t.Fatalf("IPv6 service: %+v", s)
	}
	n := 0
	for _, v := range rec.Verdicts {
		h, _ := balancer.Decode(v.Frame)
		if h.Dst == v6key.VIP {
			n++
			if v.Action == balancer.Forward && !v.Addr.Is6() {
				t.Fatalf("IPv6 packet forwarded to %v", v.Addr)
			}
		}
	}
	if uint64(n) != s.Packets {
		t.Errorf("%d IPv6 packets recorded, service counted %d", n, s.Packets)
	}
}

func TestIPv6Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*sim.Traffic)
		want string
	}{
		{"minimum MTU", func(t *sim.Traffic) { t.MTU = 576 }, "sim: scenario.traffic.mtu 576: must be at least 1280 for IPv6 flows (RFC 8200 §5)"},
		{"size", func(t *sim.Traffic) { t.Size = 50 }, "sim: scenario.traffic.size 50: must be between 68 and the MTU 1500"},
		{"share", func(t *sim.Traffic) { t.IPv6Share = 1.5 }, "sim: scenario.traffic.ipv6Share 1.5: must be between 0 and 1"},
		{"extension headers", func(t *sim.Traffic) { t.ExtHeaders = 4 }, "sim: scenario.traffic.extHeaders 4: must be between 0 and 3 (balancer.MaxExtHeaders − 1: the Fragment header needs a place in the chain)"},
		{"extension headers without IPv6", func(t *sim.Traffic) { t.IPv6Share = 0 }, "sim: scenario.traffic.extHeaders 1: applies to IPv6 flows only (traffic.ipv6Share, or a service of an IPv6 VIP)"},
		{"vip6", func(t *sim.Traffic) { t.VIP6 = netip.MustParseAddr("192.0.2.1") }, "sim: scenario.traffic.vip6 192.0.2.1: must be a unicast IPv6 address without zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := ipv6Scenario(1)
			tc.edit(&sc.Traffic)
			err := sc.Validate()
			if err == nil || err.Error() != tc.want || !errors.Is(err, sim.ErrInvalid) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestWriteDecisionsIPv6 checks the IPv6-in-IPv6 encapsulation written
// for forwarded IPv6 packets.
func TestWriteDecisionsIPv6(t *testing.T) {
	sc := ipv6Scenario(0)
	sc.Duration = 5 * time.Millisecond
	_, rec, err := sim.RunRecorded(sc, newMaglev)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sim.WriteDecisions(&buf, rec); err != nil {
		t.Fatal(err)
	}
	tr, err := sim.ReadTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var fwd []sim.Verdict
	for _, v := range rec.Verdicts {
		if v.Action == balancer.Forward {
			fwd = append(fwd, v)
		}
	}
	if len(tr.Packets) != len(fwd) || len(fwd) == 0 {
		t.Fatalf("%d packets written, %d forwarded", len(tr.Packets), len(fwd))
	}
	for i, p := range tr.Packets {
		f := p.Frame
		outer := f[balancer.EthLen:]
		if binary.BigEndian.Uint16(f[12:14]) != 0x86dd || outer[0]>>4 != 6 || outer[6] != 41 || outer[7] != 64 {
			t.Fatalf("packet %d: not IPv6-in-IPv6: % x", i, f[:balancer.EthLen+balancer.IPv6Len])
		}
		if src, dst := netip.AddrFrom16([16]byte(outer[8:24])), netip.AddrFrom16([16]byte(outer[24:40])); src != sim.DefaultVIP6 || dst != fwd[i].Addr {
			t.Fatalf("packet %d: outer %v -> %v, want %v -> %v", i, src, dst, sim.DefaultVIP6, fwd[i].Addr)
		}
		inner := fwd[i].Frame[balancer.EthLen:]
		if int(binary.BigEndian.Uint16(outer[4:6])) != len(inner) || !bytes.Equal(outer[balancer.IPv6Len:], inner) {
			t.Fatalf("packet %d: inner packet not carried whole", i)
		}
	}
}
