package balancer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Frame layout constants.
const (
	EthLen        = 14     // Ethernet header without VLAN tags
	IPv4Len       = 20     // IPv4 header without options
	IPv6Len       = 40     // IPv6 fixed header
	TCPLen        = 20     // TCP header without options
	UDPLen        = 8      // UDP header
	EtherTypeIP   = 0x0800 // IPv4
	EtherTypeIPv6 = 0x86DD // IPv6
)

// Errors returned (wrapped in a *DecodeError) by [Decode]. Each names one
// way a frame is invalid; docs/services-and-ipv6.md lists which field
// each is reported on and in which order Decode checks them.
var (
	ErrTruncated   = errors.New("truncated")
	ErrNotIP       = errors.New("not ipv4 or ipv6")
	ErrNotIPv4     = errors.New("not ipv4")
	ErrBadIHL      = errors.New("ihl below 5")
	ErrBadLength   = errors.New("total length inconsistent")
	ErrFragOverrun = errors.New("fragment ends past 65535 bytes")
	ErrEmptyFrag   = errors.New("zero-length fragment")

	ErrNotIPv6         = errors.New("not ipv6")
	ErrPayloadLength   = errors.New("payload length beyond the frame")
	ErrJumbogram       = errors.New("jumbogram (payload length 0, hop-by-hop options)")
	ErrHopByHop        = errors.New("hop-by-hop options not first")
	ErrExtChain        = errors.New("more than MaxExtHeaders extension headers")
	ErrNestedFragment  = errors.New("second fragment header")
	ErrIncompleteChain = errors.New("first fragment without the whole header chain")
)

// DecodeError says which part of a frame is malformed and why.
type DecodeError struct {
	Field string // "ethernet", "ipv4.ihl", "ipv6.ext", "tcp", ...
	Err   error  // one of the Err* values of this package
	Len   int    // length of the frame handed to Decode
}

// Error returns "decode N-byte frame: field: reason".
func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %d-byte frame: %s: %v", e.Len, e.Field, e.Err)
}

// Unwrap returns the reason, one of the Err* values of this package.
func (e *DecodeError) Unwrap() error { return e.Err }

// Decode parses an Ethernet/IPv4 or Ethernet/IPv6 frame into its header
// view. It never reads past frame and names the malformed field in a
// *[DecodeError]: a short Ethernet header or an EtherType neither IPv4 nor
// IPv6 ("ethernet.type": [ErrNotIP]); for IPv4 a short header, a version
// other than 4, IHL < 5, a total length beyond the frame or below the
// header, a fragment that would end past 65535 bytes, an empty fragment, or
// a first fragment or whole packet too short for its TCP or UDP header. For
// IPv6 it walks the extension headers as [MaxExtHeaders] documents and
// refuses what that lists. Bytes beyond the IP packet's length (Ethernet
// padding) are ignored.
func Decode(frame []byte) (Packet, error) {
	if len(frame) < EthLen {
		return Packet{}, &DecodeError{Field: "ethernet", Err: ErrTruncated, Len: len(frame)}
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case EtherTypeIP:
		return decode4(frame)
	case EtherTypeIPv6:
		return decode6(frame)
	}
	return Packet{}, &DecodeError{Field: "ethernet.type", Err: ErrNotIP, Len: len(frame)}
}

// decode4 decodes an Ethernet/IPv4 frame (EtherType checked).
func decode4(frame []byte) (Packet, error) {
	var p Packet
	fail := func(field string, err error) (Packet, error) {
		return Packet{}, &DecodeError{Field: field, Err: err, Len: len(frame)}
	}
	ip := frame[EthLen:]
	if len(ip) < IPv4Len {
		return fail("ipv4", ErrTruncated)
	}
	if ip[0]>>4 != 4 {
		return fail("ipv4.version", ErrNotIPv4)
	}
	ihl := ip[0] & 0x0f
	if ihl < 5 {
		return fail("ipv4.ihl", ErrBadIHL)
	}
	hl := int(ihl) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total > len(ip) || total < hl {
		return fail("ipv4.total_length", ErrBadLength)
	}
	frag := binary.BigEndian.Uint16(ip[6:8])
	p.IHL = ihl
	p.Len = uint16(total)
	p.IPID = binary.BigEndian.Uint16(ip[4:6])
	p.MoreFragments = frag&0x2000 != 0
	p.FragOffset = frag & 0x1fff
	p.Proto = ip[9]
	p.Src = netip.AddrFrom4([4]byte(ip[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
	data := total - hl
	if p.IsFragment() {
		if data == 0 {
			return fail("ipv4.fragment", ErrEmptyFrag)
		}
		if int(p.FragOffset)*8+data > 65535 {
			return fail("ipv4.fragment_offset", ErrFragOverrun)
		}
	}
	if p.FragOffset != 0 {
		return p, nil
	}
	if field := readL4(&p, ip[hl:total]); field != "" {
		return fail(field, ErrTruncated)
	}
	return p, nil
}

// readL4 reads p's ports (and TCP flags) from l4, the bytes after the IP
// header chain, for TCP and UDP. It returns the field that is truncated
// ("tcp" or "udp"), or "".
func readL4(p *Packet, l4 []byte) string {
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < TCPLen {
			return "tcp"
		}
		p.TCPFlags = l4[13]
	case ProtoUDP:
		if len(l4) < UDPLen {
			return "udp"
		}
	default:
		return ""
	}
	p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
	p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	return ""
}

// l4HeaderLen is the L4 header Encode writes for p: TCP or UDP when p is not
// a non-first fragment, else nothing.
func l4HeaderLen(p *Packet) int {
	if p.FragOffset != 0 {
		return 0
	}
	switch p.Proto {
	case ProtoTCP:
		return TCPLen
	case ProtoUDP:
		return UDPLen
	}
	return 0
}

// EncodedLen returns the length of the frame [Encode] builds for p with
// payload bytes after its headers.
func EncodedLen(p Packet, payload int) int {
	if payload < 0 {
		payload = 0
	}
	if is6(&p) {
		return EthLen + IPv6Len + extLen(&p) + l4HeaderLen(&p) + payload
	}
	return EthLen + IPv4Len + l4HeaderLen(&p) + payload
}

// Encode builds a valid Ethernet frame for p, IPv6 when p.Dst is an IPv6
// address (or p.Dst is unset and p.Src is), else IPv4, then a TCP header
// (with p.TCPFlags) or UDP header unless p is a non-first fragment, then
// payload bytes of a fixed pattern. Source and destination MACs are fixed,
// locally administered addresses. An address not of the frame's family is
// written as the unspecified address. p.Len is ignored: lengths are
// computed. A packet that [Packet.Malformed] refuses has no frame: Encode
// returns nil.
//
// IPv4: a header without options (p.IHL is ignored), its checksum set.
// IPv6: hop limit 64, then p.ExtHeaders extension headers: a Fragment
// header last (offset, M, p.FragID) when p is a fragment or p.FragID is
// not 0 (an atomic fragment), the others Destination Options headers of 8
// bytes (PadN), so that Decode(Encode(p)) == p for a valid p.
//
// The TCP or UDP checksum is set for an unfragmented packet (a fragment's
// L4 checksum covers bytes it does not carry: UDP fragments carry 0).
func Encode(p Packet, payload int) []byte {
	if p.Malformed() {
		return nil
	}
	buf := make([]byte, EncodedLen(p, payload))
	return buf[:EncodeTo(buf, p, payload)]
}

// EncodeTo is [Encode] into buf, which must hold at least
// [EncodedLen](p, payload) bytes; it returns the frame's length, or 0 when
// buf is too short, the packet would exceed 65535 bytes (IPv6: a payload
// length above 65535) or p is [Packet.Malformed]. It does not allocate.
func EncodeTo(buf []byte, p Packet, payload int) int {
	if payload < 0 {
		payload = 0
	}
	n := EncodedLen(p, payload)
	if len(buf) < n || p.Malformed() {
		return 0
	}
	if is6(&p) {
		return encode6(buf[:n], &p)
	}
	if n-EthLen > 65535 {
		return 0
	}
	b := buf[:n]
	writeEthernet(b, EtherTypeIP)
	ip := b[EthLen:]
	total := n - EthLen
	ip[0] = 0x45
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:4], uint16(total))
	binary.BigEndian.PutUint16(ip[4:6], p.IPID)
	frag := p.FragOffset
	if p.MoreFragments {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(ip[6:8], frag)
	ip[8] = 64
	ip[9] = p.Proto
	ip[10], ip[11] = 0, 0
	s, d := v4(p.Src), v4(p.Dst)
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], Checksum(ip[:IPv4Len], 0))
	writeL4(ip[IPv4Len:total], &p, pseudo(s, d, p.Proto, total-IPv4Len))
	return n
}

// writeEthernet writes the fixed MACs and the EtherType.
func writeEthernet(b []byte, etherType uint16) {
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 0x02})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 0x01})
	binary.BigEndian.PutUint16(b[12:14], etherType)
}

// writeL4 writes the TCP or UDP header that [l4HeaderLen] says p carries
// and the payload pattern into l4, the bytes after the IP header chain.
// The checksum, whose pseudo-header sums to pseudoSum, is set unless p is
// a fragment.
func writeL4(l4 []byte, p *Packet, pseudoSum uint32) {
	hl := l4HeaderLen(p)
	for i := hl; i < len(l4); i++ {
		l4[i] = byte(i)
	}
	switch {
	case hl == TCPLen:
		clear(l4[:TCPLen])
		binary.BigEndian.PutUint16(l4[0:2], p.SrcPort)
		binary.BigEndian.PutUint16(l4[2:4], p.DstPort)
		binary.BigEndian.PutUint32(l4[4:8], uint32(p.IPID)<<16|1)
		l4[12] = 5 << 4
		l4[13] = p.TCPFlags
		binary.BigEndian.PutUint16(l4[14:16], 65535)
		if !p.IsFragment() {
			binary.BigEndian.PutUint16(l4[16:18], Checksum(l4, pseudoSum))
		}
	case hl == UDPLen:
		binary.BigEndian.PutUint16(l4[0:2], p.SrcPort)
		binary.BigEndian.PutUint16(l4[2:4], p.DstPort)
		binary.BigEndian.PutUint16(l4[4:6], uint16(len(l4)))
		l4[6], l4[7] = 0, 0
		if !p.IsFragment() {
			c := Checksum(l4, pseudoSum)
			if c == 0 {
				c = 0xffff
			}
			binary.BigEndian.PutUint16(l4[6:8], c)
		}
	}
}

// pseudo returns the unfolded sum of the TCP/UDP pseudo-header.
func pseudo(s, d [4]byte, proto uint8, l4len int) uint32 {
	sum := uint32(s[0])<<8 | uint32(s[1])
	sum += uint32(s[2])<<8 | uint32(s[3])
	sum += uint32(d[0])<<8 | uint32(d[1])
	sum += uint32(d[2])<<8 | uint32(d[3])
	sum += uint32(proto)
	sum += uint32(l4len)
	return sum
}

// Checksum returns the Internet checksum (RFC 1071) of b, starting from the
// unfolded partial sum initial. A header whose checksum field is correct
// checksums to 0.
func Checksum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
