package balancer

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/titanlb/titanlb/internal/idmap"
)

// ServiceTable holds a balancer's services and resolves packets to them,
// so that every implementation serves [ServiceSetter.SetServices] and
// [Balancer.SetBackends] alike. It holds one [ServiceEntry] per service:
// its key, its pool and its Maglev ring ([NewRing]).
//
// It is in one of two modes, set by the last successful call:
//
//   - catch-all ([ServiceTable.SetBackends]): one service per address
//     family present in the backend set, serving every VIP, port and
//     protocol of that family. For an all-IPv4 set this is one ring of the
//     whole set, the very ring [NewRing] builds of it: a balancer that
//     resolves through the table decides as before services existed. A
//     packet of a family without backends resolves to nothing.
//   - services ([ServiceTable.SetServices]): a packet resolves to the
//     service of its exact (destination, destination port, protocol);
//     ICMP, a non-first fragment (no ports) and any key that is no
//     service resolve to nothing. [ServiceTable.Fallback] names the
//     service a packet without ports may be placed with.
//
// A refused call (an error naming the field) leaves the table as it was.
// The lookups ([ServiceTable.Lookup], [ServiceTable.LookupKey],
// [ServiceTable.Fallback], [ServiceEntry.Usable]) do not allocate; the
// setters allocate the new rings. A ServiceTable is not safe for
// concurrent use. The zero ServiceTable is empty (every lookup misses)
// and builds rings of [maglev.DefaultSize] slots.
type ServiceTable struct {
	ringSize uint64
	catchAll bool
	entries  []*ServiceEntry
	byKey    map[ServiceKey]*ServiceEntry
	lowest   map[vipProto]*ServiceEntry
	family   [2]*ServiceEntry // catch-all mode: IPv4, IPv6
	backends map[BackendID]Backend
}

// vipProto keys the lowest-port service of a VIP and protocol.
type vipProto struct {
	vip   netip.Addr
	proto uint8
}

// ServiceEntry is one service as a [ServiceTable] holds it. Its fields
// are read-only.
type ServiceEntry struct {
	// Key is the service's key. A catch-all's is the unspecified address
	// of its family (0.0.0.0 or ::) with port and protocol 0.
	Key ServiceKey
	// Index is the entry's place in [ServiceTable.Services]: the index of
	// its [Service] in the set given to SetServices, or, for catch-alls,
	// 0 for the first family present (IPv4 before IPv6) and 1 for the
	// second.
	Index int
	// CatchAll is true for the services of [ServiceTable.SetBackends].
	CatchAll bool
	// Ring is the service's Maglev ring.
	Ring *Ring
	// Backends is the service's pool, in the order given.
	Backends []Backend
	members  idmap.Map[BackendID, member] // the pool, by ID
}

// member is what a service knows of one backend of its pool.
type member struct {
	weight uint32
	up     bool
}

// NewServiceTable returns an empty table whose rings have ringSize slots
// unless a [Service] says otherwise (0: [maglev.DefaultSize]). The size is
// checked when a ring is built.
func NewServiceTable(ringSize uint64) *ServiceTable {
	return &ServiceTable{ringSize: ringSize}
}

// familyIndex returns 0 for an IPv4 address, 1 for any other.
func familyIndex(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// newEntry builds the entry of one pool.
func newEntry(k ServiceKey, index int, catchAll bool, bs []Backend, size uint64) (*ServiceEntry, error) {
	r, err := NewRing(bs, size)
	if err != nil {
		return nil, err
	}
	e := &ServiceEntry{
		Key: k, Index: index, CatchAll: catchAll, Ring: r,
		Backends: slices.Clone(bs),
	}
	for _, b := range bs {
		e.members.Set(b.ID, member{weight: b.Weight, up: b.Up})
	}
	return e, nil
}

// SetBackends makes the table catch-all: one service per family present
// in bs (validated by [ValidateBackends]) for every VIP, port and protocol
// of that family, each with a ring of the table's ring size. The error
// names the field; on error the table is unchanged.
func (t *ServiceTable) SetBackends(bs []Backend) error {
	if err := ValidateBackends(bs); err != nil {
		return err
	}
	var pools [2][]Backend
	for _, b := range bs {
		f := familyIndex(b.Addr)
		pools[f] = append(pools[f], b)
	}
	var fam [2]*ServiceEntry
	var entries []*ServiceEntry
	for f, pool := range pools {
		if len(pool) == 0 {
			continue
		}
		vip := netip.IPv4Unspecified()
		if f == 1 {
			vip = netip.IPv6Unspecified()
		}
		e, err := newEntry(ServiceKey{VIP: vip}, len(entries), true, pool, t.ringSize)
		if err != nil {
			return err
		}
		fam[f] = e
		entries = append(entries, e)
	}
	t.install(true, entries, fam)
	return nil
}

// SetServices replaces the table's content with ss, validated by
// [ValidateServices], each service with a ring of its RingSize (0: the
// table's). The error names the field; on error the table is unchanged.
func (t *ServiceTable) SetServices(ss []Service) error {
	if err := ValidateServices(ss); err != nil {
		return err
	}
	entries := make([]*ServiceEntry, len(ss))
	for i, s := range ss {
		size := s.RingSize
		if size == 0 {
			size = t.ringSize
		}
		e, err := newEntry(s.Key, i, false, s.Backends, size)
		if err != nil {
			return fmt.Errorf("services[%d].RingSize %d: %w", i, s.RingSize, err)
		}
		entries[i] = e
	}
	t.install(false, entries, [2]*ServiceEntry{})
	return nil
}

// install replaces the table's content.
func (t *ServiceTable) install(catchAll bool, entries []*ServiceEntry, fam [2]*ServiceEntry) {
	byKey := make(map[ServiceKey]*ServiceEntry, len(entries))
	lowest := make(map[vipProto]*ServiceEntry)
	backends := make(map[BackendID]Backend)
	for _, e := range entries {
		if !catchAll {
			byKey[e.Key] = e
			k := vipProto{e.Key.VIP, e.Key.Proto}
			if l, ok := lowest[k]; !ok || e.Key.Port < l.Key.Port {
				lowest[k] = e
			}
		}
		for _, b := range e.Backends {
			b.Weight = 0
			backends[b.ID] = b
		}
	}
	t.catchAll, t.entries, t.byKey, t.lowest, t.family, t.backends = catchAll, entries, byKey, lowest, fam, backends
}

// CatchAll reports whether the table holds the catch-alls of
// [ServiceTable.SetBackends] (false for an empty table and after
// SetServices).
func (t *ServiceTable) CatchAll() bool { return t.catchAll }

// Services returns the entries in [ServiceEntry.Index] order.
func (t *ServiceTable) Services() []*ServiceEntry { return slices.Clone(t.entries) }

// Len returns the number of services.
func (t *ServiceTable) Len() int { return len(t.entries) }

// Backend returns the backend id as the last setter listed it (Name,
// Addr, Up; Weight is per service and reads 0 here: see
// [ServiceEntry.Member]), and whether any service lists it.
func (t *ServiceTable) Backend(id BackendID) (Backend, bool) {
	b, ok := t.backends[id]
	return b, ok
}

// Lookup returns the service of p: in catch-all mode the catch-all of
// p.Dst's family; in services mode the service keyed by (p.Dst,
// p.DstPort, p.Proto) when p carries ports ([Packet.HasPorts]). It does
// not allocate.
func (t *ServiceTable) Lookup(p *Packet) (*ServiceEntry, bool) {
	if t.catchAll {
		return t.catchAllOf(p.Dst)
	}
	if !p.HasPorts() {
		return nil, false
	}
	e, ok := t.byKey[ServiceKey{VIP: p.Dst, Port: p.DstPort, Proto: p.Proto}]
	return e, ok
}

// LookupKey returns the service of k: in catch-all mode the catch-all of
// k.VIP's family, in services mode the service keyed k. A model that
// recovers a fragment's ports from its own state resolves with it. It
// does not allocate.
func (t *ServiceTable) LookupKey(k ServiceKey) (*ServiceEntry, bool) {
	if t.catchAll {
		return t.catchAllOf(k.VIP)
	}
	e, ok := t.byKey[k]
	return e, ok
}

// Fallback returns the service a packet to vip of protocol proto that
// carries no ports (a non-first fragment with nothing to follow) may be
// placed with: in catch-all mode the catch-all of vip's family, in
// services mode vip's service of protocol proto with the lowest port. It
// does not allocate.
func (t *ServiceTable) Fallback(vip netip.Addr, proto uint8) (*ServiceEntry, bool) {
	if t.catchAll {
		return t.catchAllOf(vip)
	}
	e, ok := t.lowest[vipProto{vip, proto}]
	return e, ok
}

func (t *ServiceTable) catchAllOf(a netip.Addr) (*ServiceEntry, bool) {
	if !a.IsValid() {
		return nil, false
	}
	e := t.family[familyIndex(a)]
	return e, e != nil
}

// Member returns id's weight in the service and whether id is in its pool
// (Up or not). It does not allocate.
func (e *ServiceEntry) Member(id BackendID) (weight uint32, ok bool) {
	m, ok := e.members.Get(id)
	return m.weight, ok
}

// Usable reports whether a flow of this service may stay on backend id:
// id is in the pool and Up (a weight of 0 keeps its flows). It does not
// allocate.
func (e *ServiceEntry) Usable(id BackendID) bool {
	m, ok := e.members.Get(id)
	return ok && m.up
}

// Pick returns the backend owning hash on the service's ring, and
// whether there is one ([Ring.Lookup]). It does not allocate.
func (e *ServiceEntry) Pick(hash uint32) (BackendID, bool) { return e.Ring.Lookup(hash) }
