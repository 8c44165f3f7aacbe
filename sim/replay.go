package sim

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
)

// replay is a run's trace: the frames, and the ground truth the simulator
// derives from their headers (flows, datagrams), since a trace carries no
// simulator bookkeeping.
type replay struct {
	r      *runner
	h      HandlerID
	pkts   []TracePacket // the frames replayed: At < duration
	meta   []traceMeta   // by packet
	groups []traceGroup  // fragmented datagrams
	next   int           // next packet to arrive
	svc    []uint16      // by flow: its service (noService: none); nil without services
}

// traceMeta is what the simulator knows of a trace packet.
type traceMeta struct {
	hdr   balancer.Packet // decoded once, read in order at arrival
	flow  uint32          // flow index
	group uint32          // fragmented datagram index+1; 0: not a fragment
	frag  uint16          // fragment index within the datagram
	ok    bool            // the frame decodes
}

// traceGroup is a fragmented datagram of the trace.
type traceGroup struct {
	n     uint16 // its fragments in the trace
	first bool   // one of them is at offset 0
	open  bool   // tracked by the run's dgrams ring
	id    uint64 // its number there
}

// flowKey is a flow's 5-tuple (ports 0 for protocols without them and for
// fragments whose first fragment is not in the trace); an IPv4 address
// is held IPv4-mapped.
type flowKey struct {
	src, dst   [16]byte
	proto      uint8
	sport, dpt uint16
}

// fragKey identifies a datagram's fragments: (src, dst, proto, IP ID),
// the IPv6 Fragment header's 32-bit Identification for IPv6.
type fragKey struct {
	src, dst [16]byte
	proto    uint8
	id       uint32
}

// groupState is a group being built.
type groupState struct {
	key       fragKey
	start     Time
	bytes     int
	total     int // datagram payload length, from the MF=0 fragment; -1: unknown
	n         int // fragments
	flow      uint32
	haveFirst bool
}

// newReplay prepares the packets of tr that arrive before dur: it names
// their flows (5-tuples; a fragment belongs to its datagram's flow, from
// its first fragment, or its 3-tuple without one) and groups fragments
// into datagrams by (src, dst, proto, IP ID). A group ends, and the next
// fragment with its key starts a new datagram, when it is complete (a
// first fragment, a last one, and as many payload bytes as the last one
// ends at), when timeout has passed since its first fragment, or at
// frag.MaxFragmentsLimit fragments. It returns the flow count and the
// largest group. Its allocations do not grow with the packets but with
// the flows and datagrams (maps and slices grown by doubling). It also
// returns the flows' keys, by flow.
func newReplay(tr *Trace, dur, timeout Time) (*replay, []flowKey, int) {
	end, _ := slices.BinarySearchFunc(tr.Packets, dur, func(p TracePacket, t Time) int { return cmp.Compare(p.At, t) })
	rp := &replay{pkts: tr.Packets[:end], meta: make([]traceMeta, end)}
	flows := map[flowKey]uint32{}
	var keys []flowKey
	flowOf := func(k flowKey) uint32 {
		f, ok := flows[k]
		if !ok {
			f = uint32(len(flows))
			flows[k] = f
			keys = append(keys, k)
		}
		return f
	}
	open := map[fragKey]int32{} // the key's current group
	var groups []groupState
	var order []uint32 // fragments, then sorted by (group, offset, position)
	var offs []uint16  // by packet: fragment offset
	for i := range rp.pkts {
		p := &rp.pkts[i]
		h, err := balancer.Decode(p.Frame)
		if err != nil {
			continue
		}
		rp.meta[i].hdr, rp.meta[i].ok = h, true
		s, d := h.Src.As16(), h.Dst.As16()
		if !h.IsFragment() {
			rp.meta[i].flow = flowOf(flowKey{s, d, h.Proto, h.SrcPort, h.DstPort})
			continue
		}
		if offs == nil {
			offs = make([]uint16, end)
		}
		k := fragKey{s, d, h.Proto, uint32(h.IPID)}
		data := int(h.Len) - int(h.IHL)*4
		if !h.Src.Is4() {
			k.id, data = h.FragID, fragData6(&h)
		}
		gi, ok := open[k]
		if ok {
			g := &groups[gi]
			ok = !(g.complete() || p.At-g.start > timeout || g.n >= frag.MaxFragmentsLimit)
		}
		if !ok {
			gi = int32(len(groups))
			groups = append(groups, groupState{key: k, start: p.At, total: -1})
			open[k] = gi
		}
		g := &groups[gi]
		g.bytes += data
		g.n++
		if !h.MoreFragments {
			g.total = int(h.FragOffset)*8 + data
		}
		if h.FragOffset == 0 && !g.haveFirst {
			g.haveFirst = true
			g.flow = flowOf(flowKey{s, d, h.Proto, h.SrcPort, h.DstPort})
		}
		rp.meta[i].group = uint32(gi) + 1
		offs[i] = h.FragOffset
		order = append(order, uint32(i))
	}
	// Fragment indexes by offset (ties: trace order); without a first
	// fragment index 0 stays empty, so that the datagram's
	// FragmentAccuracy is 0 as for a lost first fragment.
	slices.SortFunc(order, func(a, b uint32) int {
		if c := cmp.Compare(rp.meta[a].group, rp.meta[b].group); c != 0 {
			return c
		}
		if c := cmp.Compare(offs[a], offs[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	rp.groups = make([]traceGroup, len(groups))
	largest := 0
	for gi := range groups {
		g := &groups[gi]
		largest = max(largest, g.n)
		rp.groups[gi] = traceGroup{n: uint16(g.n), first: g.haveFirst}
		if !g.haveFirst {
			g.flow = flowOf(flowKey{g.key.src, g.key.dst, g.key.proto, 0, 0})
		}
	}
	prev, j := uint32(0), 0
	for _, i := range order {
		m := &rp.meta[i]
		if m.group != prev {
			prev, j = m.group, 0
			if !groups[m.group-1].haveFirst {
				j = 1
			}
		}
		m.flow, m.frag = groups[m.group-1].flow, uint16(j)
		j++
	}
	return rp, keys, largest
}

func (g *groupState) complete() bool {
	return g.haveFirst && g.total >= 0 && g.bytes >= g.total
}

// installReplay makes the scenario's trace the run's source: its flows,
// the backends' reassembly bound, and its arrivals.
func installReplay(r *runner) {
	tr := &r.sc.Traffic.Trace
	timeout := r.reasmOpts.Timeout
	if timeout == 0 {
		timeout = frag.DefaultTimeout
	}
	rp, keys, largest := newReplay(tr, r.dur, timeout)
	rp.r = r
	r.flows = make([]flow, len(keys))
	if r.svc != nil {
		// A flow is the service's whose (destination, port, protocol)
		// it has, installed or not.
		rp.svc = make([]uint16, len(keys))
		for f, k := range keys {
			rp.svc[f] = noService
			sk := balancer.ServiceKey{VIP: netip.AddrFrom16(k.dst).Unmap(), Port: k.dpt, Proto: k.proto}
			if i := r.sc.serviceIndex(sk); i >= 0 {
				rp.svc[f] = uint16(i)
			}
		}
	}
	if r.sc.Reassembly.MaxFragments == 0 {
		r.reasmOpts.MaxFragments = min(max(frag.DefaultMaxFragments, largest), frag.MaxFragmentsLimit)
	}
	rp.h = r.sched.Handle(rp.arrive)
	r.on.start = append(r.on.start, rp.start)
}

// start schedules the trace's first arrival.
func (rp *replay) start() {
	if len(rp.pkts) > 0 {
		rp.r.sched.post(rp.pkts[0].At, rp.h, 0)
	}
}

// arrive hands the NIC every trace packet arriving now, in trace order
// (as a generated datagram's fragments arrive in one event), then
// schedules the next arrival.
func (rp *replay) arrive(uint32) {
	r := rp.r
	now := r.sched.Now()
	for rp.next < len(rp.pkts) && rp.pkts[rp.next].At <= now {
		rp.packet(rp.next, now)
		rp.next++
	}
	if rp.next < len(rp.pkts) && r.err == nil {
		r.sched.post(rp.pkts[rp.next].At, rp.h, 0)
	}
}

// packet replays trace packet i: a frame that does not decode is a drop
// with the decoder's reason; others go to the NIC with their flow and
// datagram.
func (rp *replay) packet(i int, now Time) {
	r := rp.r
	tp := &rp.pkts[i]
	r.packets++
	m := &rp.meta[i]
	if !m.ok {
		_, err := balancer.Decode(tp.Frame)
		r.refuse(&packet{arrive: now}, tp.Frame, undecodable(err))
		return
	}
	p := packet{hdr: m.hdr, arrive: now, flow: m.flow}
	var st *svcStats
	if rp.svc != nil {
		p.svc = rp.svc[m.flow]
		st = r.svc.stats(&p)
	}
	if st != nil {
		st.packets++
		if m.group != 0 {
			st.fragments++
			if !rp.groups[m.group-1].open {
				st.datagrams++
			}
		} else {
			st.datagrams++
		}
	}
	if m.group == 0 {
		r.datagrams++
	} else {
		r.fragments++
		g := &rp.groups[m.group-1]
		if !g.open {
			g.open = true
			g.id = r.dgrams.open(int(g.n))
			if !g.first {
				d := r.dgrams.slot(g.id)
				d.dest = append(d.dest, -1)
			}
			r.datagrams++
		}
		// nfrag > 1 marks a fragment for the run; a datagram with one
		// fragment in the trace is one too (its dgrams record counts 1).
		p.dgram, p.frag, p.nfrag = g.id, m.frag, max(g.n, 2)
	}
	r.inject(&p, tp.Frame)
}

// DropUndecodable prefixes the drop reason of a trace frame that
// [balancer.Decode] rejects: "undecodable: " + the malformed field + ": "
// + why, e.g. "undecodable: ipv4.total_length: total length inconsistent".
const DropUndecodable = "undecodable: "

func undecodable(err error) string {
	var de *balancer.DecodeError
	if errors.As(err, &de) {
		return DropUndecodable + de.Field + ": " + de.Err.Error()
	}
	return DropUndecodable + err.Error()
}
