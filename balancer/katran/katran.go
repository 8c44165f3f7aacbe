package katran

import (
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/lru"
)

// Balancer is the Katran model: its VIPs (each with a Maglev ring), a
// connection table per forwarding core and the fallback table, Katran's
// reals array. It is not safe for concurrent use.
type Balancer struct {
	cfg      Config // New's, every default filled in
	perCPU   int    // each core's LRU capacity
	vips     map[netip.Addr]struct{}
	table    *balancer.ServiceTable             // the services (or catch-alls) and their rings
	set      bool                               // a setter succeeded once
	svcOpts  map[balancer.ServiceKey]VIPOptions // Config.ServiceOptions
	opts     []VIPOptions                       // by ServiceEntry.Index (services mode)
	allPorts map[vipProto]*balancer.ServiceEntry
	reals    map[balancer.BackendID]balancer.Backend
	cpus     []cpuState // one per forwarding core; index = CPU
	fallback cpuState
	stats    Stats
}

// vipProto is an address and protocol: the key of a port-0 VIP.
type vipProto struct {
	addr  netip.Addr
	proto uint8
}

var (
	_ balancer.Balancer      = (*Balancer)(nil)
	_ balancer.ServiceSetter = (*Balancer)(nil)
)

// New returns a Katran model for cfg, or an error naming the bad field.
// Call [Balancer.SetBackends] or [Balancer.SetServices] before Process.
func New(cfg Config) (*Balancer, error) {
	c, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	b := &Balancer{cfg: c, perCPU: c.LRUSize / c.CPUs, table: balancer.NewServiceTable(c.RingSize)}
	b.svcOpts = make(map[balancer.ServiceKey]VIPOptions, len(c.ServiceOptions))
	for _, o := range c.ServiceOptions {
		b.svcOpts[o.Key] = o.VIPOptions
	}
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

// SetBackends replaces the VIPs with one catch-all per address family
// present in bs ([balancer.ServiceTable.SetBackends]): every destination
// of that family (or, with [Config.VIPs], every configured VIP of it) is
// served from one Maglev ring of bs's backends of that family (Up, weight
// > 0), IPIP-encapsulated toward IPv4 backends and IPv6-in-IPv6 toward
// IPv6 ones. Connection-table entries are kept, as Katran keeps them: a
// flow whose entry points at a backend that went down or was removed keeps
// going there until its entry is evicted (or, for UDP, is older than
// [LRUUDPTimeout]); Katran's reals array is not cleared, and its UDP
// flow-migration feature (F_UDP_FLOW_MIGRATION) is off by default. The
// error names the bad field; on error the previous set stays.
func (b *Balancer) SetBackends(bs []balancer.Backend) error {
	if err := b.table.SetBackends(bs); err != nil {
		return fmt.Errorf("katran: %w", err)
	}
	b.install(nil, nil)
	return nil
}

// SetServices replaces the VIPs with ss: each service is a Katran VIP
// (address, port, protocol) in vip_map with its own Maglev ring of its
// RingSize (0: [Config.RingSize]) and the [VIPOptions] that
// [Config.ServiceOptions] gives its key. A packet whose (destination,
// destination port, protocol) is no VIP, nor the port-0 VIP of its
// address and protocol, is passed to the stack, as process_packet passes
// it. Connection-table entries are kept, as by [Balancer.SetBackends].
// The error names the field ([balancer.ValidateServices], [ErrAllPorts]);
// on error the previous set stays.
func (b *Balancer) SetServices(ss []balancer.Service) error {
	first := make(map[vipProto]int)
	for i, s := range ss {
		if !b.svcOpts[s.Key].AllPorts {
			continue
		}
		k := vipProto{s.Key.VIP, s.Key.Proto}
		if j, ok := first[k]; ok {
			return fmt.Errorf("katran: services[%d].Key %v: %w (services[%d])", i, s.Key, ErrAllPorts, j)
		}
		first[k] = i
	}
	if err := b.table.SetServices(ss); err != nil {
		return fmt.Errorf("katran: %w", err)
	}
	es := b.table.Services()
	opts := make([]VIPOptions, len(es))
	allPorts := make(map[vipProto]*balancer.ServiceEntry, len(first))
	for _, e := range es {
		o := b.svcOpts[e.Key]
		opts[e.Index] = o
		if o.AllPorts {
			allPorts[vipProto{e.Key.VIP, e.Key.Proto}] = e
		}
	}
	b.install(opts, allPorts)
	return nil
}

// install records a successful setter's options and adds the table's
// backends to the reals array, which keeps what it held.
func (b *Balancer) install(opts []VIPOptions, allPorts map[vipProto]*balancer.ServiceEntry) {
	reals := make(map[balancer.BackendID]balancer.Backend, len(b.reals))
	for id, be := range b.reals {
		reals[id] = be
	}
	for _, e := range b.table.Services() {
		for _, be := range e.Backends {
			reals[be.ID] = be
		}
	}
	b.opts, b.allPorts, b.reals, b.set = opts, allPorts, reals, true
}

// vipLookup is one vip_map lookup of (addr, port, proto): the VIP found
// and whether there is one. A VIP may have no service (entry nil): a
// configured catch-all VIP of a family without backends, or any IPv4
// destination before the first setter; its ring is empty and the packet
// is dropped as Katran drops a VIP without reals (ch_drop_real_0).
func (b *Balancer) vipLookup(addr netip.Addr, port uint16, proto uint8) (*balancer.ServiceEntry, bool) {
	if !b.table.CatchAll() && b.set { // services: vip_map as SetServices filled it
		if port == 0 {
			e, ok := b.allPorts[vipProto{addr, proto}]
			return e, ok
		}
		e, ok := b.table.LookupKey(balancer.ServiceKey{VIP: addr, Port: port, Proto: proto})
		if ok && b.opts[e.Index].AllPorts { // registered with port 0, not its own
			return nil, false
		}
		return e, ok
	}
	e, ok := b.table.LookupKey(balancer.ServiceKey{VIP: addr})
	if b.vips != nil { // Config.VIPs: port-0 VIPs for TCP and UDP
		_, vip := b.vips[addr]
		return e, vip && port == 0
	}
	// Every destination of a family with backends is a VIP with its own
	// port; before the first setter every IPv4 one is (with no reals).
	return e, ok || !b.set && addr.Is4()
}

// options returns the VIP options of service e (nil: none).
func (b *Balancer) options(e *balancer.ServiceEntry) VIPOptions {
	if e == nil || e.CatchAll || b.opts == nil {
		return VIPOptions{}
	}
	return b.opts[e.Index]
}
