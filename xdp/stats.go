package xdp

import (
	"fmt"
	"reflect"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
)

// Stats are the program's counters summed over CPUs. Each packet counts in
// Packets and in exactly one outcome: Forwarded, a Pass* or a Drop* field.
// The other fields count events on the way.
type Stats struct {
	Packets   uint64 // packets seen
	Forwarded uint64 // encapsulated and sent back out (XDP_TX)

	PassNotIPv4 uint64 // EtherType neither IPv4 nor IPv6 (XDP_PASS)
	PassNotVIP  uint64 // destination not a configured VIP (XDP_PASS)
	// PassNoService counts packets to no service (XDP_PASS): with
	// services, no (VIP, port, protocol) of theirs, or not TCP or UDP;
	// without, a family that has no backends.
	PassNoService uint64

	DropTruncated   uint64 // frame shorter than the Ethernet or IPv4 header
	DropBadVersion  uint64 // IPv4 EtherType with IP version != 4
	DropBadIHL      uint64 // IHL below 5
	DropBadLength   uint64 // total length beyond the frame or below the header
	DropFragOverrun uint64 // fragment offset + length beyond 65535
	DropEmptyFrag   uint64 // fragment without data
	DropL4Truncated uint64 // whole packet or first fragment too short for its TCP/UDP header

	// IPv6 frames balancer.Decode rejects, one counter per
	// balancer.DecodeError field and reason, in Decode's order.
	Drop6Truncated       uint64 // "ipv6": shorter than the 40-byte header
	Drop6Version         uint64 // "ipv6.version": IPv6 EtherType, version != 6
	Drop6Jumbogram       uint64 // "ipv6.payload_length": 0 with Hop-by-Hop next (RFC 2675)
	Drop6PayloadLength   uint64 // "ipv6.payload_length": beyond the frame
	Drop6HopByHop        uint64 // "ipv6.hop_by_hop": Hop-by-Hop not first (RFC 8200 §4.1)
	Drop6ExtChain        uint64 // "ipv6.ext": more than balancer.MaxExtHeaders extension headers
	Drop6NestedFragment  uint64 // "ipv6.fragment": a second Fragment header
	Drop6ExtTruncated    uint64 // "ipv6.ext": an extension header beyond the payload length
	Drop6IncompleteChain uint64 // "ipv6.fragment": a first fragment without its whole header chain (RFC 7112)
	Drop6EmptyFrag       uint64 // "ipv6.fragment": a fragment without data
	Drop6FragOverrun     uint64 // "ipv6.fragment_offset": offset + length beyond 65535
	Drop6L4Truncated     uint64 // "tcp", "udp": a whole packet too short for its TCP/UDP header

	DropNoBackend    uint64 // the ring slot is empty: no backend Up with weight > 0
	DropFragConflict uint64 // a second first fragment with other ports for a datagram
	DropFragment     uint64 // stateless variant: every fragment
	DropEncap        uint64 // encapsulation impossible (no headroom, outer length overflow)
	// DropUnknownOrphan counts orphans AdmitEarned refused: unknown host
	// pair, orphan credit spent.
	DropUnknownOrphan uint64

	ConnHits    uint64 // connection table hits with a usable backend
	ConnMisses  uint64 // connection table misses
	Repicks     uint64 // table hits whose backend was down or gone: re-picked
	FragHits    uint64 // fragment table hits with a usable backend
	FragMisses  uint64 // fragment table misses (expired entries count in FragExpired)
	FragExpired uint64 // fragment table entries older than FragTimeout
	// FragEvictions counts live fragment table entries of other keys
	// overwritten by an insert into a full set (frag.TableStats.Evictions).
	FragEvictions uint64
	Orphans       uint64 // non-first fragments without a usable entry
	HintHits      uint64 // orphans sent by the host-pair hint
	// ConnEvictions and HintEvictions count ways of other keys that a
	// new connection or hint entry took (lru.Stats.Evictions of titan's
	// tables).
	ConnEvictions, HintEvictions uint64

	// The operations performed, as the cost model names them: what
	// [NewBalancer] charges to [balancer.Env.Meter].
	OpHash      uint64 // murmur3 hashes: flow hashes and the fragment set index
	OpMapRead   uint64 // HASH map lookups: the VIP and service lookups
	OpMapWrite  uint64 // map update helper calls
	OpEncap     uint64 // IPIP encapsulations
	OpArrayRead uint64 // ARRAY lookups: the per-packet stats, the sets, the backends, the credit
	OpStore     uint64 // new entries stored into a connection or hint set (other stores through a looked-up value are not counted)
	OpRingRead  uint64 // ARRAY lookups of a ring slot, at the flow's hash
}

// Ops returns the Op* counters indexed by [cost.Op], as a [cost.Meter]
// counts them: the one mapping from the program's counters to the cost
// model's operations. The operations the program does not perform are 0.
func (s Stats) Ops() [cost.NumOps]uint64 {
	var o [cost.NumOps]uint64
	o[cost.OpHash], o[cost.OpMapRead], o[cost.OpMapWrite], o[cost.OpEncap] = s.OpHash, s.OpMapRead, s.OpMapWrite, s.OpEncap
	o[cost.OpArrayRead], o[cost.OpStore], o[cost.OpRingRead] = s.OpArrayRead, s.OpStore, s.OpRingRead
	return o
}

// Drops returns the sum of the Drop* counters.
func (s Stats) Drops() uint64 {
	return s.Malformed() + s.DropNoBackend + s.DropFragConflict + s.DropFragment + s.DropEncap + s.DropUnknownOrphan
}

// Malformed returns the sum of the counters of frames balancer.Decode
// rejects (but for their EtherType, which is passed): the IPv4 and IPv6
// drops before any table is read.
func (s Stats) Malformed() uint64 {
	return s.DropTruncated + s.DropBadVersion + s.DropBadIHL + s.DropBadLength +
		s.DropFragOverrun + s.DropEmptyFrag + s.DropL4Truncated +
		s.Drop6Truncated + s.Drop6Version + s.Drop6Jumbogram + s.Drop6PayloadLength +
		s.Drop6HopByHop + s.Drop6ExtChain + s.Drop6NestedFragment + s.Drop6ExtTruncated +
		s.Drop6IncompleteChain + s.Drop6EmptyFrag + s.Drop6FragOverrun + s.Drop6L4Truncated
}

// Drop reasons of [NewBalancer]'s decisions that only the kernel program
// has. The others are balancer's ([balancer.ReasonNoBackend],
// [balancer.ReasonMalformed]) and titan's
// ([titan.ReasonConflictingFirstFragment], [titan.ReasonUnknownOrphan]),
// as the Go model reports them.
const (
	ReasonFragment = "fragment" // the stateless variant drops every fragment
	ReasonEncap    = "encap"    // no headroom, or the outer length would exceed 65535
)

// dropReason names the drop that happened between before and s, or "".
func (s Stats) dropReason(before Stats) string {
	switch {
	case s.DropNoBackend != before.DropNoBackend:
		return balancer.ReasonNoBackend
	case s.DropFragConflict != before.DropFragConflict:
		return titan.ReasonConflictingFirstFragment
	case s.DropFragment != before.DropFragment:
		return ReasonFragment
	case s.DropEncap != before.DropEncap:
		return ReasonEncap
	case s.DropUnknownOrphan != before.DropUnknownOrphan:
		return titan.ReasonUnknownOrphan
	case s.Drops() != before.Drops():
		return balancer.ReasonMalformed
	}
	return ""
}

// Stats reads the per-CPU counters and sums them.
func (p *Program) Stats() (Stats, error) {
	if p.closed {
		return Stats{}, fmt.Errorf("xdp: stats: %w", ErrClosed)
	}
	if err := p.objs.Stats.Lookup(uint32(0), &p.per); err != nil {
		return Stats{}, fmt.Errorf("xdp: read stats: %w", err)
	}
	var s Stats
	sv := reflect.ValueOf(&s).Elem()
	for i := range p.per {
		cv := reflect.ValueOf(&p.per[i]).Elem()
		// titanCounters starts with a structs.HostLayout marker field.
		for f := 0; f < sv.NumField(); f++ {
			sv.Field(f).SetUint(sv.Field(f).Uint() + cv.Field(f+1).Uint())
		}
	}
	return s, nil
}
