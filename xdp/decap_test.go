package xdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

var (
	decapOuterSrc = netip.MustParseAddr("10.99.0.2")    // the load balancer
	decapOuterDst = netip.MustParseAddr("10.99.2.2")    // this backend
	decapClient   = netip.MustParseAddr("10.99.1.2")    // inner source
	decapVIP      = netip.MustParseAddr("192.0.2.10")   // inner destination
	decapOther    = netip.MustParseAddr("198.51.100.1") // unrelated traffic
)

// decapWrap returns inner (an Ethernet/IPv4 frame) wrapped in an outer IPv4
// header of protocol 4 from src to dst, with a correct checksum, keeping
// inner's Ethernet header: the frame the Titan program sends a backend.
func decapWrap(inner []byte, src, dst netip.Addr) []byte {
	ipLen := len(inner) - balancer.EthLen
	out := make([]byte, len(inner)+balancer.IPv4Len)
	copy(out, inner[:balancer.EthLen])
	o := out[balancer.EthLen : balancer.EthLen+balancer.IPv4Len]
	o[0] = 0x45
	binary.BigEndian.PutUint16(o[2:4], uint16(ipLen+balancer.IPv4Len))
	o[8] = 64
	o[9] = 4 // IPIP
	s, d := src.As4(), dst.As4()
	copy(o[12:16], s[:])
	copy(o[16:20], d[:])
	binary.BigEndian.PutUint16(o[10:12], balancer.Checksum(o, 0))
	copy(out[balancer.EthLen+balancer.IPv4Len:], inner[balancer.EthLen:])
	return out
}

// decapRefix recomputes the outer header checksum of an IPIP frame after a
// test edited the outer header.
func decapRefix(f []byte) []byte {
	o := f[balancer.EthLen : balancer.EthLen+balancer.IPv4Len]
	o[10], o[11] = 0, 0
	binary.BigEndian.PutUint16(o[10:12], balancer.Checksum(o, 0))
	return f
}

// mustStats returns d's counters or fails the test.
func mustStats(t *testing.T, d *Decap) DecapStats {
	t.Helper()
	s, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustRun runs frame through d, fails the test on an error, and checks the
// verdict.
func mustRun(t *testing.T, d *Decap, frame []byte, want balancer.Action) DecapResult {
	t.Helper()
	r, err := d.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != want {
		t.Fatalf("verdict %v, want %v", r.Action, want)
	}
	return r
}

func loadDecapForTest(t *testing.T) *Decap {
	t.Helper()
	testutil.RequireBPF(t)
	d, err := LoadDecap()
	if errors.Is(err, ErrNotPermitted) {
		testutil.SkipOrFail(t, "ebpf: loading XDP programs: "+err.Error())
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDecapStripsOuterHeader(t *testing.T) {
	d := loadDecapForTest(t)
	udp := balancer.Packet{Src: decapClient, Dst: decapVIP, Proto: balancer.ProtoUDP, SrcPort: 40000, DstPort: 5353, IPID: 7}
	tcp := balancer.Packet{Src: decapClient, Dst: decapVIP, Proto: balancer.ProtoTCP, SrcPort: 40001, DstPort: 80, TCPFlags: balancer.TCPAck}
	first := udp
	first.MoreFragments = true
	middle := udp
	middle.MoreFragments, middle.FragOffset = true, 185
	last := udp
	last.FragOffset = 370
	for _, tc := range []struct {
		name    string
		inner   []byte
		isFrag  bool
		padding int
	}{
		{"udp", balancer.Encode(udp, 100), false, 0},
		{"tcp", balancer.Encode(tcp, 1400), false, 0},
		{"first fragment", balancer.Encode(first, 1472), true, 0},
		{"middle fragment", balancer.Encode(middle, 1480), true, 0},
		{"last fragment", balancer.Encode(last, 9), true, 0},
		{"minimal inner header", balancer.Encode(balancer.Packet{Src: decapClient, Dst: decapVIP, Proto: 47}, 0), false, 0},
		{"ethernet padding kept", balancer.Encode(last, 1), true, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustStats(t, d)
			in := decapWrap(tc.inner, decapOuterSrc, decapOuterDst)
			in = append(in, make([]byte, tc.padding)...)
			orig := bytes.Clone(in)
			r := mustRun(t, d, in, balancer.Pass)
			want := append(bytes.Clone(tc.inner), make([]byte, tc.padding)...)
			if !bytes.Equal(r.Out, want) {
				t.Errorf("output must be exactly the inner frame:\n got %x\nwant %x", r.Out, want)
			}
			if !bytes.Equal(in, orig) {
				t.Error("Run modified its input")
			}
			if _, err := balancer.Decode(r.Out); err != nil {
				t.Error(err)
			}

			after := mustStats(t, d)
			wantFrags := before.InnerFragments
			if tc.isFrag {
				wantFrags++
			}
			if after.Decapsulated != before.Decapsulated+1 || after.InnerFragments != wantFrags || after.Total() != before.Total()+1 {
				t.Errorf("counters %+v after %+v, want one more decapsulated (inner fragment: %v)", after, before, tc.isFrag)
			}
		})
	}
}

func TestDecapPassesOtherTraffic(t *testing.T) {
	d := loadDecapForTest(t)
	plain := balancer.Encode(balancer.Packet{Src: decapClient, Dst: decapVIP, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 2}, 64)
	arp := bytes.Clone(plain[:balancer.EthLen+28])
	binary.BigEndian.PutUint16(arp[12:14], 0x0806)
	ipv6 := bytes.Clone(plain)
	binary.BigEndian.PutUint16(ipv6[12:14], 0x86dd)
	ipv6[balancer.EthLen+9] = 4 // the IPv4 protocol offset must not be read as such
	shortIP := bytes.Clone(plain[:balancer.EthLen+8])
	gre := balancer.Encode(balancer.Packet{Src: decapOuterSrc, Dst: decapOuterDst, Proto: 47}, 40)

	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"udp", plain},
		{"tcp", balancer.Encode(balancer.Packet{Src: decapOther, Dst: decapVIP, Proto: balancer.ProtoTCP, SrcPort: 3, DstPort: 4}, 10)},
		{"udp fragment", balancer.Encode(balancer.Packet{Src: decapClient, Dst: decapVIP, Proto: balancer.ProtoUDP, IPID: 9, FragOffset: 185}, 100)},
		{"gre", gre},
		{"arp", arp},
		{"ipv6 ethertype", ipv6},
		{"ipv4 header cut before protocol", shortIP},
		{"ethernet header only", bytes.Clone(plain[:balancer.EthLen])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustStats(t, d)
			r := mustRun(t, d, tc.frame, balancer.Pass)
			if !bytes.Equal(r.Out, tc.frame) {
				t.Errorf("non-IPIP must pass unchanged:\n got %x\nwant %x", r.Out, tc.frame)
			}
			after := mustStats(t, d)
			if after.Passed != before.Passed+1 || after.Decapsulated != before.Decapsulated {
				t.Errorf("counters %+v after %+v, want one more passed", after, before)
			}
		})
	}
}

func TestDecapDropsMalformedIPIP(t *testing.T) {
	d := loadDecapForTest(t)
	inner := balancer.Encode(balancer.Packet{Src: decapClient, Dst: decapVIP, Proto: balancer.ProtoUDP, SrcPort: 5, DstPort: 6, IPID: 3}, 200)
	good := decapWrap(inner, decapOuterSrc, decapOuterDst)
	const o = balancer.EthLen // outer header offset
	const in = balancer.EthLen + balancer.IPv4Len

	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name      string
		frame     []byte
		outerFrag bool
	}{
		{"outer header truncated", good[:o+16], false},
		{"inner header truncated", good[:in+12], false},
		{"outer checksum wrong", edit(func(b []byte) []byte { b[o+10] ^= 0xff; return b }), false},
		{"outer ihl 4", edit(func(b []byte) []byte { b[o] = 0x44; return decapRefix(b) }), false},
		{"outer ihl 6 (options)", edit(func(b []byte) []byte { b[o] = 0x46; return decapRefix(b) }), false},
		{"outer version 6", edit(func(b []byte) []byte { b[o] = 0x65; return decapRefix(b) }), false},
		{"outer total length beyond frame", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[o+2:], uint16(len(b)-o+1))
			return decapRefix(b)
		}), false},
		{"frame cut inside inner payload", good[:len(good)-50], false},
		{"inner length disagrees", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[in+2:], binary.BigEndian.Uint16(b[in+2:])-4)
			return b
		}), false},
		{"inner not ipv4", edit(func(b []byte) []byte { b[in] = 0x60; return b }), false},
		{"inner ihl 3", edit(func(b []byte) []byte { b[in] = 0x43; return b }), false},
		{"outer more fragments", edit(func(b []byte) []byte { b[o+6] = 0x20; return decapRefix(b) }), true},
		{"outer fragment offset", edit(func(b []byte) []byte { b[o+7] = 0x10; return decapRefix(b) }), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustStats(t, d)
			mustRun(t, d, tc.frame, balancer.Drop)
			after := mustStats(t, d)
			want := before
			if tc.outerFrag {
				want.OuterFragment++
			} else {
				want.Malformed++
			}
			if after != want {
				t.Errorf("counters %+v, want %+v", after, want)
			}
		})
	}
	// The unmodified frame still decapsulates: the cases above fail for
	// the one field they change.
	if r := mustRun(t, d, good, balancer.Pass); !bytes.Equal(r.Out, inner) {
		t.Errorf("unmodified frame: got %x, want %x", r.Out, inner)
	}
}

// TestDecapAttachRejectsBadArguments checks the errors Attach returns
// before it asks the kernel: a bad interface index, a mode that is no
// AttachMode, more than one mode.
func TestDecapAttachRejectsBadArguments(t *testing.T) {
	d := loadDecapForTest(t)
	for _, tc := range []struct {
		name    string
		ifindex int
		modes   []AttachMode
		want    string
		is      error
	}{
		{"ifindex 0", 0, []AttachMode{AttachGeneric}, "xdp: decap attach: ifindex 0: must be positive", nil},
		{"unknown mode", 1, []AttachMode{9}, "xdp: decap attach: mode 9: unknown attach mode", ErrUnknownAttachMode},
		{"two modes", 1, []AttachMode{AttachGeneric, AttachNative}, "xdp: decap attach: 2 modes [1 2]: unknown attach mode (want at most one)", ErrUnknownAttachMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := d.Attach(tc.ifindex, tc.modes...)
			if err == nil {
				l.Close()
				t.Fatal("attached")
			}
			if err.Error() != tc.want || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q, want %q (is %v)", err, tc.want, tc.is)
			}
		})
	}
}

// decapWrap6 returns inner (an Ethernet/IPv6 frame) wrapped in an outer
// IPv6 header of next header 41 from src to dst, keeping inner's Ethernet
// header: the frame the Titan program sends an IPv6 backend.
func decapWrap6(inner []byte, src, dst netip.Addr) []byte {
	ipLen := len(inner) - balancer.EthLen
	out := make([]byte, len(inner)+balancer.IPv6Len)
	copy(out, inner[:balancer.EthLen])
	o := out[balancer.EthLen : balancer.EthLen+balancer.IPv6Len]
	o[0] = 0x60
	binary.BigEndian.PutUint16(o[4:6], uint16(ipLen))
	o[6], o[7] = 41, 64
	s, d := src.As16(), dst.As16()
	copy(o[8:24], s[:])
	copy(o[24:40], d[:])
	copy(out[balancer.EthLen+balancer.IPv6Len:], inner[balancer.EthLen:])
	return out
}

// TestDecapIPv6InIPv6 strips the outer IPv6 header of every kind of inner
// IPv6 packet, the Titan program's own output included, and drops what is
// malformed or an outer fragment.
func TestDecapIPv6InIPv6(t *testing.T) {
	d := loadDecapForTest(t)
	src, dst := netip.MustParseAddr("2001:db8:99::2"), netip.MustParseAddr("2001:db8:99:2::2")
	client, vip := netip.MustParseAddr("2001:db8:99:1::2"), netip.MustParseAddr("2001:db8::10")
	udp := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 40000, DstPort: 5353}
	first := udp
	first.MoreFragments, first.FragID, first.ExtHeaders = true, 0x01020304, 2
	last := first
	last.MoreFragments, last.FragOffset, last.SrcPort, last.DstPort = false, 181, 0, 0
	atomic := udp
	atomic.FragID, atomic.ExtHeaders = 9, 1
	for _, tc := range []struct {
		name   string
		inner  []byte
		isFrag bool
	}{
		{"udp", balancer.Encode(udp, 100), false},
		{"first fragment behind a destination options header", balancer.Encode(first, 1200), true},
		{"last fragment", balancer.Encode(last, 9), true},
		{"atomic fragment", balancer.Encode(atomic, 20), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustStats(t, d)
			r := mustRun(t, d, decapWrap6(tc.inner, src, dst), balancer.Pass)
			if !bytes.Equal(r.Out, tc.inner) {
				t.Fatalf("decapsulated %x, want %x", r.Out, tc.inner)
			}
			after := mustStats(t, d)
			frags := after.InnerFragments - before.InnerFragments
			if after.Decapsulated != before.Decapsulated+1 || (frags == 1) != tc.isFrag {
				t.Errorf("stats %+v after %+v", after, before)
			}
		})
	}
	// The Titan program's IPv6-in-IPv6 output comes back to its input.
	p := mustLoad(t, Options{})
	b6 := traceBackends6(1)
	if err := p.SetBackends(b6); err != nil {
		t.Fatal(err)
	}
	in := balancer.Encode(udp, 300)
	res, err := p.Run(in)
	if err != nil || res.Action != balancer.Forward || res.Backend != b6[0].ID {
		t.Fatalf("titan: %+v %v", res, err)
	}
	if r := mustRun(t, d, res.Out, balancer.Pass); !bytes.Equal(r.Out, in) {
		t.Errorf("decap of titan's output %x, want %x", r.Out, in)
	}

	good := decapWrap6(balancer.Encode(udp, 100), src, dst)
	for _, tc := range []struct {
		name  string
		edit  func([]byte) []byte
		want  balancer.Action
		count func(DecapStats) uint64
	}{
		{"outer version 4", func(f []byte) []byte { f[14] = 0x40; return f }, balancer.Drop, func(s DecapStats) uint64 { return s.Malformed }},
		{"outer payload beyond the frame", func(f []byte) []byte { binary.BigEndian.PutUint16(f[18:20], 2000); return f }, balancer.Drop, func(s DecapStats) uint64 { return s.Malformed }},
		{"ethernet padding after the outer payload", func(f []byte) []byte { return append(f, 0, 0) }, balancer.Pass, func(s DecapStats) uint64 { return s.Decapsulated }},
		{"inner length off", func(f []byte) []byte { binary.BigEndian.PutUint16(f[58:60], 99); return f }, balancer.Drop, func(s DecapStats) uint64 { return s.Malformed }},
		{"inner version 4", func(f []byte) []byte { f[54] = 0x45; return f }, balancer.Drop, func(s DecapStats) uint64 { return s.Malformed }},
		{"truncated inner header", func(f []byte) []byte { return f[:14+40+20] }, balancer.Drop, func(s DecapStats) uint64 { return s.Malformed }},
		{"outer fragment", func(f []byte) []byte { f[20] = 44; return f }, balancer.Drop, func(s DecapStats) uint64 { return s.OuterFragment }},
		{"another next header", func(f []byte) []byte { f[20] = 17; return f }, balancer.Pass, func(s DecapStats) uint64 { return s.Passed }},
		{"frame shorter than the next header", func(f []byte) []byte { return f[:20] }, balancer.Pass, func(s DecapStats) uint64 { return s.Passed }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustStats(t, d)
			mustRun(t, d, tc.edit(bytes.Clone(good)), tc.want)
			if got := tc.count(mustStats(t, d)) - tc.count(before); got != 1 {
				t.Errorf("counter moved by %d", got)
			}
		})
	}
}
