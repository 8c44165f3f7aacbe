package testutil

import (
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
)

// The addresses of the packets the builders return.
var (
	Client = netip.MustParseAddr("192.0.2.7")    // the one client of TCP, UDP and the fragments
	VIP    = netip.MustParseAddr("198.51.100.1") // every builder's destination
)

// IPv6 addresses of the malformed IPv6 packets.
var (
	client6 = netip.MustParseAddr("2001:db8::7")
	vip6    = netip.MustParseAddr("2001:db8:100::1")
)

// ClientN returns the i-th of many clients, 10.0.x.y (i < 65536).
func ClientN(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
}

// TCP returns a 60-byte TCP segment [Client]:sport -> [VIP]:443 with the
// given flags, IP ID 1.
func TCP(sport uint16, flags uint8) balancer.Packet {
	return balancer.Packet{Src: Client, Dst: VIP, Proto: balancer.ProtoTCP, SrcPort: sport, DstPort: 443, Len: 60, TCPFlags: flags, IPID: 1}
}

// UDP returns a 1000-byte UDP datagram [Client]:sport -> [VIP]:53, IP ID 7.
func UDP(sport uint16) balancer.Packet {
	return balancer.Packet{Src: Client, Dst: VIP, Proto: balancer.ProtoUDP, SrcPort: sport, DstPort: 53, Len: 1000, IPID: 7}
}

// FirstFrag returns the 1500-byte first fragment of the [UDP] datagram
// from sport (IP ID 7).
func FirstFrag(sport uint16) balancer.Packet {
	p := UDP(sport)
	p.MoreFragments, p.Len = true, 1500
	return p
}

// NonFirstFrag returns the 600-byte last fragment (offset 185) of a [UDP]
// datagram with IP ID 7: no ports, as on the wire.
func NonFirstFrag() balancer.Packet {
	p := UDP(0)
	p.SrcPort, p.DstPort, p.FragOffset, p.Len = 0, 0, 185, 600
	return p
}

// Whole returns a 100-byte unfragmented packet src:sport -> [VIP]:443.
func Whole(src netip.Addr, proto uint8, sport uint16) balancer.Packet {
	return balancer.Packet{Src: src, Dst: VIP, Proto: proto, SrcPort: sport, DstPort: 443, Len: 100}
}

// Fragments returns the first, a middle and the last fragment of datagram
// id of the flow [Whole] describes: 1500, 1500 and 500 bytes at offsets 0,
// 185 and 370.
func Fragments(src netip.Addr, proto uint8, sport, id uint16) (first, mid, last balancer.Packet) {
	first = balancer.Packet{Src: src, Dst: VIP, Proto: proto, SrcPort: sport, DstPort: 443, IPID: id, MoreFragments: true, Len: 1500}
	mid = balancer.Packet{Src: src, Dst: VIP, Proto: proto, IPID: id, FragOffset: 185, MoreFragments: true, Len: 1500}
	last = balancer.Packet{Src: src, Dst: VIP, Proto: proto, IPID: id, FragOffset: 370, Len: 500}
	return first, mid, last
}

// Named is a packet with a name for a subtest.
type Named struct {
	Name string
	P    balancer.Packet
}

// mk returns the [UDP] datagram from port 5000 changed by f.
func mk(f func(p *balancer.Packet)) balancer.Packet {
	p := UDP(5000)
	f(&p)
	return p
}

// Malformed returns packets a Go caller can build but no wire frame can
// carry, or that describe no IPv4 datagram (see
// [balancer.Packet.Malformed]): every balancer must drop each with
// [balancer.ReasonMalformed]. Apart from the bad field each is a valid
// [UDP] datagram or fragment.
func Malformed() []Named {
	return []Named{
		{"fragment offset 8192", mk(func(p *balancer.Packet) { p.FragOffset, p.SrcPort, p.DstPort, p.Len = 8192, 0, 0, 28 })},
		{"fragment offset 65535", mk(func(p *balancer.Packet) { p.FragOffset, p.MoreFragments, p.Len = 65535, true, 0 })},
		{"first fragment, offset above 13 bits", mk(func(p *balancer.Packet) { p.FragOffset, p.MoreFragments = 0x2000, true })},
		{"IHL 4", mk(func(p *balancer.Packet) { p.IHL = 4 })},
		{"IHL 1", mk(func(p *balancer.Packet) { p.IHL = 1 })},
		{"IHL 16", mk(func(p *balancer.Packet) { p.IHL = 16 })},
		{"IHL 255", mk(func(p *balancer.Packet) { p.IHL = 255 })},
		{"total length 19", mk(func(p *balancer.Packet) { p.Len = 19 })},
		{"total length 1", mk(func(p *balancer.Packet) { p.Len = 1 })},
		{"total length 23, IHL 6", mk(func(p *balancer.Packet) { p.Len, p.IHL = 23, 6 })},
		{"empty fragment", mk(func(p *balancer.Packet) { p.FragOffset, p.SrcPort, p.DstPort, p.Len = 185, 0, 0, 20 })},
		{"fragment past 65535 bytes", mk(func(p *balancer.Packet) { p.FragOffset, p.SrcPort, p.DstPort, p.Len = 8191, 0, 0, 1500 })},
		{"IPv6, IHL 5", mk(func(p *balancer.Packet) { p.Src, p.Dst, p.IPID, p.IHL = client6, vip6, 0, 5 })},
		{"IPv6, total length 39", mk(func(p *balancer.Packet) { p.Src, p.Dst, p.IPID, p.Len = client6, vip6, 0, 39 })},
		{"IPv6, fragment offset 8192", mk(func(p *balancer.Packet) {
			p.Src, p.Dst, p.IPID, p.FragID, p.FragOffset, p.SrcPort, p.DstPort = client6, vip6, 0, 7, 8192, 0, 0
		})},
	}
}

// Unusual returns valid packets at the edges of what
// [balancer.Packet.Malformed] refuses: no balancer may drop one as
// malformed (Katran may drop them for other reasons: a fragment, options).
func Unusual() []Named {
	return []Named{
		{"last fragment ending at byte 65535", mk(func(p *balancer.Packet) { p.FragOffset, p.SrcPort, p.DstPort, p.Len = 8191, 0, 0, 27 })},
		{"fragment offset 8191, length unset", mk(func(p *balancer.Packet) { p.FragOffset, p.SrcPort, p.DstPort, p.Len = 8191, 0, 0, 0 })},
		{"IHL 15", mk(func(p *balancer.Packet) { p.IHL, p.Len = 15, 60 })},
		{"IHL 5, total length 20", mk(func(p *balancer.Packet) { p.IHL, p.Len = 5, 20 })},
		{"length unset", mk(func(p *balancer.Packet) { p.Len = 0 })},
		{"one-byte fragment", mk(func(p *balancer.Packet) { p.FragOffset, p.SrcPort, p.DstPort, p.Len = 185, 0, 0, 21 })},
	}
}
