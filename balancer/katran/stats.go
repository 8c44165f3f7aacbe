package katran

import (
	"github.com/titanlb/titanlb/balancer"
)

// Drop reasons counted by the model (see [Stats]).
const (
	ReasonFragment  = "katran: ipv4 fragment"
	ReasonFragment6 = "katran: ipv6 fragment" // the IPv6 header's Next Header is a Fragment header
	ReasonIPOptions = "katran: ipv4 options"
	ReasonTooBig    = "katran: packet too big"
	ReasonNoBackend = balancer.ReasonNoBackend
)

// Stats counts what the model did. Drops are by reason.
type Stats struct {
	Packets, Forwarded, Passed uint64
	DropMalformed              uint64 // nil, addresses of two families or unset, or [balancer.Packet.Malformed]
	DropFragment               uint64 // IPv4 fragments (the default, non-naive model)
	DropFragment6              uint64 // IPv6 packets whose first Next Header is a Fragment header, atomic fragments too
	DropIPOptions              uint64 // IHL != 5
	DropTooBig                 uint64 // frame above MaxPacketSize
	DropNoBackend              uint64 // ring slot empty (ch_drop_real_0)
	LRUHits, LRUMisses         uint64 // connection_table_lookup outcomes
	TCPNonSYNMisses            uint64 // LRU_MISS_CNTR v2: a non-SYN TCP packet missed its CPU's LRU
	LRUEvictions               uint64 // entries pushed out of full LRUs
	FallbackLRU                uint64 // packets on a CPU without its own LRU
	UnderFlood                 uint64 // new connections not recorded: MAX_CONN_RATE exceeded
}

// Stats returns the counters so far.
func (b *Balancer) Stats() Stats {
	s := b.stats
	for i := range b.cpus {
		s.LRUEvictions += b.cpus[i].lru.Stats().Evictions
	}
	s.LRUEvictions += b.fallback.lru.Stats().Evictions
	return s
}
