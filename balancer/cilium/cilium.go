package cilium

import (
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/idmap"
)

// Balancer is the Cilium model: the services (each with its Maglev
// table), the backends map, and the global fragment, conntrack, NAT and
// neighbour maps of each address family. It is not safe for concurrent
// use.
type Balancer struct {
	cfg     Config // with every default filled in
	vips    map[netip.Addr]struct{}
	table   *balancer.ServiceTable                      // cilium_lb{4,6}_services_v2 and the Maglev tables
	set     bool                                        // a setter succeeded once
	backend idmap.Map[balancer.BackendID, backendEntry] // cilium_lb{4,6}_backends_v3
	v4      *family[tupleKey, fragKey, addr32]
	v6      *family[tuple6Key, frag6Key, addr128]
	rnd     uint32 // get_prandom_u32, deterministic
	stats   Stats
}

var (
	_ balancer.Balancer      = (*Balancer)(nil)
	_ balancer.ServiceSetter = (*Balancer)(nil)
)

// New returns a Cilium model for cfg, or an error naming the bad field.
// Call [Balancer.SetBackends] or [Balancer.SetServices] before Process.
func New(cfg Config) (*Balancer, error) {
	c, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	b := &Balancer{cfg: c, table: balancer.NewServiceTable(c.MaglevTableSize)}
	for _, v := range c.VIPs {
		if b.vips == nil {
			b.vips = make(map[netip.Addr]struct{}, len(c.VIPs))
		}
		b.vips[v] = struct{}{}
	}
	if b.v4, err = newFamily4(c); err != nil {
		return nil, err
	}
	if b.v6, err = newFamily6(c); err != nil {
		return nil, err
	}
	b.rnd = c.Seed | 1
	return b, nil
}

// errField wraps err with the configuration field it is about.
func errField(field string, v int, err error) error {
	return fmt.Errorf("cilium: config.%s %d: %w", field, v, err)
}

// Name returns "cilium".
func (b *Balancer) Name() string { return "cilium" }

// SetBackends replaces the services with one catch-all per address family
// present in bs ([balancer.ServiceTable.SetBackends]): every destination
// of that family (or every one of [Config.VIPs]) is a frontend served by
// one Maglev table of bs's backends of that family (Up, weight > 0). As
// the agent does, a backend that is down (Up=false) or absent is deleted
// from the backends map, so a flow tracked to it is re-balanced on its
// next packet; a backend of weight 0 stays in the map in maintenance
// state: it keeps its tracked flows (except a TCP SYN, which is
// re-balanced) and gets no new ones. The error names the bad field; on
// error the previous set stays.
func (b *Balancer) SetBackends(bs []balancer.Backend) error {
	if err := b.table.SetBackends(bs); err != nil {
		return fmt.Errorf("cilium: %w", err)
	}
	b.install()
	return nil
}

// SetServices replaces the services with ss: each is a frontend
// (address, port, protocol) of cilium_lb{4,6}_services_v2 with its own
// Maglev table of its RingSize (0: [Config.MaglevTableSize]). A packet
// whose (destination, destination port, protocol) is no service is
// passed to the stack. The backends map holds every backend that is Up
// in the services; a tracked flow keeps its backend while the backend is
// in that map (even if its own service dropped it, as lb4_local checks
// only the map) and is in active state, weight 0 in the flow's service
// being maintenance. The error names the field
// ([balancer.ValidateServices]); on error the previous set stays.
func (b *Balancer) SetServices(ss []balancer.Service) error {
	if err := b.table.SetServices(ss); err != nil {
		return fmt.Errorf("cilium: %w", err)
	}
	b.install()
	return nil
}

// install fills the backends map from the table: every Up backend of
// any service.
func (b *Balancer) install() {
	var m idmap.Map[balancer.BackendID, backendEntry]
	for _, e := range b.table.Services() {
		for _, be := range e.Backends {
			if be.Up {
				m.Set(be.ID, backendEntry{addr: be.Addr, weight: be.Weight})
			}
		}
	}
	b.backend, b.set = m, true
}

// backendEntry is what the model reads of a backends-map entry (struct
// lb{4,6}_backend): the address and the weight (0: maintenance).
type backendEntry struct {
	addr   netip.Addr
	weight uint32
}

// lookupService is lb{4,6}_lookup_service's first lookup, of (addr,
// port, proto): the service and whether there is one. Before the first
// setter every IPv4 destination is a frontend without backends (count 0).
func (b *Balancer) lookupService(addr netip.Addr, port uint16, proto uint8) (*balancer.ServiceEntry, bool) {
	if b.set && !b.table.CatchAll() {
		return b.table.LookupKey(balancer.ServiceKey{VIP: addr, Port: port, Proto: proto})
	}
	if b.vips != nil {
		if _, ok := b.vips[addr]; !ok {
			return nil, false
		}
	}
	e, ok := b.table.LookupKey(balancer.ServiceKey{VIP: addr})
	return e, ok || !b.set && addr.Is4()
}

// active reports whether backend id, present in the backends map as be,
// is in active state for service e: weight 0 in e is maintenance; a
// backend e does not list is active (its state is the map's). A
// catch-all's weight is the map's own.
func active(e *balancer.ServiceEntry, id balancer.BackendID, be backendEntry) bool {
	if e == nil || e.CatchAll {
		return be.weight > 0
	}
	w, member := e.Member(id)
	return !member || w > 0
}

func drop(reason string) balancer.Decision {
	return balancer.Decision{Action: balancer.Drop, Reason: reason}
}
