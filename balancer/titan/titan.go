package titan

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/bits"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/murmur"
	"github.com/titanlb/titanlb/lru"
)

// ReasonConflictingFirstFragment is the drop reason of a first fragment
// whose ports differ from those already recorded for its datagram (same
// source, destination, protocol and IP ID).
const ReasonConflictingFirstFragment = "frag: conflicting first fragment"

// ReasonUnknownOrphan is the drop reason of an orphan that [AdmitEarned]
// does not admit: its host pair is unknown and the orphan credit is spent.
const ReasonUnknownOrphan = "frag: orphan from an unknown host"

// connKey is a connection table key: the 5-tuple as words (ports 0 for
// protocols other than TCP and UDP), an IPv4 address in the low half of
// its first word. Each family has its own table, as in the kernel.
type connKey struct {
	s0, s1, d0, d1 uint64
	meta           uint64 // source port | destination port << 16 | protocol << 32
}

// connKey4 is an IPv4 connection table key: a third of connKey's size,
// so that the IPv4 table, which most runs use alone, is as compact as the
// kernel's.
type connKey4 struct {
	s, d  uint32
	ports uint32 // source port | destination port << 16
	proto uint8
}

// hintKey is a host-pair hint table key: the host pair and the protocol.
type hintKey struct {
	s0, s1, d0, d1 uint64
	proto          uint8
}

// hintKey4 is an IPv4 host-pair hint table key.
type hintKey4 struct {
	s, d  uint32
	proto uint8
}

// words returns an address's 16 bytes (an IPv4 one's 4) as two
// little-endian words.
func words(a netip.Addr, v6 bool) (uint64, uint64) {
	if !v6 {
		b := a.As4()
		return uint64(binary.LittleEndian.Uint32(b[:])), 0
	}
	b := a.As16()
	return binary.LittleEndian.Uint64(b[0:8]), binary.LittleEndian.Uint64(b[8:16])
}

// hostHash is murmur3's state after the host pair (8 bytes for IPv4, 32
// for IPv6, seeded with seed): the prefix that the flow hashes
// ([balancer.Hash5], [balancer.Hash3]) and the host pair's set hash share,
// which the kernel program computes once per packet.
func hostHash(seed uint32, s0, s1, d0, d1 uint64, v6 bool) uint32 {
	if !v6 {
		return murmur.Mix(murmur.Mix(seed, uint32(s0)), uint32(d0))
	}
	h := seed
	for _, w := range [4]uint64{s0, s1, d0, d1} {
		h = murmur.Mix(murmur.Mix(h, uint32(w)), uint32(w>>32))
	}
	return h
}

// flowHash5 finishes a host pair's hostHash into [balancer.Hash5] of its
// packet with ports sp, dp and protocol proto, as the kernel program does
// from the host pair's rounds it computed once.
func flowHash5(hh uint32, sp, dp uint16, proto uint8, v6 bool) uint32 {
	h := murmur.Mix(hh, uint32(bits.ReverseBytes16(sp))|uint32(bits.ReverseBytes16(dp))<<16)
	h = murmur.Mix(h, uint32(proto))
	if v6 {
		return murmur.Fmix(h ^ 40)
	}
	return murmur.Fmix(h ^ 16)
}

// flowHash3 finishes a host pair's hostHash into [balancer.Hash3] of its
// packet with protocol proto.
func flowHash3(hh uint32, proto uint8, v6 bool) uint32 {
	h := murmur.Mix(hh, uint32(proto))
	if v6 {
		return murmur.Fmix(h ^ 36)
	}
	return murmur.Fmix(h ^ 12)
}

// hostSetHash is the hash of the host pair alone, finished from its
// hostHash: [frag.SetHash] without the ID. It picks a host pair's hint
// set, and, plus the ID, its datagrams' fragment sets.
func hostSetHash(hh uint32, v6 bool) uint32 {
	if v6 {
		return murmur.Fmix(hh ^ 32)
	}
	return murmur.Fmix(hh ^ 8)
}

// family indexes the per-family tables: 0 IPv4, 1 IPv6.
func family(v6 bool) int {
	if v6 {
		return 1
	}
	return 0
}

// Balancer is the Titan datapath model. It is not safe for concurrent use;
// every CPU of a simulated node shares it, as the kernel program's CPUs
// share its global maps.
type Balancer struct {
	cfg      Config
	vips     map[[4]byte]struct{} // nil: balance every destination
	svc      *balancer.ServiceTable
	set      bool                   // a setter succeeded: until then IPv4 meets emptyV4
	svcFam   [2]bool                // with services: the families that have some
	orphans  *balancer.ServiceTable // with services: OrphanServices, by their keys
	conns4   *clockTable[connKey4]
	conns6   *clockTable[connKey]
	frags    *frag.SetTable        // both families, each its own sets
	hints4   *clockTable[hintKey4] // nil unless OrphanHostHint or AdmitEarned
	hints6   *clockTable[hintKey]  // nil with hints4
	credit   int64                 // orphan credit (AdmitEarned)
	counters counters
}

// emptyV4 is the IPv4 catch-all before any backend set: no pool, no
// ring, so that a packet is dropped for want of a backend, as the kernel
// program's ring of empty slots drops it.
var emptyV4 = &balancer.ServiceEntry{CatchAll: true}

var (
	_ balancer.Balancer      = (*Balancer)(nil)
	_ balancer.ServiceSetter = (*Balancer)(nil)
)

// counters are the Balancer's own counters; table counters live in the
// tables.
type counters struct {
	packets, forwarded, passed       uint64
	dropNoBackend, dropConflict      uint64
	dropMalformed                    uint64
	fragments, firstFragments        uint64
	orphans, hintHits                uint64
	dropUnknownOrphan, credited      uint64
	connRepicks, fragRepicks         uint64
	newFlows, connHits, fragFollowed uint64
}

// Stats is a snapshot of a Balancer's counters.
type Stats struct {
	Packets   uint64            // packets processed
	Forwarded uint64            // packets encapsulated toward a backend
	Passed    uint64            // packets handed to the local stack (not for a VIP, not IPv4)
	Dropped   map[string]uint64 // drops by reason (a fresh map)

	NewFlows uint64 // whole packets and first fragments placed by the ring
	ConnHits uint64 // whole packets and first fragments placed by the connection table

	Fragments      uint64 // fragments processed
	FirstFragments uint64 // of which first fragments
	// FragFollowed counts fragments that followed a usable fragment table
	// entry.
	FragFollowed uint64
	// Orphans counts non-first fragments that found no usable entry and
	// picked a backend by the orphan policy.
	Orphans uint64
	// HintHits counts orphans placed by the host-pair hint table.
	HintHits uint64
	// ConflictingFirstFragments counts first fragments dropped because
	// their datagram's entry holds other ports.
	ConflictingFirstFragments uint64
	// UnknownOrphans counts orphans dropped by [AdmitEarned]: from an
	// unknown host pair with the credit spent.
	UnknownOrphans uint64
	// Credit is the orphan credit left ([AdmitEarned]).
	Credit int64
	// ConnRepicks and FragRepicks count table hits whose backend was down
	// or gone, so that the packet re-picked from the ring.
	ConnRepicks, FragRepicks uint64

	// Conn counts the connection table's lookups (Hits, Misses) and
	// inserts (Inserts of new keys, Updates in place, Evictions of
	// another key's entry); Deletes stays 0.
	Conn lru.Stats
	Frag frag.TableStats                // fragment table counters
	Hint lru.Stats                      // host-pair hint table counters, as Conn's (zero unless the hints are kept)
	Len  struct{ Conn, Frag, Hint int } // current table occupancy
}

// New returns a Titan balancer with no backends (every IPv4 packet to be
// balanced is dropped, reason [balancer.ReasonNoBackend], every IPv6 one
// passed, until [Balancer.SetBackends] or [Balancer.SetServices]). The
// error names the bad [Config] field.
func New(cfg Config) (*Balancer, error) {
	c, err := cfg.Resolve()
	if err != nil {
		return nil, err
	}
	b := &Balancer{cfg: c, credit: int64(c.OrphanCredits), svc: balancer.NewServiceTable(c.RingSize)}
	if len(c.VIPs) > 0 {
		b.vips = make(map[[4]byte]struct{}, len(c.VIPs))
		for _, v := range c.VIPs {
			b.vips[v.As4()] = struct{}{}
		}
	}
	if b.frags, err = frag.NewSetTable(frag.SetOptions{Capacity: c.FragTableSize, Timeout: c.FragTimeout, Seed: c.Seed}); err != nil {
		return nil, fmt.Errorf("titan: config.FragTableSize: %w", err)
	}
	b.conns4, b.conns6 = newClockTable[connKey4](c.ConnTableSize), newClockTable[connKey](c.ConnTableSize)
	if c.OrphanPolicy == OrphanHostHint || c.OrphanAdmission == AdmitEarned {
		b.hints4, b.hints6 = newClockTable[hintKey4](c.HintTableSize), newClockTable[hintKey](c.HintTableSize)
	}
	return b, nil
}

// Name returns "titan".
func (b *Balancer) Name() string { return "titan" }

// Config returns the configuration in effect: the one given to [New] with
// every default filled in.
func (b *Balancer) Config() Config {
	c := b.cfg
	c.VIPs = append(c.VIPs[:0:0], c.VIPs...)
	return c
}

// SetBackends replaces the services with one catch-all per address
// family present in bs, serving every VIP, port and protocol of that
// family ([balancer.ServiceTable.SetBackends]): IPv4 backends for IPv4
// packets, IPv6 ones for IPv6 packets, each family's ring built with
// [balancer.NewRing] (eligible: Up with Weight > 0); a packet of a family
// without backends is passed. Table entries are not flushed: an entry
// whose backend is gone, down or of another pool is re-picked when a
// packet hits it, and a drained backend (Up, Weight 0) keeps its flows.
// The error names the bad field; on error the previous set stays.
func (b *Balancer) SetBackends(bs []balancer.Backend) error {
	if err := b.svc.SetBackends(bs); err != nil {
		return fmt.Errorf("titan: %w", err)
	}
	b.set, b.orphans = true, nil
	return nil
}

// SetServices replaces the services with ss ([balancer.ServiceSetter]):
// a packet with ports goes to the service of its (destination, port,
// protocol), with that service's pool and ring; a packet to no service
// (ICMP, another port) is passed. A connection or fragment entry's backend
// stays only while it is Up and in the pool of the packet's service: a
// backend removed from a service re-picks there, one of weight 0 keeps its
// flows. The error names the bad field; on error the previous set stays.
func (b *Balancer) SetServices(ss []balancer.Service) error {
	orphans := balancer.NewServiceTable(b.cfg.RingSize)
	if err := b.svc.SetServices(ss); err != nil {
		return fmt.Errorf("titan: %w", err)
	}
	if err := orphans.SetServices(OrphanServices(ss)); err != nil { // a subset of what ss passed
		return fmt.Errorf("titan: orphan services: %w", err)
	}
	b.set, b.svcFam, b.orphans = true, [2]bool{}, orphans
	for _, s := range ss {
		b.svcFam[family(!s.Key.VIP.Is4())] = true
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (b *Balancer) Stats() Stats {
	c := &b.counters
	s := Stats{
		Packets: c.packets, Forwarded: c.forwarded, Passed: c.passed,
		Dropped:  map[string]uint64{},
		NewFlows: c.newFlows, ConnHits: c.connHits,
		Fragments: c.fragments, FirstFragments: c.firstFragments,
		FragFollowed: c.fragFollowed, Orphans: c.orphans, HintHits: c.hintHits,
		ConflictingFirstFragments: c.dropConflict,
		UnknownOrphans:            c.dropUnknownOrphan, Credit: b.credit,
		ConnRepicks: c.connRepicks, FragRepicks: c.fragRepicks,
		Frag: b.frags.Stats(),
	}
	for r, n := range map[string]uint64{
		balancer.ReasonNoBackend:       c.dropNoBackend,
		ReasonConflictingFirstFragment: c.dropConflict,
		balancer.ReasonMalformed:       c.dropMalformed,
		ReasonUnknownOrphan:            c.dropUnknownOrphan,
	} {
		if n > 0 {
			s.Dropped[r] = n
		}
	}
	s.Len.Frag = b.frags.Len()
	s.Conn = addStats(b.conns4.stats, b.conns6.stats)
	s.Len.Conn = b.conns4.Len() + b.conns6.Len()
	if b.hints4 != nil {
		s.Hint = addStats(b.hints4.stats, b.hints6.stats)
		s.Len.Hint = b.hints4.Len() + b.hints6.Len()
	}
	return s
}

// addStats returns a + b field by field.
func addStats(a, b lru.Stats) lru.Stats {
	return lru.Stats{Hits: a.Hits + b.Hits, Misses: a.Misses + b.Misses, Inserts: a.Inserts + b.Inserts,
		Updates: a.Updates + b.Updates, Evictions: a.Evictions + b.Evictions, Deletes: a.Deletes + b.Deletes}
}

// DroppedTotal returns the number of dropped packets, all reasons.
func (s Stats) DroppedTotal() uint64 {
	var n uint64
	for v := range maps.Values(s.Dropped) {
		n += v
	}
	return n
}

// pkt is what Process derives from a packet once: its family and its
// address words, as the kernel program's parse does.
type pkt struct {
	p              *balancer.Packet
	v6             bool
	s0, s1, d0, d1 uint64
	hh             uint32 // hostHash
}

// Process decides the fate of p as the algorithm in the package doc says,
// charging env.Meter for every operation. It does not allocate, but for
// a chunk of sets when a table first writes beyond its chunks. A nil env
// is time 0 and unmetered; a nil p, or one whose header fields no IP
// header can carry ([balancer.Packet.Malformed]), is dropped as malformed
// (the latter after the per-CPU stats read, as the kernel program parses
// after it); a packet whose source and destination are not both IPv4 or
// both IPv6, or that has no service, is passed.
func (b *Balancer) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	var m *cost.Meter
	var now time.Duration
	if env != nil {
		m, now = env.Meter, env.Now
	}
	if p == nil {
		b.counters.dropMalformed++
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonMalformed}
	}
	b.counters.packets++
	m.Charge(cost.OpArrayRead) // per-CPU stats
	if p.Malformed() {
		b.counters.dropMalformed++
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonMalformed}
	}
	k := pkt{p: p}
	switch {
	case p.Src.Is4() && p.Dst.Is4():
	case p.Src.Is6() && p.Dst.Is6():
		k.v6 = true
	default:
		return b.pass()
	}
	if b.vips != nil {
		if k.v6 { // the VIP list is of IPv4 addresses
			return b.pass()
		}
		m.Charge(cost.OpMapRead) // VIP map
		if _, ok := b.vips[p.Dst.As4()]; !ok {
			return b.pass()
		}
	}
	k.s0, k.s1 = words(p.Src, k.v6)
	k.d0, k.d1 = words(p.Dst, k.v6)
	k.hh = hostHash(b.cfg.Seed, k.s0, k.s1, k.d0, k.d1, k.v6)
	if !p.IsFragment() {
		e, ok := b.service(m, &k, p.DstPort, false)
		if !ok {
			return b.pass()
		}
		id, ok := b.pickFlow(m, &k, e, 0, false)
		return b.forward(m, id, ok)
	}

	b.counters.fragments++
	first := p.FragOffset == 0
	var e *balancer.ServiceEntry
	if first {
		b.counters.firstFragments++
		var ok bool
		if e, ok = b.service(m, &k, p.DstPort, false); !ok {
			return b.pass()
		}
	}
	hx := hostSetHash(k.hh, k.v6) // shared by the fragment set and the hint set
	// The datagram's key, from the address words already read, and its
	// fragment set's hash: the host pair's plus the identification.
	ident := uint32(p.IPID)
	if k.v6 {
		ident = p.FragID
	}
	fk, fh := frag.KeyFromWords(k.s0, k.s1, k.d0, k.d1, p.Proto, ident, k.v6), hx+ident
	m.Charge(cost.OpHash)      // the set index
	m.Charge(cost.OpArrayRead) // fragment table: the key's set
	var fe frag.Entry
	if b.frags.LookupHashed(fk, fh, now, &fe) {
		id := balancer.BackendID(fe.Backend)
		var usable bool
		switch {
		case first:
			m.Charge(cost.OpArrayRead) // backend array: usable?
			usable = e.Usable(id)
		case fe.HasPorts:
			// Its first fragment passed: its ports name the service.
			s, ok := b.service(m, &k, fe.DstPort, false)
			if !ok {
				return b.pass()
			}
			m.Charge(cost.OpArrayRead) // backend array: usable?
			usable = s.Usable(id)
		default:
			m.Charge(cost.OpArrayRead) // backend array: usable?
			usable = b.usableAny(id, k.v6)
		}
		if usable {
			if first {
				sp, dp := ports(p)
				switch {
				case !fe.HasPorts:
					// An orphan created the entry: record the ports,
					// a store into the set already read (uncharged).
					fe.SrcPort, fe.DstPort, fe.HasPorts = sp, dp, true
					b.frags.InsertHashed(fk, fh, &fe, now)
				case fe.SrcPort != sp || fe.DstPort != dp:
					b.counters.dropConflict++
					return balancer.Decision{Action: balancer.Drop, Reason: ReasonConflictingFirstFragment}
				}
			}
			b.counters.fragFollowed++
			return b.forward(m, id, true)
		}
		b.counters.fragRepicks++
	}

	var id balancer.BackendID
	var ok bool
	ne := frag.Entry{Created: now}
	if first {
		id, ok = b.pickFlow(m, &k, e, hx, true)
		ne.SrcPort, ne.DstPort = ports(p)
		ne.HasPorts = true
	} else {
		// An orphan: its VIP's lowest-port service of its protocol (the
		// catch-all, without services).
		f, found := b.service(m, &k, 0, true)
		if !found {
			return b.pass()
		}
		b.counters.orphans++
		var admit bool
		id, ok, admit = b.pickOrphan(m, &k, f, hx)
		if !admit {
			b.counters.dropUnknownOrphan++
			return balancer.Decision{Action: balancer.Drop, Reason: ReasonUnknownOrphan}
		}
	}
	if ok {
		ne.Backend = uint32(id)
		// A store into the set already read: no map update (uncharged).
		b.frags.InsertHashed(fk, fh, &ne, now)
	}
	return b.forward(m, id, ok)
}

// pass passes a packet to the local stack.
func (b *Balancer) pass() balancer.Decision {
	b.counters.passed++
	return balancer.Decision{Action: balancer.Pass}
}

// service resolves the service of k's packet, as the kernel's svc_find:
// from its family's catch-all, free; or, with services, by a lookup of
// (destination, port, protocol), charged, for TCP and UDP of a family that
// has services only (fallback: the VIP's lowest-port service of the
// protocol, an orphan's). Before any setter, an IPv4 packet meets an empty
// catch-all.
func (b *Balancer) service(m *cost.Meter, k *pkt, port uint16, fallback bool) (*balancer.ServiceEntry, bool) {
	p := k.p
	if !b.set {
		return emptyV4, !k.v6
	}
	if b.svc.CatchAll() {
		return b.svc.LookupKey(balancer.ServiceKey{VIP: p.Dst})
	}
	if !b.svcFam[family(k.v6)] || p.Proto != balancer.ProtoTCP && p.Proto != balancer.ProtoUDP {
		return nil, false
	}
	m.Charge(cost.OpMapRead) // services map
	if fallback {
		f, ok := b.svc.Fallback(p.Dst, p.Proto)
		if ok {
			if o, shared := b.orphans.LookupKey(f.Key); shared {
				return o, true
			}
		}
		return f, ok
	}
	return b.svc.LookupKey(balancer.ServiceKey{VIP: p.Dst, Port: port, Proto: p.Proto})
}

// orphanShared reports whether e is one of OrphanServices: the orphans'
// service of a VIP and protocol whose services share backends.
func (b *Balancer) orphanShared(e *balancer.ServiceEntry) bool {
	if b.orphans == nil {
		return false
	}
	o, ok := b.orphans.LookupKey(e.Key)
	return ok && o == e
}

// usableAny reports whether id is Up, in the pool of some service, and of
// the packet's family: the check of an orphan's hint and of a fragment
// entry an orphan wrote, which name no service.
func (b *Balancer) usableAny(id balancer.BackendID, v6 bool) bool {
	be, ok := b.svc.Backend(id)
	return ok && be.Up && be.Addr.Is4() != v6
}

// pickFlow places a whole packet or a first fragment in service e:
// connection table, then e's ring on a miss or a backend not usable in e
// (writing the connection entry and, when hints are kept, the host-pair
// hint). hx is the host pair's hostSetHash when haveHX (a fragment
// computed it for its set), else pickFlow computes it if it writes a hint.
func (b *Balancer) pickFlow(m *cost.Meter, k *pkt, e *balancer.ServiceEntry, hx uint32, haveHX bool) (balancer.BackendID, bool) {
	p := k.p
	sp, dp := ports(p)
	m.Charge(cost.OpHash)
	h := flowHash5(k.hh, sp, dp, p.Proto, k.v6) // ports 0 for a protocol without them
	m.Charge(cost.OpArrayRead)                  // connection table: the key's set
	if id, ok := b.connGet(k, sp, dp, h); ok {
		m.Charge(cost.OpArrayRead) // backend array: usable?
		if e.Usable(id) {
			b.counters.connHits++
			return id, true
		}
		b.counters.connRepicks++
	}
	id, ok := b.ringPick(m, e, h)
	if !ok {
		return 0, false
	}
	b.counters.newFlows++
	// A store into the set already read, no map update: a new entry
	// (a way taken) is charged as one, a repick's rewrite of its way
	// is not.
	if b.connPut(k, sp, dp, h, id) {
		m.Charge(cost.OpStore)
	}
	if b.hints4 != nil {
		if !haveHX {
			m.Charge(cost.OpHash) // the hint set index
			hx = hostSetHash(k.hh, k.v6)
		}
		m.Charge(cost.OpArrayRead) // hint table: the host pair's set, then a store into it
		if b.hintPut(k, hx, id) {
			m.Charge(cost.OpStore) // a new hint: a way taken
		}
	}
	if b.cfg.OrphanAdmission == AdmitEarned {
		m.Charge(cost.OpArrayRead) // orphan credit: lookup, then an atomic add
		if b.credit < int64(b.cfg.OrphanCredits) {
			b.credit++
		}
	}
	return id, true
}

// connGet looks the flow of k with ports sp, dp up in its family's
// connection table; h is the flow hash.
func (b *Balancer) connGet(k *pkt, sp, dp uint16, h uint32) (balancer.BackendID, bool) {
	if k.v6 {
		return b.conns6.get(connKey{s0: k.s0, s1: k.s1, d0: k.d0, d1: k.d1, meta: uint64(sp) | uint64(dp)<<16 | uint64(k.p.Proto)<<32}, h)
	}
	return b.conns4.get(connKey4{s: uint32(k.s0), d: uint32(k.d0), ports: uint32(sp) | uint32(dp)<<16, proto: k.p.Proto}, h)
}

// connPut writes id for the flow of k in its family's connection table
// and reports whether the flow took a way (it held none).
func (b *Balancer) connPut(k *pkt, sp, dp uint16, h uint32, id balancer.BackendID) (inserted bool) {
	if k.v6 {
		return b.conns6.insert(connKey{s0: k.s0, s1: k.s1, d0: k.d0, d1: k.d1, meta: uint64(sp) | uint64(dp)<<16 | uint64(k.p.Proto)<<32}, h, id)
	}
	return b.conns4.insert(connKey4{s: uint32(k.s0), d: uint32(k.d0), ports: uint32(sp) | uint32(dp)<<16, proto: k.p.Proto}, h, id)
}

// hintGet looks the host pair and protocol of k up in its family's hint
// table; hx is the host pair's hostSetHash.
func (b *Balancer) hintGet(k *pkt, hx uint32) (balancer.BackendID, bool) {
	if k.v6 {
		return b.hints6.get(hintKey{s0: k.s0, s1: k.s1, d0: k.d0, d1: k.d1, proto: k.p.Proto}, hx)
	}
	return b.hints4.get(hintKey4{s: uint32(k.s0), d: uint32(k.d0), proto: k.p.Proto}, hx)
}

// hintPut writes id for the host pair and protocol of k in its family's
// hint table and reports whether the pair took a way (it held none).
func (b *Balancer) hintPut(k *pkt, hx uint32, id balancer.BackendID) (inserted bool) {
	if k.v6 {
		return b.hints6.insert(hintKey{s0: k.s0, s1: k.s1, d0: k.d0, d1: k.d1, proto: k.p.Proto}, hx, id)
	}
	return b.hints4.insert(hintKey4{s: uint32(k.s0), d: uint32(k.d0), proto: k.p.Proto}, hx, id)
}

// pickOrphan places a non-first fragment that has no usable entry, with
// the ring of service e when the hint has nothing: the orphans' service of
// its VIP and protocol ([OrphanServices]), whose pool every service of
// theirs shares and where the hint is taken only if it is in that pool,
// else the VIP's lowest-port service of its protocol (or the catch-all),
// where the hint is taken if Up in any pool; admit is false when
// [AdmitEarned] refuses it.
func (b *Balancer) pickOrphan(m *cost.Meter, k *pkt, e *balancer.ServiceEntry, hx uint32) (id balancer.BackendID, ok, admit bool) {
	p := k.p
	if b.hints4 != nil {
		m.Charge(cost.OpArrayRead) // hint table: the host pair's set
		hid, known := b.hintGet(k, hx)
		if known && b.cfg.OrphanPolicy == OrphanHostHint {
			m.Charge(cost.OpArrayRead) // backend array: usable?
			if b.orphanShared(e) && e.Usable(hid) || !b.orphanShared(e) && b.usableAny(hid, k.v6) {
				b.counters.hintHits++
				return hid, true, true
			}
		}
		if !known && b.cfg.OrphanAdmission == AdmitEarned {
			m.Charge(cost.OpArrayRead) // orphan credit
			if b.credit <= 0 {
				return 0, false, false
			}
			b.credit--
		}
	}
	m.Charge(cost.OpHash)
	id, ok = b.ringPick(m, e, flowHash3(k.hh, p.Proto, k.v6))
	return id, ok, true
}

// ringPick reads the slot of h on e's ring and then the backend array for
// the owner's address. A ring holds only eligible backends.
func (b *Balancer) ringPick(m *cost.Meter, e *balancer.ServiceEntry, h uint32) (balancer.BackendID, bool) {
	m.Charge(cost.OpRingRead) // ring
	if e.Ring == nil {
		return 0, false
	}
	id, ok := e.Pick(h)
	if !ok {
		return 0, false
	}
	m.Charge(cost.OpArrayRead) // backend array: address
	return id, true
}

// forward encapsulates toward id, or drops with "no backend" when !ok.
func (b *Balancer) forward(m *cost.Meter, id balancer.BackendID, ok bool) balancer.Decision {
	if !ok {
		b.counters.dropNoBackend++
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonNoBackend}
	}
	m.Charge(cost.OpEncap)
	b.counters.forwarded++
	return balancer.Decision{Action: balancer.Forward, Backend: id}
}

// ports returns p's ports as the flow key sees them: 0 for protocols other
// than TCP and UDP.
func ports(p *balancer.Packet) (uint16, uint16) {
	if p.Proto != balancer.ProtoTCP && p.Proto != balancer.ProtoUDP {
		return 0, 0
	}
	return p.SrcPort, p.DstPort
}
