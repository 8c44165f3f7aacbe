package cilium

import (
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/lru"
)

// Balancer is the Cilium model: the service's Maglev table and backends
// map, and the global fragment, conntrack, NAT and neighbour maps. It is
// not safe for concurrent use.
type Balancer struct {
	cfg     Config // with every default filled in
	vips    map[netip.Addr]struct{}
	ring    *balancer.Ring
	backend map[balancer.BackendID]balancer.Backend // cilium_lb4_backends_v3
	frag    *lru.Map[fragKey, ports]
	ctTCP   *lru.Map[tupleKey, ctEntry]
	ctAny   *lru.Map[tupleKey, ctEntry]
	nat     *lru.Map[tupleKey, natEntry]
	neigh   *lru.Map[[4]byte, struct{}]
	rnd     uint32 // get_prandom_u32, deterministic
	stats   Stats
}

var _ balancer.Balancer = (*Balancer)(nil)

// New returns a Cilium model for cfg, or an error naming the bad field.
func New(cfg Config) (*Balancer, error) {
	c, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	b := &Balancer{cfg: c}
	for _, v := range c.VIPs {
		if b.vips == nil {
			b.vips = make(map[netip.Addr]struct{}, len(c.VIPs))
		}
		b.vips[v] = struct{}{}
	}
	// The fragment map is allocated whole; the others reserve a few
	// thousand entries and double toward their bound on demand.
	if b.frag, err = lru.NewFunc[fragKey, ports](c.FragMapSize, hashFrag); err != nil {
		return nil, fmt.Errorf("cilium: config.FragMapSize %d: %w", c.FragMapSize, err)
	}
	if b.ctTCP, err = lru.NewWith[tupleKey, ctEntry](c.CTMapSizeTCP, lru.Options[tupleKey]{Hash: hashTuple, Reserve: 4096}); err != nil {
		return nil, fmt.Errorf("cilium: config.CTMapSizeTCP %d: %w", c.CTMapSizeTCP, err)
	}
	if b.ctAny, err = lru.NewWith[tupleKey, ctEntry](c.CTMapSizeAny, lru.Options[tupleKey]{Hash: hashTuple, Reserve: 4096}); err != nil {
		return nil, fmt.Errorf("cilium: config.CTMapSizeAny %d: %w", c.CTMapSizeAny, err)
	}
	if b.nat, err = lru.NewWith[tupleKey, natEntry](c.NATMapSize, lru.Options[tupleKey]{Hash: hashTuple, Reserve: 4096}); err != nil {
		return nil, fmt.Errorf("cilium: config.NATMapSize %d: %w", c.NATMapSize, err)
	}
	if b.neigh, err = lru.NewWith[[4]byte, struct{}](c.NeighMapSize, lru.Options[[4]byte]{Hash: hashAddr, Reserve: 1024}); err != nil {
		return nil, fmt.Errorf("cilium: config.NeighMapSize %d: %w", c.NeighMapSize, err)
	}
	b.rnd = c.Seed | 1
	return b, nil
}

// Name returns "cilium".
func (b *Balancer) Name() string { return "cilium" }

// SetBackends replaces the service's backends and rebuilds its Maglev table
// with [balancer.NewRing] (Up backends of weight > 0). As the agent does, a
// backend that is down (Up=false) or absent is deleted from the backends map,
// so a flow tracked to it is re-balanced on its next packet; a backend of
// weight 0 stays in the map in maintenance state: it keeps its tracked flows
// (except a TCP SYN, which is re-balanced) and gets no new ones.
func (b *Balancer) SetBackends(bs []balancer.Backend) error {
	for i, be := range bs {
		if be.Addr.IsValid() && !be.Addr.Is4() { // IPv6 backends: not modelled yet
			return fmt.Errorf("cilium: backends[%d].Addr %v: %w", i, be.Addr, ErrNotIPv4)
		}
	}
	r, err := balancer.NewRing(bs, b.cfg.MaglevTableSize)
	if err != nil {
		return fmt.Errorf("cilium: %w", err)
	}
	m := make(map[balancer.BackendID]balancer.Backend, len(bs))
	for _, be := range bs {
		if be.Up {
			m[be.ID] = be
		}
	}
	b.ring, b.backend = r, m
	return nil
}

func drop(reason string) balancer.Decision {
	return balancer.Decision{Action: balancer.Drop, Reason: reason}
}
