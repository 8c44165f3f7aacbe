package balancer

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	base := testPacket()
	for _, tc := range []struct {
		name    string
		p       Packet
		payload int
	}{
		{"tcp syn", func() Packet { p := base; p.TCPFlags = TCPSyn; return p }(), 0},
		{"udp", func() Packet { p := base; p.Proto = ProtoUDP; return p }(), 1000},
		{"udp first fragment", func() Packet { p := base; p.Proto = ProtoUDP; p.MoreFragments = true; p.IPID = 7; return p }(), 1472},
		{"udp last fragment", func() Packet {
			p := base
			p.Proto, p.SrcPort, p.DstPort, p.FragOffset, p.IPID = ProtoUDP, 0, 0, 185, 7
			return p
		}(), 500},
		{"icmp", Packet{Src: base.Src, Dst: base.Dst, Proto: ProtoICMP, IPID: 3}, 56},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := Encode(tc.p, tc.payload)
			got, err := Decode(frame)
			if err != nil {
				t.Fatalf("Decode(Encode(p)): %v", err)
			}
			want := tc.p
			want.IHL = 5
			want.Len = uint16(len(frame) - EthLen)
			if got != want {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
			ip := frame[EthLen:]
			if Checksum(ip[:IPv4Len], 0) != 0 {
				t.Error("bad IPv4 header checksum")
			}
			if !tc.p.IsFragment() && (tc.p.Proto == ProtoTCP || tc.p.Proto == ProtoUDP) {
				l4 := ip[IPv4Len:]
				if c := Checksum(l4, pseudo(tc.p.Src.As4(), tc.p.Dst.As4(), tc.p.Proto, len(l4))); c != 0 {
					t.Errorf("bad L4 checksum: residue %#x", c)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good := Encode(testPacket(), 10)
	mut := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		field string
		err   error
	}{
		{"empty", nil, "ethernet", ErrTruncated},
		{"arp", mut(func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b }), "ethernet.type", ErrNotIP},
		{"short ip", good[:EthLen+10], "ipv4", ErrTruncated},
		{"ipv6 version", mut(func(b []byte) []byte { b[EthLen] = 0x65; return b }), "ipv4.version", ErrNotIPv4},
		{"ihl 4", mut(func(b []byte) []byte { b[EthLen] = 0x44; return b }), "ipv4.ihl", ErrBadIHL},
		{"total beyond buffer", mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[EthLen+2:], 2000); return b }), "ipv4.total_length", ErrBadLength},
		{"total below header", mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[EthLen+2:], 19); return b }), "ipv4.total_length", ErrBadLength},
		{"fragment past 65535", mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[EthLen+6:], 0x1fff); return b }), "ipv4.fragment_offset", ErrFragOverrun},
		{"empty fragment", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[EthLen+2:], 20)
			binary.BigEndian.PutUint16(b[EthLen+6:], 0x2000)
			return b
		}), "ipv4.fragment", ErrEmptyFrag},
		{"tiny tcp first fragment", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[EthLen+2:], 28)
			binary.BigEndian.PutUint16(b[EthLen+6:], 0x2000)
			return b
		}), "tcp", ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.frame)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if de.Field != tc.field || !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want field %q, %v", err, tc.field, tc.err)
			}
		})
	}
}

func TestEncodeToNoAlloc(t *testing.T) {
	p := testPacket()
	buf := make([]byte, 2048)
	if n := testing.AllocsPerRun(100, func() { EncodeTo(buf, p, 100) }); n != 0 {
		t.Errorf("EncodeTo allocates %v", n)
	}
	if EncodeTo(buf[:10], p, 100) != 0 {
		t.Error("EncodeTo into a short buffer did not return 0")
	}
}

func TestPacketPredicates(t *testing.T) {
	p := Packet{Proto: ProtoUDP, MoreFragments: true}
	if !p.IsFragment() || !p.IsFirstFragment() || !p.HasPorts() {
		t.Error("first fragment predicates")
	}
	p.FragOffset, p.MoreFragments = 10, false
	if !p.IsFragment() || p.IsFirstFragment() || p.HasPorts() {
		t.Error("last fragment predicates")
	}
	if (&Packet{Src: netip.MustParseAddr("::1")}).IsFragment() {
		t.Error("zero packet is a fragment")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(testPacket(), 10))
	f.Add(Encode(Packet{Proto: ProtoUDP, FragOffset: 100, IPID: 1}, 30))
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := Decode(frame)
		if err != nil || p.Dst.Is6() { // IPv6: FuzzDecode6
			return
		}
		if p.Malformed() {
			t.Fatalf("Decode returned a malformed packet %+v", p)
		}
		// A decoded packet re-encodes to a frame that decodes to the same
		// header fields (IHL and Len are recomputed).
		payload := int(p.Len) - int(p.IHL)*4 - l4HeaderLen(&p)
		q, err := Decode(Encode(p, payload))
		if err != nil {
			t.Fatalf("re-encoded packet does not decode: %v", err)
		}
		p.IHL, p.Len, q.IHL, q.Len = 0, 0, 0, 0
		if p.Proto != ProtoTCP || p.FragOffset != 0 {
			p.TCPFlags, q.TCPFlags = 0, 0
		}
		if p != q {
			t.Fatalf("re-encode changed the packet:\n%+v\n%+v", p, q)
		}
	})
}
