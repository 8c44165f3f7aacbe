package katran

import (
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/lru"
)

// Balancer is the Katran model: one Maglev ring, a connection table per
// forwarding core and the fallback table, Katran's reals array. It is not
// safe for concurrent use.
type Balancer struct {
	cfg      Config // New's, every default filled in
	perCPU   int    // each core's LRU capacity
	vips     map[netip.Addr]struct{}
	ring     *balancer.Ring
	reals    map[balancer.BackendID]balancer.Backend
	cpus     []cpuState // one per forwarding core; index = CPU
	fallback cpuState
	stats    Stats
}

var _ balancer.Balancer = (*Balancer)(nil)

// New returns a Katran model for cfg, or an error naming the bad field.
// Call [Balancer.SetBackends] before Process.
func New(cfg Config) (*Balancer, error) {
	c, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	b := &Balancer{cfg: c, perCPU: c.LRUSize / c.CPUs}
	if len(c.VIPs) > 0 {
		b.vips = make(map[netip.Addr]struct{}, len(c.VIPs))
		for _, v := range c.VIPs {
			b.vips[v] = struct{}{}
		}
	}
	b.cpus = make([]cpuState, c.CPUs)
	opts := lru.Options[flowKey]{Hash: hashFlowKey, Reserve: lruReserve}
	for i := range b.cpus {
		l, err := lru.NewWith[flowKey, lruValue](b.perCPU, opts)
		if err != nil { // not reached: perCPU is within 1..frag.MaxCapacity
			return nil, fmt.Errorf("katran: config.LRUSize %d: %w", cfg.LRUSize, err)
		}
		b.cpus[i].lru = l
	}
	l, err := lru.NewFunc[flowKey, lruValue](FallbackLRUSize, hashFlowKey)
	if err != nil {
		return nil, fmt.Errorf("katran: fallback LRU: %w", err)
	}
	b.fallback.lru = l
	return b, nil
}

// Name returns "katran".
func (b *Balancer) Name() string { return "katran" }

// PerCPULRUSize returns the capacity of each forwarding core's LRU.
func (b *Balancer) PerCPULRUSize() int { return b.perCPU }

// LRULen returns the connection-table entries held by every per-CPU LRU
// and the fallback LRU together: the memory a flood fills.
func (b *Balancer) LRULen() int {
	n := b.fallback.lru.Len()
	for i := range b.cpus {
		n += b.cpus[i].lru.Len()
	}
	return n
}

// SetBackends replaces the backend set and rebuilds the Maglev ring with
// [balancer.NewRing] (Up backends of weight > 0). Connection-table entries are kept,
// as Katran keeps them: a flow whose entry points at a backend that went down
// or was removed keeps going there until its entry is evicted (or, for UDP,
// is older than [LRUUDPTimeout]); Katran's reals array is not cleared, and its
// UDP flow-migration feature (F_UDP_FLOW_MIGRATION) is off by default.
func (b *Balancer) SetBackends(bs []balancer.Backend) error {
	for i, be := range bs {
		if be.Addr.IsValid() && !be.Addr.Is4() { // IPv6 backends: not modelled yet
			return fmt.Errorf("katran: backends[%d].Addr %v: %w", i, be.Addr, ErrNotIPv4)
		}
	}
	r, err := balancer.NewRing(bs, b.cfg.RingSize)
	if err != nil {
		return fmt.Errorf("katran: %w", err)
	}
	reals := make(map[balancer.BackendID]balancer.Backend, len(bs)+len(b.reals))
	for id, be := range b.reals { // the reals array keeps what it held
		reals[id] = be
	}
	for _, be := range bs {
		reals[be.ID] = be
	}
	b.ring, b.reals = r, reals
	return nil
}
