package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
)

// Layout of a catch-all's descriptor in titan.c's svc_family (SVC_DESC):
// ring offset, ring size, service index.
const (
	svcOffBits  = 27
	svcSizeBits = 24
	svcLookup   = 1 << 63 // SVC_LOOKUP: look the service up in the services map
)

// svcShared is titan.c's SVC_SHARED: the orphans' service of a VIP and
// protocol whose services share backends.
const svcShared = 1

// servicesEntries is the services map's size: a set's keys and its VIPs'
// fallback keys (port 0), for the set in use and the one being written.
const servicesEntries = 4 * MaxServices

// Backend flags of titan.c.
const (
	backendUsable = 1 // BACKEND_USABLE: up, and in a service's pool
	backendV6     = 2 // BACKEND_V6: Addr6 is its address
)

// ErrTooManyServices is wrapped by [Program.SetServices] for a set of more
// than [MaxServices].
var ErrTooManyServices = errors.New("more services than MaxServices")

// svcDesc packs a catch-all's ring offset, ring size and service index as
// titan.c's SVC_DESC.
func svcDesc(off, size, index int) uint64 {
	return uint64(off) | uint64(size)<<svcOffBits | uint64(index)<<(svcOffBits+svcSizeBits)
}

// words6 returns a's 16 bytes as the four native words titan.c reads.
func words6(a netip.Addr) [4]uint32 {
	b := a.As16()
	var w [4]uint32
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

// addr6 is the inverse of words6.
func addr6(w [4]uint32) netip.Addr {
	var b [16]byte
	for i := range w {
		binary.LittleEndian.PutUint32(b[4*i:], w[i])
	}
	return netip.AddrFrom16(b)
}

// svcKey returns titan.c's key of (vip, port, proto): an IPv4 VIP as
// ::ffff:a.b.c.d, the port in network order.
func svcKey(vip netip.Addr, port uint16, proto uint8) titanSvcKey {
	if vip.Is4() {
		vip = netip.AddrFrom16(vip.As16())
	}
	return titanSvcKey{Addr: words6(vip), Port: port>>8 | port<<8, Proto: proto}
}

// SetBackends replaces the services with one catch-all per address
// family present in bs, serving every VIP, port and protocol of that
// family, as balancer/titan's SetBackends: IPv4 backends (IPIP) for IPv4
// packets, IPv6 ones (IPv6-in-IPv6) for IPv6 packets; a packet of a family
// without backends is passed. Each family's ring is built with
// [balancer.NewRing] (the ring every Go balancer builds). IDs must be
// below [Options.MaxBackends] and addresses distinct, since a backend is
// known on the wire by its address.
func (p *Program) SetBackends(bs []balancer.Backend) error {
	if p.closed {
		return fmt.Errorf("xdp: set backends: %w", ErrClosed)
	}
	if err := p.checkBackends(bs, func(i int) string { return fmt.Sprintf("backends[%d]", i) }); err != nil {
		return err
	}
	t := balancer.NewServiceTable(p.opts.RingSize)
	if err := t.SetBackends(bs); err != nil {
		return fmt.Errorf("xdp: %w", err)
	}
	return p.install(t, nil)
}

// SetServices replaces the services with ss ([balancer.ServiceSetter]), as
// balancer/titan's SetServices: a packet with ports goes to the service of
// its (destination, port, protocol), with that service's pool and ring; a
// packet to no service is passed; orphans go to the pool a VIP's services
// of their protocol share ([titan.OrphanServices]). At most [MaxServices]
// services, counting one more for each (VIP, protocol) of several services
// that share backends, whose rings together fit [Options.MaxRingSlots];
// backend IDs below [Options.MaxBackends], addresses distinct. The error
// names the bad field; on error the previous set stays.
func (p *Program) SetServices(ss []balancer.Service) error {
	if p.closed {
		return fmt.Errorf("xdp: set services: %w", ErrClosed)
	}
	if len(ss) > MaxServices {
		return fmt.Errorf("xdp: services: %d: %w (%d)", len(ss), ErrTooManyServices, MaxServices)
	}
	var all []balancer.Backend
	var field []string
	for i, s := range ss {
		for j, b := range s.Backends {
			all = append(all, b)
			field = append(field, fmt.Sprintf("services[%d].backends[%d]", i, j))
		}
	}
	t := balancer.NewServiceTable(p.opts.RingSize)
	if err := t.SetServices(ss); err != nil {
		return fmt.Errorf("xdp: %w", err)
	}
	if err := p.checkBackends(all, func(i int) string { return field[i] }); err != nil {
		return err
	}
	orphans := balancer.NewServiceTable(p.opts.RingSize)
	os := titan.OrphanServices(ss)
	if err := orphans.SetServices(os); err != nil { // a subset of what ss passed
		return fmt.Errorf("xdp: orphan services: %w", err)
	}
	if n := len(ss) + len(os); n > MaxServices {
		return fmt.Errorf("xdp: services: %d and %d orphans' services: %w (%d)", len(ss), len(os), ErrTooManyServices, MaxServices)
	}
	return p.install(t, orphans)
}

// checkBackends checks what the kernel needs beyond balancer's
// validation: IDs below MaxBackends, one address per ID, one ID per
// address. name names the i-th backend's field.
func (p *Program) checkBackends(bs []balancer.Backend, name func(int) string) error {
	at := make(map[netip.Addr]int, len(bs))
	for i, b := range bs {
		if uint64(b.ID) >= uint64(p.opts.MaxBackends) {
			return fmt.Errorf("xdp: %s.ID %d: %w (%d)", name(i), b.ID, ErrBadBackend, p.opts.MaxBackends)
		}
		if j, ok := at[b.Addr]; ok && bs[j].ID != b.ID {
			return fmt.Errorf("xdp: %s.Addr %v: %w (%s)", name(i), b.Addr, ErrDuplicateAddr, name(j))
		}
		at[b.Addr] = i
	}
	return nil
}

// install writes the services of t (and the orphans' services of its
// VIPs, orphans, with services) into the program: their rings and their
// pools' membership bits into the half the current set does not use (so
// that packets under way keep a whole set to read), the backends'
// addresses and flags, the services map (with services), and then
// svc_family, which switches every new packet to the new set; the old
// set's keys go last.
func (p *Program) install(t, orphans *balancer.ServiceTable) error {
	entries := t.Services()
	nsvc := len(entries)
	if orphans != nil {
		entries = append(entries, orphans.Services()...)
	}
	half := 1 - p.half
	base := half * p.opts.MaxRingSlots
	offs := make([]int, len(entries))
	n := 0
	for i, e := range entries {
		offs[i] = base + n
		n += len(e.Ring.Slots)
	}
	if n > p.opts.MaxRingSlots {
		return fmt.Errorf("xdp: rings of %d slots in all: %w (options.MaxRingSlots %d)", n, ErrRingSlots, p.opts.MaxRingSlots)
	}
	index := make(map[*balancer.ServiceEntry]int, len(entries)) // its place in entries
	for i, e := range entries {
		index[e] = i
	}
	bit := func(e *balancer.ServiceEntry) int { return half*MaxServices + index[e] }

	// Backends: every address known so far is kept (a removed backend
	// stays resolvable, not usable, while its entries drain), the old
	// set's membership bits are kept, the new set's written.
	arr := make([]titanBackend, p.opts.MaxBackends)
	for i, e := range p.arr {
		arr[i] = titanBackend{Addr: e.Addr, Addr6: e.Addr6, Flags: e.Flags &^ backendUsable, Members: e.Members}
		for w := half * MaxServices / 64; w < (half+1)*MaxServices/64; w++ {
			arr[i].Members[w] = 0
		}
	}
	ids := make(map[netip.Addr]balancer.BackendID)
	for _, e := range entries {
		k := bit(e)
		for _, b := range e.Backends {
			a := &arr[b.ID]
			if b.Addr.Is4() {
				a.Addr, a.Addr6, a.Flags = be32(b.Addr), [4]uint32{}, a.Flags&^backendV6
			} else {
				a.Addr, a.Addr6, a.Flags = 0, words6(b.Addr), a.Flags|backendV6
			}
			if b.Up {
				a.Flags |= backendUsable
			}
			a.Members[k/64] |= 1 << (k % 64)
			ids[b.Addr] = b.ID
		}
	}
	if err := writeArray(p.objs.Backends, arr); err != nil {
		return fmt.Errorf("xdp: write backends: %w", err)
	}
	for i, e := range entries {
		if err := writeArrayAt(p.objs.Ring, uint32(offs[i]), e.Ring.Slots); err != nil {
			return fmt.Errorf("xdp: write ring: %w", err)
		}
	}

	var fam [2]uint64
	var keys []titanSvcKey
	if t.CatchAll() {
		for i, e := range entries {
			fam[family(e.Key.VIP)] = svcDesc(offs[i], len(e.Ring.Slots), bit(e))
		}
	} else {
		val := func(i int) titanSvc {
			return titanSvc{RingOff: uint32(offs[i]), RingSize: uint32(len(entries[i].Ring.Slots)), Index: uint32(bit(entries[i]))}
		}
		for i, e := range entries[:nsvc] {
			fam[family(e.Key.VIP)] = svcLookup
			keys = append(keys, svcKey(e.Key.VIP, e.Key.Port, e.Key.Proto))
			if err := p.objs.Services.Put(keys[len(keys)-1], val(i)); err != nil {
				return fmt.Errorf("xdp: write services[%d]: %w", i, err)
			}
		}
		// Port 0: the orphans' service of the VIP and protocol, else
		// its lowest-port service of the protocol.
		for _, e := range entries[:nsvc] {
			k := svcKey(e.Key.VIP, 0, e.Key.Proto)
			if slices.Contains(keys, k) {
				continue
			}
			f, _ := t.Fallback(e.Key.VIP, e.Key.Proto)
			v := val(index[f])
			if o, ok := orphans.LookupKey(f.Key); ok {
				v = val(index[o])
				v.Flags = svcShared
			}
			keys = append(keys, k)
			if err := p.objs.Services.Put(k, v); err != nil {
				return fmt.Errorf("xdp: write the fallback of %v: %w", e.Key, err)
			}
		}
	}
	if err := p.objs.SvcFamily.Set(fam); err != nil {
		return fmt.Errorf("xdp: switch to the new set: %w", err)
	}
	for _, k := range p.keys {
		if !slices.Contains(keys, k) {
			if err := p.objs.Services.Delete(k); err != nil {
				return fmt.Errorf("xdp: delete an old service: %w", err)
			}
		}
	}
	for a, id := range p.ids {
		if _, ok := ids[a]; !ok {
			ids[a] = id // still resolvable while in-flight entries drain
		}
	}
	p.ids, p.arr, p.half, p.keys = ids, arr, half, keys
	return nil
}

// family returns 0 for an IPv4 address, 1 for an IPv6 one.
func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// backendAddr returns the address of a backends array entry, or the
// invalid Addr for an empty one.
func backendAddr(e titanBackend) netip.Addr {
	switch {
	case e.Flags&backendV6 != 0:
		return addr6(e.Addr6)
	case e.Addr != 0:
		return addrOf(e.Addr)
	}
	return netip.Addr{}
}
