package balancer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	src6 = netip.MustParseAddr("2001:db8:ff::1")
	dst6 = netip.MustParseAddr("2001:db8::10")
)

func testPacket6() Packet {
	return Packet{Src: src6, Dst: dst6, Proto: ProtoTCP, SrcPort: 40000, DstPort: 443}
}

// raw6 builds an Ethernet/IPv6 frame from src6 to dst6 whose header says
// next header nh, followed by the concatenated parts; the payload length
// is their length.
func raw6(nh uint8, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	b := make([]byte, EthLen+IPv6Len, EthLen+IPv6Len+len(body))
	writeEthernet(b, EtherTypeIPv6)
	ip := b[EthLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(body)))
	ip[6], ip[7] = nh, 64
	s, d := src6.As16(), dst6.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	return append(b, body...)
}

// opts returns an options-format extension header (Hop-by-Hop, Routing,
// Destination Options) of n bytes (a multiple of 8) whose next header is
// nh, padded with PadN.
func opts(nh uint8, n int) []byte {
	h := make([]byte, n)
	h[0], h[1] = nh, byte(n/8-1)
	h[2], h[3] = 1, byte(n-4)
	return h
}

// ah returns an Authentication header of n bytes (a multiple of 4, at
// least 12).
func ah(nh uint8, n int) []byte {
	h := make([]byte, n)
	h[0], h[1] = nh, byte(n/4-2)
	return h
}

func fragHdr(nh uint8, off uint16, more bool, id uint32) []byte {
	h := make([]byte, 8)
	h[0] = nh
	fo := off << 3
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(h[2:4], fo)
	binary.BigEndian.PutUint32(h[4:8], id)
	return h
}

func tcpHdr(sp, dp uint16, flags uint8) []byte {
	h := make([]byte, TCPLen)
	binary.BigEndian.PutUint16(h[0:2], sp)
	binary.BigEndian.PutUint16(h[2:4], dp)
	h[12], h[13] = 5<<4, flags
	return h
}

func udpHdr(sp, dp uint16) []byte {
	h := make([]byte, UDPLen)
	binary.BigEndian.PutUint16(h[0:2], sp)
	binary.BigEndian.PutUint16(h[2:4], dp)
	return h
}

// valid6 are IPv6 packets Encode builds and Decode gives back, with the
// payload each carries.
func valid6() []struct {
	name    string
	p       Packet
	payload int
} {
	with := func(f func(*Packet)) Packet { p := testPacket6(); f(&p); return p }
	return []struct {
		name    string
		p       Packet
		payload int
	}{
		{"tcp syn", with(func(p *Packet) { p.TCPFlags = TCPSyn }), 0},
		{"udp", with(func(p *Packet) { p.Proto = ProtoUDP }), 1000},
		{"udp, 4 destination options", with(func(p *Packet) { p.Proto, p.ExtHeaders = ProtoUDP, 4 }), 10},
		{"icmpv6", Packet{Src: src6, Dst: dst6, Proto: ProtoICMPv6}, 56},
		{"no next header", Packet{Src: src6, Dst: dst6, Proto: ProtoNoNext, ExtHeaders: 2}, 0},
		{"esp", Packet{Src: src6, Dst: dst6, Proto: ProtoESP}, 40},
		{"udp first fragment", with(func(p *Packet) {
			p.Proto, p.MoreFragments, p.FragID, p.ExtHeaders = ProtoUDP, true, 0xdeadbeef, 1
		}), 1224},
		{"tcp first fragment behind 3 headers", with(func(p *Packet) {
			p.MoreFragments, p.FragID, p.ExtHeaders, p.TCPFlags = true, 7, 4, TCPAck
		}), 100},
		{"udp middle fragment", Packet{Src: src6, Dst: dst6, Proto: ProtoUDP, FragOffset: 154, MoreFragments: true, FragID: 9, ExtHeaders: 1}, 1232},
		{"udp last fragment", Packet{Src: src6, Dst: dst6, Proto: ProtoUDP, FragOffset: 308, FragID: 9, ExtHeaders: 2}, 500},
		{"fragment ending at 65535", Packet{Src: src6, Dst: dst6, Proto: ProtoUDP, FragOffset: 8000, FragID: 1, ExtHeaders: 1}, 65535 - 64000},
		{"atomic fragment", with(func(p *Packet) { p.FragID, p.ExtHeaders = 0x01020304, 1 }), 20},
		{"atomic fragment behind options", with(func(p *Packet) { p.Proto, p.FragID, p.ExtHeaders = ProtoUDP, 5, 3 }), 20},
	}
}

func TestEncodeDecodeRoundTrip6(t *testing.T) {
	for _, tc := range valid6() {
		t.Run(tc.name, func(t *testing.T) {
			frame := Encode(tc.p, tc.payload)
			got, err := Decode(frame)
			if err != nil {
				t.Fatalf("Decode(Encode(p)): %v", err)
			}
			want := tc.p
			want.Len = uint16(len(frame) - EthLen)
			if got != want {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
			if len(frame) != EncodedLen(tc.p, tc.payload) {
				t.Errorf("frame of %d bytes, EncodedLen %d", len(frame), EncodedLen(tc.p, tc.payload))
			}
			l4 := frame[EthLen+IPv6Len+extLen(&tc.p):]
			if !tc.p.IsFragment() && (tc.p.Proto == ProtoTCP || tc.p.Proto == ProtoUDP) {
				s, d := tc.p.Src.As16(), tc.p.Dst.As16()
				if c := Checksum(l4, pseudo6(&s, &d, tc.p.Proto, len(l4))); c != 0 {
					t.Errorf("bad L4 checksum: residue %#x", c)
				}
			}
			compareGopacket(t, frame, got)
		})
	}
}

// compareGopacket checks a packet Decode accepted against gopacket's
// reading of the same frame: addresses, payload length, the Fragment
// header, and the ports. gopacket stops at a Fragment header (it decodes
// the rest of a first or atomic fragment when asked) and knows only
// Routing type 0: what it could not decode is not compared.
// outerFragment returns the Fragment header of ip's own chain, if any:
// not one of a packet it carries (IPv6 or IPv4 in IPv6), which gopacket
// decodes too.
func outerFragment(gp gopacket.Packet, ip *layers.IPv6) *layers.IPv6Fragment {
	outer := false
	for _, l := range gp.Layers() {
		switch l := l.(type) {
		case *layers.IPv6:
			if outer {
				return nil
			}
			outer = l == ip
		case *layers.IPv4:
			if outer {
				return nil
			}
		case *layers.IPv6Fragment:
			if outer {
				return l
			}
		}
	}
	return nil
}

func compareGopacket(t *testing.T, frame []byte, p Packet) {
	t.Helper()
	gp := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	ip, ok := gp.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if !ok {
		t.Fatalf("gopacket found no IPv6 layer (%v); Decode accepts %+v", gp.ErrorLayer(), p)
	}
	// As netip addresses from gopacket's 16 bytes: net.IP's String prints
	// an IPv4-mapped IPv6 address as IPv4, which Decode rightly keeps IPv6.
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	if src != p.Src || dst != p.Dst || int(ip.Length)+IPv6Len != int(p.Len) {
		t.Errorf("gopacket: %v -> %v length %d; Decode: %+v", ip.SrcIP, ip.DstIP, ip.Length, p)
	}
	failed := gp.ErrorLayer() != nil
	transport := gp.TransportLayer()
	if f := outerFragment(gp, ip); f != nil {
		if f.Identification != p.FragID || f.FragmentOffset != p.FragOffset || f.MoreFragments != p.MoreFragments {
			t.Errorf("gopacket fragment id %d offset %d M %v; Decode %+v", f.Identification, f.FragmentOffset, f.MoreFragments, p)
		}
		if p.FragOffset != 0 {
			if uint8(f.NextHeader) != p.Proto {
				t.Errorf("non-first fragment: gopacket next header %d, Decode Proto %d", f.NextHeader, p.Proto)
			}
			return
		}
		rest := gopacket.NewPacket(f.Payload, f.NextHeader.LayerType(), gopacket.DecodeOptions{NoCopy: true})
		transport, failed = rest.TransportLayer(), rest.ErrorLayer() != nil
	} else if failed {
		return
	} else if p.FragID != 0 || p.IsFragment() {
		t.Errorf("gopacket sees no Fragment header; Decode %+v", p)
	}
	if !p.HasPorts() || failed && transport == nil {
		return
	}
	switch l := transport.(type) {
	case *layers.TCP:
		if p.Proto != ProtoTCP || uint16(l.SrcPort) != p.SrcPort || uint16(l.DstPort) != p.DstPort || l.SYN != (p.TCPFlags&TCPSyn != 0) {
			t.Errorf("gopacket TCP %d -> %d syn %v; Decode %+v", l.SrcPort, l.DstPort, l.SYN, p)
		}
	case *layers.UDP:
		if p.Proto != ProtoUDP || uint16(l.SrcPort) != p.SrcPort || uint16(l.DstPort) != p.DstPort {
			t.Errorf("gopacket UDP %d -> %d; Decode %+v", l.SrcPort, l.DstPort, p)
		}
	default:
		t.Errorf("gopacket transport layer %T; Decode %+v", l, p)
	}
}

// routing returns a Routing header of 8 bytes, type 0 (the one gopacket
// knows), no segments left.
func routing(nh uint8) []byte { return []byte{nh, 0, 0, 0, 0, 0, 0, 0} }

// TestDecode6Chains decodes hand-built extension chains that Encode does
// not write (Hop-by-Hop, Routing, AH, long options, headers after the
// Fragment header) and checks Decode against the wire and gopacket.
func TestDecode6Chains(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		want  Packet // Src, Dst and Len are filled in
	}{
		{"hop-by-hop, routing, destination options",
			raw6(ProtoHopByHop, opts(ProtoRouting, 8), routing(ProtoDestOpts), opts(ProtoTCP, 16), tcpHdr(1, 2, TCPSyn)),
			Packet{Proto: ProtoTCP, SrcPort: 1, DstPort: 2, TCPFlags: TCPSyn, ExtHeaders: 3}},
		{"segment routing header (type 4), unknown to gopacket",
			raw6(ProtoRouting, []byte{ProtoUDP, 2, 4, 0, 0, 0, 0, 0}, make([]byte, 16), udpHdr(3, 4)),
			Packet{Proto: ProtoUDP, SrcPort: 3, DstPort: 4, ExtHeaders: 1}},
		{"long options",
			raw6(ProtoHopByHop, opts(ProtoDestOpts, 24), opts(ProtoTCP, 16), tcpHdr(1, 2, TCPSyn)),
			Packet{Proto: ProtoTCP, SrcPort: 1, DstPort: 2, TCPFlags: TCPSyn, ExtHeaders: 2}},
		{"authentication header",
			raw6(ProtoAH, ah(ProtoUDP, 24), udpHdr(5000, 53), make([]byte, 30)),
			Packet{Proto: ProtoUDP, SrcPort: 5000, DstPort: 53, ExtHeaders: 1}},
		{"first fragment, options after the Fragment header",
			raw6(ProtoFragment, fragHdr(ProtoDestOpts, 0, true, 77), opts(ProtoUDP, 8), udpHdr(7, 8), make([]byte, 64)),
			Packet{Proto: ProtoUDP, SrcPort: 7, DstPort: 8, MoreFragments: true, FragID: 77, ExtHeaders: 2}},
		{"non-first fragment: its bytes are payload",
			raw6(ProtoHopByHop, opts(ProtoFragment, 8), fragHdr(ProtoDestOpts, 10, true, 77), []byte{ProtoFragment, 255, 0, 0, 0, 0, 0, 0}),
			Packet{Proto: ProtoDestOpts, FragOffset: 10, MoreFragments: true, FragID: 77, ExtHeaders: 2}},
		{"four extension headers",
			raw6(ProtoHopByHop, opts(ProtoDestOpts, 8), opts(ProtoRouting, 8), routing(ProtoFragment), fragHdr(ProtoTCP, 0, true, 3), tcpHdr(9, 10, 0), make([]byte, 8)),
			Packet{Proto: ProtoTCP, SrcPort: 9, DstPort: 10, MoreFragments: true, FragID: 3, ExtHeaders: 4}},
		{"esp ends the chain",
			raw6(ProtoDestOpts, opts(ProtoESP, 8), make([]byte, 40)),
			Packet{Proto: ProtoESP, ExtHeaders: 1}},
		{"no next header",
			raw6(ProtoHopByHop, opts(ProtoNoNext, 8)),
			Packet{Proto: ProtoNoNext, ExtHeaders: 1}},
		{"padding past the payload length",
			append(raw6(ProtoUDP, udpHdr(1, 2)), 0, 0, 0, 0, 0, 0),
			Packet{Proto: ProtoUDP, SrcPort: 1, DstPort: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Src, want.Dst = src6, dst6
			want.Len = binary.BigEndian.Uint16(tc.frame[EthLen+4:]) + IPv6Len
			if got != want {
				t.Fatalf("\n got %+v\nwant %+v", got, want)
			}
			compareGopacket(t, tc.frame, got)
		})
	}
}

func TestDecodeErrors6(t *testing.T) {
	jumbo := raw6(ProtoHopByHop, []byte{ProtoUDP, 0, 0xc2, 4, 0, 1, 0, 0}, udpHdr(1, 2))
	binary.BigEndian.PutUint16(jumbo[EthLen+4:], 0)
	long := raw6(ProtoUDP, udpHdr(1, 2), make([]byte, 100))
	binary.BigEndian.PutUint16(long[EthLen+4:], 200)
	v4 := raw6(ProtoUDP, udpHdr(1, 2))
	v4[EthLen] = 0x45
	for _, tc := range []struct {
		name  string
		frame []byte
		field string
		err   error
	}{
		{"short header", raw6(ProtoUDP)[:EthLen+39], "ipv6", ErrTruncated},
		{"version 4", v4, "ipv6.version", ErrNotIPv6},
		{"jumbogram", jumbo, "ipv6.payload_length", ErrJumbogram},
		{"payload length beyond the frame", long, "ipv6.payload_length", ErrPayloadLength},
		{"hop-by-hop second", raw6(ProtoDestOpts, opts(ProtoHopByHop, 8), opts(ProtoUDP, 8), udpHdr(1, 2)), "ipv6.hop_by_hop", ErrHopByHop},
		{"five extension headers", raw6(ProtoDestOpts, opts(ProtoDestOpts, 8), opts(ProtoDestOpts, 8), opts(ProtoRouting, 8), opts(ProtoDestOpts, 8), opts(ProtoTCP, 8), tcpHdr(1, 2, 0)), "ipv6.ext", ErrExtChain},
		{"fragment header in a fragment", raw6(ProtoFragment, fragHdr(ProtoFragment, 0, true, 1), fragHdr(ProtoUDP, 0, true, 2), udpHdr(1, 2)), "ipv6.fragment", ErrNestedFragment},
		{"fragment header in an atomic fragment", raw6(ProtoFragment, fragHdr(ProtoFragment, 0, false, 1), fragHdr(ProtoUDP, 0, true, 2), udpHdr(1, 2)), "ipv6.fragment", ErrNestedFragment},
		{"options past the payload", raw6(ProtoDestOpts, opts(ProtoUDP, 16)[:12]), "ipv6.ext", ErrTruncated},
		{"option header cut at 1 byte", raw6(ProtoRouting, []byte{ProtoUDP}), "ipv6.ext", ErrTruncated},
		{"fragment header cut", raw6(ProtoFragment, fragHdr(ProtoUDP, 0, true, 1)[:6]), "ipv6.ext", ErrTruncated},
		{"first fragment cut inside a header after it", raw6(ProtoFragment, fragHdr(ProtoDestOpts, 0, true, 1), opts(ProtoUDP, 16)[:8]), "ipv6.fragment", ErrIncompleteChain},
		{"first fragment cut in its tcp header", raw6(ProtoFragment, fragHdr(ProtoTCP, 0, true, 1), tcpHdr(1, 2, 0)[:16]), "ipv6.fragment", ErrIncompleteChain},
		{"first fragment cut in its udp header", raw6(ProtoDestOpts, opts(ProtoFragment, 8), fragHdr(ProtoUDP, 0, true, 1), udpHdr(1, 2)[:4]), "ipv6.fragment", ErrIncompleteChain},
		{"whole packet cut in its tcp header", raw6(ProtoTCP, tcpHdr(1, 2, 0)[:19]), "tcp", ErrTruncated},
		{"whole packet cut in its udp header", raw6(ProtoDestOpts, opts(ProtoUDP, 8), udpHdr(1, 2)[:7]), "udp", ErrTruncated},
		{"atomic fragment cut in its tcp header", raw6(ProtoFragment, fragHdr(ProtoTCP, 0, false, 1), tcpHdr(1, 2, 0)[:10]), "tcp", ErrTruncated},
		{"empty non-first fragment", raw6(ProtoFragment, fragHdr(ProtoUDP, 10, true, 1)), "ipv6.fragment", ErrEmptyFrag},
		{"empty last fragment", raw6(ProtoFragment, fragHdr(ProtoUDP, 10, false, 1)), "ipv6.fragment", ErrEmptyFrag},
		{"empty first fragment", raw6(ProtoFragment, fragHdr(ProtoUDP, 0, true, 1)), "ipv6.fragment", ErrEmptyFrag},
		{"fragment past 65535", raw6(ProtoFragment, fragHdr(ProtoUDP, 8191, false, 1), make([]byte, 9)), "ipv6.fragment_offset", ErrFragOverrun},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode(tc.frame)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode = %+v, %v; want a *DecodeError", p, err)
			}
			if de.Field != tc.field || !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want field %q, %v", err, tc.field, tc.err)
			}
		})
	}
	// The last byte that still fits: offset 8191*8 + 7 = 65535.
	if _, err := Decode(raw6(ProtoFragment, fragHdr(ProtoUDP, 8191, false, 1), make([]byte, 7))); err != nil {
		t.Errorf("fragment ending at 65535: %v", err)
	}
}

func TestPacketPredicates6(t *testing.T) {
	atomic := Packet{Src: src6, Dst: dst6, Proto: ProtoUDP, FragID: 5, ExtHeaders: 1}
	if atomic.IsFragment() || atomic.IsFirstFragment() || !atomic.HasPorts() {
		t.Error("an atomic fragment is a whole packet")
	}
	first := atomic
	first.MoreFragments = true
	if !first.IsFragment() || !first.IsFirstFragment() || !first.HasPorts() {
		t.Error("first fragment predicates")
	}
	last := atomic
	last.FragOffset = 1
	if !last.IsFragment() || last.IsFirstFragment() || last.HasPorts() {
		t.Error("last fragment predicates")
	}
}

func TestEncodeToNoAlloc6(t *testing.T) {
	p := testPacket6()
	p.ExtHeaders, p.MoreFragments, p.FragID = 2, true, 1
	buf := make([]byte, 2048)
	if n := testing.AllocsPerRun(100, func() { EncodeTo(buf, p, 100) }); n != 0 {
		t.Errorf("EncodeTo allocates %v", n)
	}
	frame := Encode(p, 100)
	if n := testing.AllocsPerRun(100, func() { _, _ = Decode(frame) }); n != 0 {
		t.Errorf("Decode allocates %v", n)
	}
	if EncodeTo(buf[:60], p, 100) != 0 {
		t.Error("EncodeTo into a short buffer did not return 0")
	}
	if n := len(Encode(p, 65536-UDPLen-2*ExtHeaderLen)); n != 0 {
		t.Errorf("Encode of a payload length of 65536: %d bytes, want none", n)
	}
}

// FuzzDecode6 checks Decode on IPv6 frames: it never panics; what it
// accepts gopacket reads alike, and re-encodes (with Encode's canonical
// chain) to a frame that decodes to the same header fields, except that a
// fragment whose re-encoded length breaks a fragment rule (the original
// chain's headers were longer) fails that rule.
func FuzzDecode6(f *testing.F) {
	for _, tc := range valid6() {
		f.Add(Encode(tc.p, tc.payload))
	}
	f.Add(raw6(ProtoHopByHop, opts(ProtoRouting, 8), routing(ProtoDestOpts), opts(ProtoTCP, 16), tcpHdr(1, 2, TCPSyn)))
	f.Add(raw6(ProtoAH, ah(ProtoUDP, 24), udpHdr(5000, 53), make([]byte, 30)))
	f.Add(raw6(ProtoFragment, fragHdr(ProtoDestOpts, 0, true, 77), opts(ProtoUDP, 8), udpHdr(7, 8), make([]byte, 64)))
	f.Add(raw6(ProtoFragment, fragHdr(ProtoDestOpts, 10, true, 77), []byte{ProtoFragment, 255, 0, 0, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := Decode(frame)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Len != len(frame) {
				t.Fatalf("error %v is not a *DecodeError of this frame", err)
			}
			return
		}
		if !p.Dst.Is6() {
			return // IPv4: FuzzDecode
		}
		compareGopacket(t, frame, p)
		l4 := l4HeaderLen(&p)
		q := p
		payload := int(p.Len) - IPv6Len - extLen(&q) - l4
		if payload < 0 {
			return // the original chain is shorter than Encode's
		}
		if p.Malformed() {
			t.Fatalf("Decode returned a malformed packet %+v", p)
		}
		re := Encode(p, payload)
		got, err := Decode(re)
		data := int(p.Len) - IPv6Len - extLen(&p) // after Encode's Fragment header
		switch {
		case p.IsFragment() && data == 0:
			if !errors.Is(err, ErrEmptyFrag) {
				t.Fatalf("re-encoded empty fragment: %v", err)
			}
		case p.IsFragment() && int(p.FragOffset)*8+data > 65535:
			if !errors.Is(err, ErrFragOverrun) {
				t.Fatalf("re-encoded overrunning fragment: %v", err)
			}
		case err != nil:
			t.Fatalf("re-encoded %+v does not decode: %v", p, err)
		case got != p:
			t.Fatalf("re-encode changed the packet:\n%+v\n%+v", p, got)
		}
	})
}

// TestMalformed6 lists the IPv6 header views no frame carries: Malformed
// reports each and Encode builds no frame; the valid packets Encode and
// Decode round-trip are not malformed.
func TestMalformed6(t *testing.T) {
	with := func(f func(*Packet)) Packet { p := testPacket6(); f(&p); return p }
	for name, p := range map[string]Packet{
		"IHL 5":                         with(func(p *Packet) { p.IHL = 5 }),
		"an IPv4 ID":                    with(func(p *Packet) { p.IPID = 7 }),
		"5 extension headers":           with(func(p *Packet) { p.ExtHeaders = MaxExtHeaders + 1 }),
		"a fragment without headers":    with(func(p *Packet) { p.MoreFragments, p.FragID = true, 1 }),
		"an ID without headers":         with(func(p *Packet) { p.FragID = 1 }),
		"upper layer hop-by-hop":        with(func(p *Packet) { p.Proto = ProtoHopByHop }),
		"upper layer routing":           with(func(p *Packet) { p.Proto, p.ExtHeaders = ProtoRouting, 1 }),
		"offset 8192":                   with(func(p *Packet) { p.FragOffset, p.ExtHeaders, p.SrcPort, p.DstPort = 8192, 1, 0, 0 }),
		"Len 39":                        with(func(p *Packet) { p.Len = 39 }),
		"Len below 2 extension headers": with(func(p *Packet) { p.Len, p.ExtHeaders = 55, 2 }),
		"fragment of 48 bytes":          Packet{Src: src6, Dst: dst6, Proto: ProtoUDP, FragOffset: 9, ExtHeaders: 1, FragID: 1, Len: 48},
		"IPv4 with an IPv6 ID":          func() Packet { p := testPacket(); p.FragID = 1; return p }(),
		"IPv4 with extension headers":   func() Packet { p := testPacket(); p.ExtHeaders = 1; return p }(),
	} {
		if !p.Malformed() {
			t.Errorf("%s: not malformed", name)
		}
		if f := Encode(p, 8); f != nil {
			t.Errorf("%s: Encode built %d bytes", name, len(f))
		}
	}
	for _, tc := range valid6() {
		p := tc.p
		p.Len = uint16(EncodedLen(p, tc.payload) - EthLen)
		if p.Malformed() {
			t.Errorf("%s: malformed", tc.name)
		}
	}
	nonFirst := Packet{Src: src6, Dst: dst6, Proto: ProtoDestOpts, FragOffset: 9, ExtHeaders: 1, FragID: 1, Len: 49}
	if nonFirst.Malformed() {
		t.Error("a non-first fragment whose Next Header is Destination Options is malformed")
	}
}
