package balancer

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/titanlb/titanlb/cost"
)

// BackendID identifies a backend. IDs are stable across [Balancer.SetBackends]
// calls: the same ID is the same server.
type BackendID uint32

// String returns the ID in decimal.
func (id BackendID) String() string { return strconv.FormatUint(uint64(id), 10) }

// Backend is one real server behind the virtual IP.
type Backend struct {
	ID     BackendID
	Name   string     // e.g. "101"; unique, used to seed its Maglev permutation
	Addr   netip.Addr // IPv4 or IPv6 address the balancer encapsulates toward
	Weight uint32     // share of new flows; 0 drains: keeps its flows, gets no new ones
	Up     bool       // false: health-down, gets no traffic
}

// Protocol numbers used throughout TitanLB.
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// TCP flag bits of [Packet.TCPFlags].
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPAck uint8 = 0x10
)

// Packet is the header view of an IPv4 or IPv6 packet: what a datapath can
// read. It is a small comparable value; it carries no simulator
// bookkeeping. The zero Packet is an invalid packet with unset addresses.
//
// Its family is its addresses': an IPv6 packet has IPv6 Src and Dst, IHL
// and IPID 0, and its Fragment header (if any) in FragID, FragOffset and
// MoreFragments. An IPv6 atomic fragment (a Fragment header with offset 0
// and M clear, RFC 6946) is not a fragment: IsFragment is false, FragID
// holds its Identification, ExtHeaders counts its header.
//
// A Packet built in Go can hold values no header carries, such as a
// fragment offset above 13 bits; [Packet.Malformed] reports them. Every
// balancer of this module drops such a packet with [ReasonMalformed],
// counts it and forwards nothing. [Decode] never returns one, and [Encode]
// refuses one, so the kernel program never sees it.
type Packet struct {
	Src, Dst         netip.Addr
	Proto            uint8  // 6 TCP, 17 UDP, ...; IPv6: the Next Header ending the extension chain
	SrcPort, DstPort uint16 // zero when the packet carries no L4 header (non-first fragment)
	IPID             uint16 // IPv4 identification; 0 for IPv6
	FragOffset       uint16 // in 8-byte units, as on the wire (IPv6: from the Fragment header): 0 to [MaxFragOffset]
	MoreFragments    bool
	// Len is the IPv4 total length, header included (IPv6: 40 + payload
	// length); 0 means unknown and is not checked.
	Len      uint16
	TCPFlags uint8
	// IHL is the IPv4 header length in 32-bit words, 5 to 15; 0 is read as
	// 5 (no options). Katran drops packets with options (IHL > 5). 0 for
	// IPv6.
	IHL uint8
	// FragID is the IPv6 Fragment header's 32-bit Identification; 0 for
	// IPv4 (whose identification is IPID) and for IPv6 packets without a
	// Fragment header.
	FragID uint32
	// ExtHeaders is the number of IPv6 extension headers before the
	// upper-layer header, the Fragment header included (at most
	// [MaxExtHeaders] in a packet [Decode] accepts); 0 for IPv4.
	ExtHeaders uint8
}

// MaxFragOffset is the largest [Packet.FragOffset]: the field has 13 bits
// in IPv4 and in the IPv6 Fragment header.
const MaxFragOffset = 0x1fff

// Malformed reports whether p's header fields hold what no packet of its
// family can: a FragOffset above [MaxFragOffset], and
//
//   - for IPv4 (a p that [Encode] writes as IPv4: p.Dst is not IPv6, and
//     is set or p.Src is not IPv6): an IHL other than 0 (read as 5) and 5
//     to 15; a FragID or ExtHeaders (IPv6 fields) other than 0; or, when
//     Len is set, a total length below the header (IHL*4 bytes), a
//     fragment without data or one that would end past byte 65535;
//   - for IPv6: an IHL or IPID (IPv4 fields) other than 0; more than
//     [MaxExtHeaders] extension headers; a fragment, or a FragID, without
//     an extension header to carry it; a Proto that is an extension header
//     (Hop-by-Hop, Routing, Fragment, AH, Destination Options) outside a
//     non-first fragment; or, when Len is set, a Len below the 40-byte
//     header plus 8 bytes per extension header, or a fragment without a
//     byte after its Fragment header.
//
// These are header checks of [Decode] that the header view can make; a
// valid packet is never malformed. It does not allocate.
func (p *Packet) Malformed() bool {
	if p.FragOffset > MaxFragOffset {
		return true
	}
	if is6(p) {
		return p.IHL != 0 || p.IPID != 0 || p.ExtHeaders > MaxExtHeaders ||
			(p.IsFragment() || p.FragID != 0) && p.ExtHeaders == 0 ||
			p.FragOffset == 0 && isExtHeader(p.Proto) ||
			p.Len != 0 && (int(p.Len) < IPv6Len+ExtHeaderLen*int(p.ExtHeaders) ||
				p.IsFragment() && int(p.Len) <= IPv6Len+ExtHeaderLen)
	}
	if p.FragID != 0 || p.ExtHeaders != 0 {
		return true
	}
	ihl := p.IHL
	if ihl == 0 {
		ihl = 5
	}
	if ihl < 5 || ihl > 15 {
		return true
	}
	if p.Len == 0 {
		return false
	}
	data := int(p.Len) - int(ihl)*4
	return data < 0 || p.IsFragment() && (data == 0 || int(p.FragOffset)*8+data > 65535)
}

// IsFragment reports whether p is part of a fragmented datagram (MF set
// or a non-zero offset). An IPv6 atomic fragment is not.
func (p *Packet) IsFragment() bool { return p.MoreFragments || p.FragOffset != 0 }

// IsFirstFragment reports whether p is the first fragment of a fragmented
// datagram (offset 0, more fragments follow).
func (p *Packet) IsFirstFragment() bool { return p.MoreFragments && p.FragOffset == 0 }

// HasPorts reports whether p carries an L4 header with ports: TCP or UDP and
// not a non-first fragment.
func (p *Packet) HasPorts() bool {
	return p.FragOffset == 0 && (p.Proto == ProtoTCP || p.Proto == ProtoUDP)
}

// Action is what a balancer does with a packet.
type Action uint8

// The actions.
const (
	Drop    Action = iota // discard (XDP_DROP)
	Pass                  // hand to the local stack (XDP_PASS): not for a VIP
	Forward               // encapsulate toward Decision.Backend (XDP_TX)
)

// String returns "drop", "pass" or "forward".
func (a Action) String() string {
	switch a {
	case Drop:
		return "drop"
	case Pass:
		return "pass"
	case Forward:
		return "forward"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Decision is a balancer's verdict on one packet. Reason is set for drops
// (a short constant string, so that counting by reason does not allocate).
type Decision struct {
	Action  Action
	Backend BackendID
	Reason  string
}

// Env is what the datapath knows besides the packet: the time, the CPU that
// runs the program, and the meter that prices its operations (nil: not
// metered).
type Env struct {
	Now   time.Duration
	CPU   int
	Meter *cost.Meter
}

// Balancer is a load balancer's datapath. Implementations are not safe for
// concurrent use; a simulation drives one from a single goroutine.
type Balancer interface {
	// Name is a short lower-case name ("titan", "katran", "cilium").
	Name() string
	// SetBackends replaces the backend set with bs, the full desired set.
	// Up=false is a health-down. It returns an error naming the bad field.
	SetBackends(bs []Backend) error
	// Process decides what to do with p, charging env.Meter for every
	// operation. It must not allocate or panic, whatever p holds; a nil p
	// or a [Packet.Malformed] one is dropped with [ReasonMalformed].
	Process(env *Env, p *Packet) Decision
}

// Drop reasons shared by implementations. Implementations may add their own.
const (
	ReasonNoBackend = "no backend" // no usable backend to pick
	ReasonMalformed = "malformed"  // nil, [Packet.Malformed], or (Katran, Cilium) addresses not IPv4
)
