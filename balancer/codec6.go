package balancer

import (
	"encoding/binary"
	"net/netip"
)

// MaxExtHeaders bounds the IPv6 extension-header chain [Decode] walks: a
// packet with more extension headers before its upper-layer header is
// refused ([ErrExtChain]). The kernel program walks the chain with the same
// bound (Cilium's bpf/lib/ipv6.h has IPV6_MAX_HEADERS 4 too).
//
// Decode walks the chain from the IPv6 header's Next Header. Hop-by-Hop
// Options (0), Routing (43), Destination Options (60) and Authentication
// (51, whose length counts 4-byte units: (len+2)*4) are skipped; a Fragment
// header (44) sets FragOffset, MoreFragments and FragID. Any other Next
// Header ends the chain as the upper-layer protocol: TCP and UDP, whose
// ports it reads, and everything else (ESP, No Next Header, ICMPv6, ...)
// which carries no ports. The checks, in the order Decode makes them:
//
//  1. the frame holds 40 bytes after Ethernet ("ipv6": [ErrTruncated]),
//     version 6 ("ipv6.version": [ErrNotIPv6]);
//  2. payload length 0 with a Hop-by-Hop header next: a jumbogram (RFC
//     2675), not supported ("ipv6.payload_length": [ErrJumbogram]);
//  3. 40 + payload length within the frame ("ipv6.payload_length":
//     [ErrPayloadLength]); bytes past it are padding;
//  4. for each extension header: Hop-by-Hop only right after the IPv6
//     header (RFC 8200 §4.1; "ipv6.hop_by_hop": [ErrHopByHop]); at most
//     MaxExtHeaders of them ("ipv6.ext": [ErrExtChain]); no second
//     Fragment header ("ipv6.fragment": [ErrNestedFragment]); the header
//     inside the payload length ("ipv6.ext": [ErrTruncated]), or for a
//     header after the Fragment header of a first fragment
//     ("ipv6.fragment": [ErrIncompleteChain], RFC 7112);
//  5. after a Fragment header with a non-zero offset the walk stops: the
//     rest is payload, never parsed; Proto is that header's Next Header;
//  6. for a fragment (offset or M set; an atomic fragment, offset 0 and M
//     clear, is a whole packet, RFC 6946): some bytes after its Fragment
//     header ("ipv6.fragment": [ErrEmptyFrag]), and offset*8 plus those
//     bytes at most 65535 ("ipv6.fragment_offset": [ErrFragOverrun], as
//     Linux's ip6_frag_queue);
//  7. a TCP or UDP header whole inside the payload length: else
//     "ipv6.fragment": [ErrIncompleteChain] for a first fragment (RFC
//     7112), "tcp" or "udp": [ErrTruncated] for a whole packet.
const MaxExtHeaders = 4

// IPv6 Next Header values that [Decode] handles, and ICMPv6.
const (
	ProtoHopByHop uint8 = 0
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoESP      uint8 = 50
	ProtoAH       uint8 = 51
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59
	ProtoDestOpts uint8 = 60
)

// ExtHeaderLen is the length of each extension header [Encode] writes
// (Destination Options with PadN, Fragment), and the least any has.
const ExtHeaderLen = 8

// isExtHeader reports whether nh is a Next Header value [Decode] walks as
// an extension header.
func isExtHeader(nh uint8) bool {
	switch nh {
	case ProtoHopByHop, ProtoRouting, ProtoDestOpts, ProtoAH, ProtoFragment:
		return true
	}
	return false
}

// decode6 decodes an Ethernet/IPv6 frame (EtherType checked).
func decode6(frame []byte) (Packet, error) {
	var p Packet
	fail := func(field string, err error) (Packet, error) {
		return Packet{}, &DecodeError{Field: field, Err: err, Len: len(frame)}
	}
	ip := frame[EthLen:]
	if len(ip) < IPv6Len {
		return fail("ipv6", ErrTruncated)
	}
	if ip[0]>>4 != 6 {
		return fail("ipv6.version", ErrNotIPv6)
	}
	pl := int(binary.BigEndian.Uint16(ip[4:6]))
	nh := ip[6]
	if pl == 0 && nh == ProtoHopByHop {
		return fail("ipv6.payload_length", ErrJumbogram)
	}
	end := IPv6Len + pl
	if end > len(ip) {
		return fail("ipv6.payload_length", ErrPayloadLength)
	}
	ip = ip[:end]
	p.Src = netip.AddrFrom16([16]byte(ip[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
	p.Len = uint16(end)
	off := IPv6Len
	fragEnd := 0 // offset just past the Fragment header; 0: none
	for isExtHeader(nh) {
		if nh == ProtoHopByHop && p.ExtHeaders != 0 {
			return fail("ipv6.hop_by_hop", ErrHopByHop)
		}
		if p.ExtHeaders == MaxExtHeaders {
			return fail("ipv6.ext", ErrExtChain)
		}
		if nh == ProtoFragment && fragEnd != 0 {
			return fail("ipv6.fragment", ErrNestedFragment)
		}
		hl := ExtHeaderLen // Fragment: fixed
		if off+2 <= end && nh != ProtoFragment {
			if nh == ProtoAH {
				hl = (int(ip[off+1]) + 2) * 4
			} else {
				hl = (int(ip[off+1]) + 1) * 8
			}
		}
		if off+hl > end {
			if p.IsFirstFragment() {
				return fail("ipv6.fragment", ErrIncompleteChain)
			}
			return fail("ipv6.ext", ErrTruncated)
		}
		p.ExtHeaders++
		if nh == ProtoFragment {
			fo := binary.BigEndian.Uint16(ip[off+2 : off+4])
			p.FragOffset = fo >> 3
			p.MoreFragments = fo&1 != 0
			p.FragID = binary.BigEndian.Uint32(ip[off+4 : off+8])
			fragEnd = off + hl
		}
		nh = ip[off]
		off += hl
		if p.FragOffset != 0 {
			break
		}
	}
	p.Proto = nh
	if p.IsFragment() {
		data := end - fragEnd
		if data == 0 {
			return fail("ipv6.fragment", ErrEmptyFrag)
		}
		if int(p.FragOffset)*8+data > 65535 {
			return fail("ipv6.fragment_offset", ErrFragOverrun)
		}
	}
	if p.FragOffset != 0 {
		return p, nil
	}
	if field := readL4(&p, ip[off:]); field != "" {
		if p.IsFirstFragment() {
			return fail("ipv6.fragment", ErrIncompleteChain)
		}
		return fail(field, ErrTruncated)
	}
	return p, nil
}

// is6 reports whether [Encode] builds an IPv6 frame for p.
func is6(p *Packet) bool { return p.Dst.Is6() || !p.Dst.IsValid() && p.Src.Is6() }

// hasFragHeader reports whether [Encode] writes a Fragment header for the
// IPv6 packet p: it is a fragment, or an atomic fragment with an ID.
func hasFragHeader(p *Packet) bool { return p.IsFragment() || p.FragID != 0 }

// extLen returns the bytes of the extension headers [Encode] writes.
func extLen(p *Packet) int { return int(p.ExtHeaders) * ExtHeaderLen }

// as16 returns a's 16 bytes, or zeros when a is not an IPv6 address.
func as16(a netip.Addr) [16]byte {
	if !a.Is6() {
		return [16]byte{}
	}
	return a.As16()
}

// encode6 writes the IPv6 frame of p into b, exactly [EncodedLen] bytes,
// and returns len(b), or 0 when the payload length would exceed 65535.
func encode6(b []byte, p *Packet) int {
	pl := len(b) - EthLen - IPv6Len
	if pl > 65535 {
		return 0
	}
	writeEthernet(b, EtherTypeIPv6)
	ip := b[EthLen:]
	binary.BigEndian.PutUint32(ip[0:4], 6<<28)
	binary.BigEndian.PutUint16(ip[4:6], uint16(pl))
	ip[7] = 64
	s, d := as16(p.Src), as16(p.Dst)
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	n := int(p.ExtHeaders)
	frag := hasFragHeader(p)
	next := &ip[6]
	off := IPv6Len
	for i := range n {
		h := ip[off : off+ExtHeaderLen]
		if frag && i == n-1 {
			*next = ProtoFragment
			h[1] = 0
			fo := p.FragOffset << 3
			if p.MoreFragments {
				fo |= 1
			}
			binary.BigEndian.PutUint16(h[2:4], fo)
			binary.BigEndian.PutUint32(h[4:8], p.FragID)
		} else {
			*next = ProtoDestOpts
			h[1] = 0          // 8 bytes
			h[2], h[3] = 1, 4 // PadN of 4 bytes
			h[4], h[5], h[6], h[7] = 0, 0, 0, 0
		}
		next = &h[0]
		off += ExtHeaderLen
	}
	*next = p.Proto
	l4 := ip[off:]
	writeL4(l4, p, pseudo6(&s, &d, p.Proto, len(l4)))
	return len(b)
}

// pseudo6 returns the unfolded sum of the IPv6 pseudo-header (RFC 8200
// §8.1): addresses, upper-layer length, next header.
func pseudo6(s, d *[16]byte, proto uint8, l4len int) uint32 {
	var sum uint32
	for i := 0; i < 16; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	return sum + uint32(l4len>>16) + uint32(l4len&0xffff) + uint32(proto)
}
