package cilium

import (
	"github.com/titanlb/titanlb/balancer"
)

// Drop reasons counted by the model (see [Stats]).
const (
	// ReasonFragNotFound is Cilium's DROP_FRAG_NOT_FOUND, returned by
	// ipv4_frag_get_l4ports when a non-first fragment finds no entry.
	ReasonFragNotFound = "first logical datagram fragment not found"
	// ReasonNoBackend stands for DROP_NO_SERVICE: no backend to select.
	ReasonNoBackend = balancer.ReasonNoBackend
	// ReasonNATNoMapping is DROP_NAT_NO_MAPPING: no free SNAT port after
	// SNATCollisionRetries attempts.
	ReasonNATNoMapping = "no mapping for nat masquerade"
	// ReasonInvalidExtHdr is DROP_INVALID_EXTHDR, returned by
	// ipv6_hdrlen_offset for an IPv6 chain of IPV6_MAX_HEADERS (4) or
	// more extension headers, or one that ends in No Next Header.
	ReasonInvalidExtHdr = "invalid IPv6 extension header"
)

// Stats counts what the model did.
type Stats struct {
	Packets, Forwarded, Passed uint64
	DropMalformed              uint64 // nil, addresses of two families or unset, or [balancer.Packet.Malformed]
	DropFragNotFound           uint64 // non-first fragment without a fragment-map entry (either family)
	DropNoBackend              uint64 // no backend to select (DROP_NO_SERVICE)
	DropNATNoMapping           uint64 // no free SNAT port
	DropInvalidExtHdr          uint64 // IPv6 chain too long or ending in No Next Header
	FragWrites, FragHits       uint64 // fragment-map updates and successful lookups
	CTServiceNew, CTServiceHit uint64 // CT_SERVICE lookups that missed / hit
	Reselected                 uint64 // tracked flows moved off a backend that is gone
	NATNew                     uint64 // SNAT mappings created
	Evictions                  uint64 // entries pushed out of full LRUs (all maps)
}

// Stats returns the counters so far.
func (b *Balancer) Stats() Stats {
	s := b.stats
	s.Evictions = b.v4.evictions() + b.v6.evictions()
	return s
}

// FragMapLen returns the number of entries in the fragment maps (IPv4
// and IPv6 together).
func (b *Balancer) FragMapLen() int { return b.v4.frag.Len() + b.v6.frag.Len() }

// CTMapLen returns the number of entries in the conntrack maps (TCP and
// other protocols, both families) together: the memory a flood of new
// flows fills.
func (b *Balancer) CTMapLen() int {
	return b.v4.ctTCP.Len() + b.v4.ctAny.Len() + b.v6.ctTCP.Len() + b.v6.ctAny.Len()
}
