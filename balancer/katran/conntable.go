package katran

import (
	"encoding/binary"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/murmur"
	"github.com/titanlb/titanlb/lru"
)

// flowKey is Katran's struct flow_key for IPv4: addresses, ports, protocol.
type flowKey [16]byte

func hashFlowKey(k flowKey) uint64 {
	return murmur.Fmix64(binary.LittleEndian.Uint64(k[:8]) ^ murmur.Fmix64(binary.LittleEndian.Uint64(k[8:])))
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
