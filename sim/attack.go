package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/enum"
)

// AttackKind is a hostile traffic pattern an [Attack] sends beside the
// legitimate [Traffic].
type AttackKind uint8

// The attacks. Every attack packet comes from a spoofed source drawn
// uniformly from Attack.Sources addresses of 100.64.0.0/10 (disjoint from
// the legitimate clients' 10.1.0.0/16) toward the VIP (and port, for TCP)
// of Traffic, or of the first IPv4 service of Scenario.Services, with a
// random IP ID. Attacks are IPv4.
const (
	// AttackOrphanFlood sends non-first fragments (UDP, 40 bytes of
	// payload at a random offset, MF random) whose first fragment never
	// comes: a stateful balancer that records orphans fills its fragment
	// table with them.
	AttackOrphanFlood AttackKind = iota + 1
	// AttackTinyFragments sends the RFC 1858 tiny-fragment attack: TCP
	// datagrams of two fragments, the first carrying only 8 bytes of the
	// TCP header (the ports; the flags are in the second fragment, at
	// offset 8), from random ports. Each is a new flow and a new fragment
	// table entry.
	AttackTinyFragments
	// AttackOverlap sends the RFC 3128 overlapping-fragment attack: a
	// first fragment with a whole 24-byte TCP header, then a last fragment
	// at offset 8 that overwrites the header's bytes 8-23 (its flags). A
	// backend's reassembler must reject the overlap.
	AttackOverlap
	// AttackTeardrop sends teardrop datagrams: a first UDP fragment of 36
	// bytes and a last fragment at offset 24 of only 4 bytes, ending
	// inside the first (the overlap that crashed old kernels).
	AttackTeardrop
	// AttackSYNFlood sends TCP SYNs from random sources and ports: every
	// one is a new flow for the balancer's connection table.
	AttackSYNFlood
	numAttackKinds
)

var attackNames = [...]string{"", "orphan-flood", "tiny-fragments", "overlap", "teardrop", "syn-flood"}

// String returns the kind's name: "orphan-flood", "tiny-fragments",
// "overlap", "teardrop" or "syn-flood".
func (k AttackKind) String() string { return enum.String(attackNames[:], k, "attack") }

// MarshalText encodes the kind as its String.
func (k AttackKind) MarshalText() ([]byte, error) {
	return enum.Marshal(attackNames[:], k, "sim: unknown attack kind")
}

// UnmarshalText decodes a kind's String.
func (k *AttackKind) UnmarshalText(b []byte) error {
	return enum.Unmarshal(attackNames[:], b, k, "sim: unknown attack kind")
}

// Limits on a scenario's attacks and fragment spacing.
const (
	MaxAttacks     = 16          // len(Scenario.Attacks)
	MaxFragmentGap = time.Second // Traffic.FragmentGap
)

// DefaultAttackSources is the number of spoofed source addresses when
// Attack.Sources is 0.
const DefaultAttackSources = 1 << 16

// maxAttackSources is the size of 100.64.0.0/10.
const maxAttackSources = 1 << 22

// Attack is hostile traffic sent beside the legitimate [Traffic]. Its
// packets go through the same NIC, RSS, RX queues, balancer and backends,
// but the legitimate metrics of [Result] (Datagrams, Packets, Delivered,
// Reliability, Affinity, costs, latency, Drops but reassembly drops) leave
// them out; [Result.Attack] counts them.
type Attack struct {
	// Kind is the pattern.
	Kind AttackKind
	// Rate is the attack packets sent per second, a Poisson process of
	// attack datagrams (two packets each for the fragment-pair kinds).
	// Must be positive.
	Rate float64
	// Start and Stop bound the attack in simulated time: it sends in
	// [Start, Stop); Stop 0 means the end of the run.
	Start, Stop Time
	// Sources is the number of spoofed source addresses (0:
	// [DefaultAttackSources]), at most 2^22 (100.64.0.0/10).
	Sources int
}

// AttackResult counts what the attack packets of a run did.
type AttackResult struct {
	// Packets were sent; Processed ran through the balancer; Delivered
	// reached an up backend.
	Packets, Processed, Delivered uint64
	// Reassembled counts attack datagrams a backend reassembled whole
	// (never one with overlapping fragments: the reassembler rejects
	// those).
	Reassembled uint64
	// Cost is the balancer's STU spent on attack packets.
	Cost cost.STU
	// Drops counts the attack packets lost, by reason (as Result.Drops).
	Drops map[string]uint64
}

// validate checks attack i of a run of duration dur.
func (a *Attack) validate(i int, dur Time) error {
	f := fmt.Sprintf("attacks[%d]", i)
	switch {
	case a.Kind == 0 || a.Kind >= numAttackKinds:
		return bad(f+".kind", uint8(a.Kind), "unknown attack kind")
	case math.IsNaN(a.Rate) || math.IsInf(a.Rate, 0) || a.Rate <= 0:
		return bad(f+".rate", a.Rate, "must be a positive, finite number of packets per second")
	case a.Start < 0 || a.Start > dur:
		return bad(f+".start", a.Start, "must be between 0 and the duration %v", dur)
	case a.Stop != 0 && (a.Stop < a.Start || a.Stop > dur):
		return bad(f+".stop", a.Stop, "must be 0 (the end) or between start %v and the duration %v", a.Start, dur)
	case a.Sources < 0 || a.Sources > maxAttackSources:
		return bad(f+".sources", a.Sources, "must be between 1 and %d (0: %d)", maxAttackSources, DefaultAttackSources)
	}
	return nil
}

// attackTarget returns the VIP and port attacks are sent to: the
// traffic's, or with services the first IPv4 service's key; ok is false
// when there is none (attacks are IPv4).
func (sc *Scenario) attackTarget() (vip netip.Addr, port uint16, ok bool) {
	if !sc.servicesMode() {
		return sc.Traffic.vip(), sc.Traffic.port(), true
	}
	for i := range sc.Services {
		if k := sc.Services[i].Key; k.VIP.Is4() {
			return k.VIP, k.Port, true
		}
	}
	return netip.Addr{}, 0, false
}

// attackSrcBase is 100.64.0.0, the first spoofed source.
const attackSrcBase = 0x64400000

// attackTag marks the reassembly tags of attack datagrams, so that they
// never equal a legitimate datagram's number.
const attackTag = 1 << 63

// attacker generates one Attack's packets.
type attacker struct {
	kind    AttackKind
	rng     *rand.Rand
	meanGap float64 // ns between attack datagrams
	start   Time
	stop    Time
	sources uint32
	vip     netip.Addr
	port    uint16
	seq     uint64 // attack datagrams sent: reassembly tags
}

// newAttacker returns the generator of attack i; its random stream
// depends on the scenario's seed and i only.
func newAttacker(a *Attack, i int, seed int64, vip netip.Addr, port uint16, dur Time) *attacker {
	per := 1.0
	switch a.Kind {
	case AttackTinyFragments, AttackOverlap, AttackTeardrop:
		per = 2
	}
	g := &attacker{
		kind:    a.Kind,
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x61747461636b0000+uint64(i))), // "attack"+i
		meanGap: 1e9 * per / a.Rate,
		start:   a.Start,
		stop:    a.Stop,
		sources: uint32(orDefault(a.Sources, DefaultAttackSources)),
		vip:     vip,
		port:    port,
	}
	if g.stop == 0 {
		g.stop = dur
	}
	return g
}

// gap returns the time to the next attack datagram: exponential.
func (g *attacker) gap() Time {
	return Time(g.rng.ExpFloat64()*g.meanGap + 0.5)
}

// datagram builds the next attack datagram's packets into out (reset) in
// arrival order.
func (g *attacker) datagram(out []packet) []packet {
	a := attackSrcBase + g.rng.Uint32N(g.sources)
	h := balancer.Packet{
		Src:   netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}),
		Dst:   g.vip,
		Proto: balancer.ProtoUDP,
		IPID:  uint16(g.rng.Uint32()),
		IHL:   5,
	}
	sport := uint16(1024 + g.rng.IntN(65535-1024))
	tag := attackTag | g.seq
	g.seq++
	out = out[:0]
	add := func(p balancer.Packet) {
		out = append(out, packet{hdr: p, dgram: tag, attack: true})
	}
	const ip = balancer.IPv4Len
	switch g.kind {
	case AttackOrphanFlood:
		h.FragOffset = uint16(1 + g.rng.IntN(8186))
		h.MoreFragments = g.rng.IntN(2) == 0
		h.Len = ip + 40
		add(h)
	case AttackSYNFlood:
		h.Proto, h.SrcPort, h.DstPort, h.TCPFlags, h.Len = balancer.ProtoTCP, sport, g.port, balancer.TCPSyn, 60
		add(h)
	case AttackTinyFragments:
		first := h
		first.Proto, first.SrcPort, first.DstPort, first.MoreFragments, first.Len = balancer.ProtoTCP, sport, g.port, true, ip+8
		rest := h
		rest.Proto, rest.FragOffset, rest.Len = balancer.ProtoTCP, 1, ip+12+20
		add(first)
		add(rest)
	case AttackOverlap:
		first := h
		first.Proto, first.SrcPort, first.DstPort, first.TCPFlags, first.MoreFragments, first.Len = balancer.ProtoTCP, sport, g.port, balancer.TCPAck, true, ip+24
		over := h
		over.Proto, over.FragOffset, over.Len = balancer.ProtoTCP, 1, ip+24
		add(first)
		add(over)
	case AttackTeardrop:
		first := h
		first.SrcPort, first.DstPort, first.MoreFragments, first.Len = sport, g.port, true, ip+36
		tail := h
		tail.FragOffset, tail.Len = 3, ip+4
		add(first)
		add(tail)
	}
	return out
}

// attacks are a run's Scenario.Attacks: a source of packets beside the
// traffic, counted apart (Result.Attack).
type attacks struct {
	r       *runner
	gens    []*attacker
	h       HandlerID
	scratch []packet
}

// installAttacks adds the scenario's attacks to the run.
func installAttacks(r *runner) {
	sc := r.sc
	a := &attacks{r: r}
	for i := range sc.Attacks {
		vip, port, _ := sc.attackTarget()
		a.gens = append(a.gens, newAttacker(&sc.Attacks[i], i, sc.Seed, vip, port, r.end))
	}
	r.atk.Drops = map[string]uint64{}
	a.h = r.sched.Handle(a.arrive)
	r.on.start = append(r.on.start, a.start)
}

// start schedules every attack's first datagram.
func (a *attacks) start() {
	for i, g := range a.gens {
		if t := g.start + g.gap(); t < g.stop {
			a.r.sched.post(t, a.h, uint32(i))
		}
	}
}

// arrive sends attack i's next datagram to the NIC and schedules the one
// after, if it falls before the attack stops.
func (a *attacks) arrive(i uint32) {
	r := a.r
	g := a.gens[i]
	now := r.sched.Now()
	ps := g.datagram(a.scratch)
	a.scratch = ps
	r.atk.Packets += uint64(len(ps))
	for j := range ps {
		ps[j].arrive = now
		r.inject(&ps[j], nil)
	}
	if next := now + g.gap(); next < g.stop {
		r.sched.post(next, a.h, i)
	}
}
