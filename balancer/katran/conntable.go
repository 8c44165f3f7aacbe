package katran

import (
	"encoding/binary"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/murmur"
	"github.com/titanlb/titanlb/lru"
)

// flowKey is Katran's struct flow_key: addresses, ports, protocol, for
// either family, in five words. An IPv4 key holds [balancer.Key5]'s 16
// bytes in w[0] and w[1] and zeros above; an IPv6 key holds
// [balancer.Key5IPv6]'s 40 bytes, whose last word carries the protocol
// (TCP or UDP), so that it is never zero and no IPv6 key equals an IPv4
// one. Upstream's flow_key is one 40-byte union for both families too,
// so both share each CPU's LRU as in lru_mapping.
type flowKey struct{ w [5]uint64 }

// makeFlowKey returns the key of flow.
func makeFlowKey(flow *balancer.Packet) flowKey {
	le := binary.LittleEndian
	if flow.Dst.Is6() {
		k := balancer.Key5IPv6(flow)
		return flowKey{[5]uint64{le.Uint64(k[0:]), le.Uint64(k[8:]), le.Uint64(k[16:]), le.Uint64(k[24:]), le.Uint64(k[32:])}}
	}
	k := balancer.Key5(flow)
	return flowKey{[5]uint64{le.Uint64(k[:8]), le.Uint64(k[8:])}}
}

// hashFlowKey hashes an IPv4 key from its two words, an IPv6 one from
// its five.
func hashFlowKey(k flowKey) uint64 {
	h := murmur.Fmix64(k.w[0] ^ murmur.Fmix64(k.w[1]))
	if k.w[4] == 0 {
		return h
	}
	return murmur.Fmix64(h ^ murmur.Fmix64(k.w[2]^murmur.Fmix64(k.w[3]^murmur.Fmix64(k.w[4]))))
}

// lruReserve is the storage each per-CPU LRU reserves up front; it doubles
// toward the per-CPU bound on demand (docs/fidelity.md, Allocation).
const lruReserve = 256

type lruValue struct {
	backend balancer.BackendID
	atime   time.Duration // UDP only, as real_pos_lru.atime
}

type cpuState struct {
	lru         *lru.Map[flowKey, lruValue]
	rateStart   time.Duration // conn_rate_stats v2
	rateCount   uint64        // conn_rate_stats v1
	rateStarted bool
}
