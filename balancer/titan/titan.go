package titan

import (
	"fmt"
	"maps"
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

// connKey is the connection table key: the 5-tuple, ports 0 for protocols
// other than TCP and UDP.
type connKey struct {
	src, dst         [4]byte
	srcPort, dstPort uint16
	proto            uint8
}

// hintKey is the host-pair hint table key.
type hintKey struct {
	src, dst [4]byte
	proto    uint8
}

// hostHash is murmur3's state after the host pair (seeded with seed):
// the prefix that the flow hashes ([balancer.Hash5], [balancer.Hash3])
// and the host pair's set hash share, which the kernel program computes
// once per packet.
func hostHash(seed uint32, src, dst [4]byte) uint32 {
	return murmur.Mix(murmur.Mix(seed, murmur.Word(src)), murmur.Word(dst))
}

// hostSetHash is the hash of the host pair alone, finished from its
// hostHash: [frag.SetHash] without the IP ID. It picks a host pair's
// hint set, and, plus the IP ID, its datagrams' fragment sets.
func hostSetHash(hh uint32) uint32 { return murmur.Fmix(hh ^ 8) }

// Balancer is the Titan datapath model. It is not safe for concurrent use;
// every CPU of a simulated node shares it, as the kernel program's CPUs
// share its global maps.
type Balancer struct {
	cfg      Config
	vips     map[[4]byte]struct{} // nil: balance every IPv4 destination
	ring     *balancer.Ring       // nil until SetBackends
	usable   map[balancer.BackendID]bool
	conns    *clockTable[connKey]
	frags    *frag.SetTable
	hints    *clockTable[hintKey] // nil unless OrphanHostHint or AdmitEarned
	credit   int64                // orphan credit (AdmitEarned)
	counters counters
}

var _ balancer.Balancer = (*Balancer)(nil)

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

// New returns a Titan balancer with no backends (every packet to be
// balanced is dropped, reason [balancer.ReasonNoBackend], until
// [Balancer.SetBackends]). The error names the bad [Config] field.
func New(cfg Config) (*Balancer, error) {
	c, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	b := &Balancer{cfg: c, credit: int64(c.OrphanCredits)}
	if len(c.VIPs) > 0 {
		b.vips = make(map[[4]byte]struct{}, len(c.VIPs))
		for _, v := range c.VIPs {
			b.vips[v.As4()] = struct{}{}
		}
	}
	b.conns = newClockTable[connKey](c.ConnTableSize)
	if b.frags, err = frag.NewSetTable(frag.SetOptions{Capacity: c.FragTableSize, Timeout: c.FragTimeout, Seed: c.Seed}); err != nil {
		return nil, fmt.Errorf("titan: config.FragTableSize: %w", err)
	}
	if c.OrphanPolicy == OrphanHostHint || c.OrphanAdmission == AdmitEarned {
		b.hints = newClockTable[hintKey](c.HintTableSize)
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

// SetBackends replaces the backend set. It builds the Maglev ring with
// [balancer.NewRing] (eligible: Up with Weight > 0). Table entries are not
// flushed: an entry whose backend is gone or down is re-picked when a
// packet hits it, and a drained backend (Up, Weight 0) keeps its flows.
// The error names the bad field; on error the previous set stays.
func (b *Balancer) SetBackends(bs []balancer.Backend) error {
	for i, be := range bs {
		if be.Addr.IsValid() && !be.Addr.Is4() { // IPv6 backends: not modelled yet
			return fmt.Errorf("titan: backends[%d].Addr %v: %w", i, be.Addr, ErrNotIPv4)
		}
	}
	r, err := balancer.NewRing(bs, b.cfg.RingSize)
	if err != nil {
		return fmt.Errorf("titan: %w", err)
	}
	u := make(map[balancer.BackendID]bool, len(bs))
	for _, be := range bs {
		u[be.ID] = be.Up
	}
	b.ring, b.usable = r, u
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
		Conn: b.conns.stats, Frag: b.frags.Stats(),
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
	s.Len.Conn, s.Len.Frag = b.conns.Len(), b.frags.Len()
	if b.hints != nil {
		s.Hint, s.Len.Hint = b.hints.stats, b.hints.Len()
	}
	return s
}

// DroppedTotal returns the number of dropped packets, all reasons.
func (s Stats) DroppedTotal() uint64 {
	var n uint64
	for v := range maps.Values(s.Dropped) {
		n += v
	}
	return n
}

// Process decides the fate of p as the algorithm in the package doc says,
// charging env.Meter for every operation. It does not allocate. A nil env
// is time 0 and unmetered; a nil p, or one whose header fields no IPv4
// header can carry ([balancer.Packet.Malformed]), is dropped as malformed
// (the latter after the per-CPU stats read, as the kernel program parses
// after it); a packet whose addresses are not IPv4 is passed.
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
	m.Charge(cost.OpMapRead) // per-CPU stats
	if p.Malformed() {
		b.counters.dropMalformed++
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonMalformed}
	}
	if !p.Src.Is4() || !p.Dst.Is4() {
		b.counters.passed++
		return balancer.Decision{Action: balancer.Pass}
	}
	src, dst := p.Src.As4(), p.Dst.As4()
	if b.vips != nil {
		m.Charge(cost.OpMapRead) // VIP map
		if _, ok := b.vips[dst]; !ok {
			b.counters.passed++
			return balancer.Decision{Action: balancer.Pass}
		}
	}
	hh := hostHash(b.cfg.Seed, src, dst)
	if !p.IsFragment() {
		id, ok := b.pickFlow(m, p, src, dst, hh, 0, false)
		return b.forward(m, id, ok)
	}

	b.counters.fragments++
	first := p.FragOffset == 0
	if first {
		b.counters.firstFragments++
	}
	fk := frag.KeyFrom4(src, dst, p.Proto, p.IPID)
	hx := hostSetHash(hh)    // shared by the fragment set and the hint set
	m.Charge(cost.OpHash)    // the set index
	m.Charge(cost.OpMapRead) // fragment table: the key's set
	e, hit := b.frags.Lookup(fk, now)
	if hit {
		m.Charge(cost.OpMapRead) // backend array: usable?
		if b.usable[balancer.BackendID(e.Backend)] {
			if first {
				sp, dp := ports(p)
				switch {
				case !e.HasPorts:
					// An orphan created the entry: record the ports,
					// a store into the set already read (uncharged).
					e.SrcPort, e.DstPort, e.HasPorts = sp, dp, true
					b.frags.Insert(fk, e, now)
				case e.SrcPort != sp || e.DstPort != dp:
					b.counters.dropConflict++
					return balancer.Decision{Action: balancer.Drop, Reason: ReasonConflictingFirstFragment}
				}
			}
			b.counters.fragFollowed++
			return b.forward(m, balancer.BackendID(e.Backend), true)
		}
		b.counters.fragRepicks++
	}

	var id balancer.BackendID
	var ok bool
	ne := frag.Entry{Created: now}
	if first {
		id, ok = b.pickFlow(m, p, src, dst, hh, hx, true)
		ne.SrcPort, ne.DstPort = ports(p)
		ne.HasPorts = true
	} else {
		b.counters.orphans++
		var admit bool
		id, ok, admit = b.pickOrphan(m, p, src, dst, hx)
		if !admit {
			b.counters.dropUnknownOrphan++
			return balancer.Decision{Action: balancer.Drop, Reason: ReasonUnknownOrphan}
		}
	}
	if ok {
		ne.Backend = uint32(id)
		// A store into the set already read: no map update (uncharged).
		b.frags.Insert(fk, ne, now)
	}
	return b.forward(m, id, ok)
}

// pickFlow places a whole packet or a first fragment: connection table,
// then the ring on a miss or an unusable backend (writing the connection
// entry and, when hints are kept, the host-pair hint). hh is the host
// pair's hostHash; hx its hostSetHash when haveHX (a fragment computed it
// for its set), else pickFlow computes it if it writes a hint.
func (b *Balancer) pickFlow(m *cost.Meter, p *balancer.Packet, src, dst [4]byte, hh, hx uint32, haveHX bool) (balancer.BackendID, bool) {
	sp, dp := ports(p)
	m.Charge(cost.OpHash)
	var h uint32
	if sp == p.SrcPort && dp == p.DstPort {
		h = balancer.Hash5(p, b.cfg.Seed)
	} else { // ports a protocol without them should not carry
		q := balancer.Packet{Src: p.Src, Dst: p.Dst, Proto: p.Proto}
		h = balancer.Hash5(&q, b.cfg.Seed)
	}
	ck := connKey{src: src, dst: dst, srcPort: sp, dstPort: dp, proto: p.Proto}
	m.Charge(cost.OpMapRead) // connection table: the key's set
	if id, ok := b.conns.get(ck, h); ok {
		m.Charge(cost.OpMapRead) // backend array: usable?
		if b.usable[id] {
			b.counters.connHits++
			return id, true
		}
		b.counters.connRepicks++
	}
	id, ok := b.ringPick(m, h)
	if !ok {
		return 0, false
	}
	b.counters.newFlows++
	// A store into the set already read: no map update (uncharged).
	b.conns.put(ck, h, id)
	if b.hints != nil {
		if !haveHX {
			m.Charge(cost.OpHash) // the hint set index
			hx = hostSetHash(hh)
		}
		m.Charge(cost.OpMapRead) // hint table: the host pair's set, then a store into it
		b.hints.put(hintKey{src: src, dst: dst, proto: p.Proto}, hx, id)
	}
	if b.cfg.OrphanAdmission == AdmitEarned {
		m.Charge(cost.OpMapRead) // orphan credit: lookup, then an atomic add
		if b.credit < int64(b.cfg.OrphanCredits) {
			b.credit++
		}
	}
	return id, true
}

// pickOrphan places a non-first fragment that has no usable entry; admit
// is false when [AdmitEarned] refuses it.
func (b *Balancer) pickOrphan(m *cost.Meter, p *balancer.Packet, src, dst [4]byte, hx uint32) (id balancer.BackendID, ok, admit bool) {
	if b.hints != nil {
		m.Charge(cost.OpMapRead) // hint table: the host pair's set
		hid, known := b.hints.get(hintKey{src: src, dst: dst, proto: p.Proto}, hx)
		if known && b.cfg.OrphanPolicy == OrphanHostHint {
			m.Charge(cost.OpMapRead) // backend array: usable?
			if b.usable[hid] {
				b.counters.hintHits++
				return hid, true, true
			}
		}
		if !known && b.cfg.OrphanAdmission == AdmitEarned {
			m.Charge(cost.OpMapRead) // orphan credit
			if b.credit <= 0 {
				return 0, false, false
			}
			b.credit--
		}
	}
	m.Charge(cost.OpHash)
	id, ok = b.ringPick(m, balancer.Hash3(p, b.cfg.Seed))
	return id, ok, true
}

// ringPick reads the ring slot of h and then the backend array for the
// owner's address. The ring holds only eligible backends.
func (b *Balancer) ringPick(m *cost.Meter, h uint32) (balancer.BackendID, bool) {
	m.Charge(cost.OpMapRead) // ring
	if b.ring == nil {
		return 0, false
	}
	id, ok := b.ring.Lookup(h)
	if !ok {
		return 0, false
	}
	m.Charge(cost.OpMapRead) // backend array: address
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
