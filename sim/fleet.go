package sim

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/enum"
	"github.com/titanlb/titanlb/internal/murmur"
)

// Fleet limits; [Scenario.Validate] names the field that exceeds one.
const (
	MaxNodes     = 1024    // Fleet.Nodes
	MaxFleetCPUs = 1 << 16 // Fleet.Nodes × Node.CPUs
)

// Drop reasons of a fleet, counted in [Result.Drops].
const (
	DropNodeDown = "node down"  // queued or in service on a node when it failed
	DropNoNode   = "no LB node" // the router had no node up to send it to
)

// Fleet is a set of identical load-balancer nodes behind an ECMP router
// (docs/simulation.md, Fleet). Each node is a [Node] with its
// own balancer instance from the scenario's constructor. The zero Fleet
// is one node: a plain single-node run.
type Fleet struct {
	// Nodes is the number of LB nodes; 0 means 1. At most MaxNodes, and
	// Nodes × Node.CPUs at most MaxFleetCPUs.
	Nodes int `json:",omitempty"`
	// ECMP is how the router hashes fragments; whole packets are always
	// hashed on their 5-tuple.
	ECMP ECMPMode `json:",omitempty"`
	// Resilient makes the router's next-hop group resilient (a bucket
	// table, like Linux's resilient nexthop groups): a node change moves
	// only the flows of the buckets it gives up or takes. Without it the
	// router uses hash-threshold (RFC 2992, Linux's default multipath), so
	// a change in the number of nodes moves flows among all of them.
	Resilient bool `json:",omitempty"`
	// Events are timed node failures and additions, applied in time
	// order (ties: in slice order, after the scenario's backend Events).
	// A node to be added mid-run starts out with NodeDown(0, n).
	Events []NodeEvent `json:",omitempty"`
}

// ECMPMode is the router's hash for fragments. A whole packet is always
// hashed on its 5-tuple (addresses, protocol, ports).
type ECMPMode uint8

// The ECMP hash modes.
const (
	// ECMP3Tuple hashes every fragment, the first included, on (source,
	// destination, protocol), as Linux does with
	// fib_multipath_hash_policy=1: a datagram's fragments share a node,
	// which is usually not its flow's.
	ECMP3Tuple ECMPMode = iota
	// ECMP2Tuple hashes every fragment on (source, destination) only.
	ECMP2Tuple
	// ECMP5Tuple hashes every packet on the 5-tuple it carries: a first
	// fragment with its ports (so it goes where its flow goes), later
	// fragments with ports 0 (so they usually go elsewhere), as a router
	// that reads L4 ports whenever they are present does. A datagram's
	// fragments are split across nodes.
	ECMP5Tuple
	numECMPModes
)

var ecmpNames = [numECMPModes]string{"3-tuple", "2-tuple", "5-tuple"}

// String returns "3-tuple", "2-tuple" or "5-tuple".
func (m ECMPMode) String() string { return enum.String(ecmpNames[:], m, "ecmp") }

// MarshalText encodes the mode as its String.
func (m ECMPMode) MarshalText() ([]byte, error) {
	if m >= numECMPModes {
		return nil, fmt.Errorf("sim: unknown ECMP mode %d", uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText decodes "3-tuple", "2-tuple" or "5-tuple".
func (m *ECMPMode) UnmarshalText(b []byte) error {
	for i, n := range ecmpNames {
		if string(b) == n {
			*m = ECMPMode(i)
			return nil
		}
	}
	return fmt.Errorf("sim: unknown ECMP mode %q", b)
}

// NodeEvent is a timed change to the fleet: node Node (from 0) fails
// (Up false) or joins (Up true) the router's next-hop group. A failed node
// loses the packets it holds and its balancer's state; a joining node
// starts with a fresh balancer from the scenario's constructor, given the
// current backend set. An event that does not change the node's state
// does nothing.
type NodeEvent struct {
	At   Time
	Node int
	Up   bool
}

// NodeDown returns the event that fails node n at time at.
func NodeDown(at Time, n int) NodeEvent { return NodeEvent{At: at, Node: n} }

// NodeUp returns the event that adds node n (back) at time at.
func NodeUp(at Time, n int) NodeEvent { return NodeEvent{At: at, Node: n, Up: true} }

// FleetResult is what a fleet run measured besides the fleet-wide
// [Result] figures (docs/simulation.md, Fleet). It is left
// zero by a run without a Fleet.
type FleetResult struct {
	// Nodes is each node's load, by node number.
	Nodes []NodeResult
	// Imbalance is the most packets any node processed over the mean of
	// the nodes that processed any (1: perfectly even).
	Imbalance float64
	// Rehomed counts the moves of flows between nodes: a whole packet
	// of a flow that has a backend delivered through another node than
	// the flow's previous whole packet.
	Rehomed uint64
	// Broken counts the flows that a move between nodes broke: the
	// packet that moved reached a backend other than the flow's while
	// that backend was up, and no backend change came between it and
	// the flow's previous packet, so what kept the flow on its backend
	// was state that lived only on the old node. Each flow counts once,
	// and only if it was not disrupted before; these flows are in
	// Result.Disrupted too. A flow idle across both a backend change and
	// a move is left out: the backend change alone may have moved it.
	Broken uint64
	// Split counts the fragmented datagrams whose fragments were
	// processed by more than one node.
	Split uint64
}

// NodeResult is one LB node's load.
type NodeResult struct {
	// Processed counts the packets its balancer ran on (attack traffic
	// included: it is load).
	Processed uint64
	// Delivered counts its legitimate packets that reached an up backend.
	Delivered uint64
	// CPUUtil is its CPUs' mean busy time / End.
	CPUUtil float64
	// Up is whether the node was in the router's group at the end.
	Up bool
}

func (f *Fleet) nodes() int { return orDefault(f.Nodes, 1) }

// active reports whether f asks for anything beyond a plain single node.
func (f *Fleet) active() bool {
	return f.Nodes != 0 || f.ECMP != 0 || f.Resilient || len(f.Events) > 0
}

func (f *Fleet) validate(dur Time, cpus int) error {
	if f.Nodes < 0 || f.Nodes > MaxNodes {
		return bad("fleet.nodes", f.Nodes, "must be between 1 and %d (0: 1)", MaxNodes)
	}
	n := f.nodes()
	if n*cpus > MaxFleetCPUs {
		return bad("fleet.nodes", f.Nodes, "%d nodes of %d CPUs exceed %d CPUs", n, cpus, MaxFleetCPUs)
	}
	if f.ECMP >= numECMPModes {
		return bad("fleet.ecmp", uint8(f.ECMP), "unknown ECMP mode")
	}
	for i, ev := range f.Events {
		fld := fmt.Sprintf("fleet.events[%d]", i)
		if ev.At < 0 || ev.At > dur {
			return bad(fld+".at", ev.At, "must be between 0 and the duration %v", dur)
		}
		if ev.Node < 0 || ev.Node >= n {
			return bad(fld+".node", ev.Node, "must be between 0 and %d (fleet.nodes - 1)", n-1)
		}
	}
	return nil
}

// fleet is a run's fleet state: the router, the node events and the fleet
// metrics; the nodes' balancers are the runner's (runner.nodes). A run
// without a Fleet has none: one node, RSS only.
type fleet struct {
	r      *runner
	newLB  func() (balancer.Balancer, error)
	mode   ECMPMode
	cpn    int // CPUs per node
	nodes  []fleetNode
	up     []int32 // numbers of the nodes in the group, ascending
	events []NodeEvent
	hNode  HandlerID
	cur    int // node of the packet being done

	// resilient next-hop group: bucket -> node; nil for hash-threshold
	buckets []int32
	counts  []int // buckets per node

	flowNode []flowSeen // per flow: where its latest delivered whole packet went
	split    []splitSlot
	lost     []bool // per CPU: the packet in service belongs to a failed node

	rehomed, broken, nsplit uint64
}

// flowSeen is the node (number+1; 0: none) of a flow's latest delivered
// whole packet and the backend-set epoch (runner.epoch) it was delivered
// in.
type flowSeen struct {
	node, epoch uint16
}

// fleetNode is a node's load.
type fleetNode struct {
	processed, delivered uint64
}

// splitSlot tracks the node of a fragmented datagram's first processed
// fragment: node+1; 0: empty; -1: already counted as split.
type splitSlot struct {
	id   uint64
	node int32
}

// installFleet makes r's node the first of the scenario's fleet: the
// other nodes get their own balancers from newLB, and the router, the
// node events and the fleet's bookkeeping join the run (hooks.go).
func installFleet(r *runner, newLB func() (balancer.Balancer, error)) error {
	fs := &r.sc.Fleet
	k := fs.nodes()
	f := &fleet{
		r:     r,
		newLB: newLB,
		mode:  fs.ECMP,
		cpn:   r.sc.Node.cpus(),
		nodes: make([]fleetNode, k),
		lost:  make([]bool, len(r.cpus)),
	}
	r.nodes = make([]lbNode, k)
	for i := range r.nodes {
		n := &r.nodes[i]
		n.up = true
		n.label = fmt.Sprintf("node %d: ", i)
		if i == 0 {
			n.lb = r.lb
		} else if err := f.fresh(i); err != nil {
			return err
		}
		f.up = append(f.up, int32(i))
	}
	if fs.Resilient {
		nb := 256
		for nb < 64*k {
			nb *= 2
		}
		f.buckets = make([]int32, nb)
		f.counts = make([]int, k)
		for b := range f.buckets {
			n := b * k / nb
			f.buckets[b] = int32(n)
			f.counts[n]++
		}
	}
	f.events = slices.Clone(fs.Events)
	slices.SortStableFunc(f.events, func(a, b NodeEvent) int { return cmp.Compare(a.At, b.At) })
	f.hNode = r.sched.Handle(f.nodeEvent)
	r.route = f.route
	r.on.start = append(r.on.start, f.start)
	r.on.leave = append(r.on.leave, f.leave)
	r.on.deliver = append(r.on.deliver, f.deliver)
	r.on.finish = append(r.on.finish, f.finish)
	return nil
}

// fresh gives node i a new balancer.
func (f *fleet) fresh(i int) error {
	lb, err := f.newLB()
	if err != nil {
		return fmt.Errorf("sim: new balancer for node %d: %w", i, err)
	}
	if lb == nil {
		return fmt.Errorf("sim: newLB returned a nil balancer for node %d", i)
	}
	f.r.nodes[i].lb = lb
	for c := i * f.cpn; c < (i+1)*f.cpn; c++ {
		f.r.cpus[c].lb = lb
	}
	return nil
}

// ecmpSeed keys the router's hash, independent of RSS and of the
// balancers' flow hash.
const ecmpSeed = 0x45434d50 // "ECMP"

// ecmpHash is the router's hash of p under mode m; an IPv6 packet's
// addresses are hashed whole, as Linux's fib6_multipath_hash does.
func ecmpHash(p *balancer.Packet, m ECMPMode) uint64 {
	var h uint64
	if p.Src.Is4() {
		s, d := p.Src.As4(), p.Dst.As4()
		h = murmur.Fmix64(ecmpSeed ^ (uint64(s[0])<<24 | uint64(s[1])<<16 | uint64(s[2])<<8 | uint64(s[3])))
		h = murmur.Fmix64(h ^ (uint64(d[0])<<24 | uint64(d[1])<<16 | uint64(d[2])<<8 | uint64(d[3])))
	} else {
		h = murmur.Fmix64(addrHash6(ecmpSeed, p))
	}
	switch {
	case !p.IsFragment() || m == ECMP5Tuple:
		h ^= uint64(p.Proto)<<32 | uint64(p.SrcPort)<<16 | uint64(p.DstPort)
	case m == ECMP3Tuple:
		h ^= uint64(p.Proto) << 32
	}
	return murmur.Fmix64(h)
}

// route returns the CPU, across the fleet, that p arrives on: the router
// picks a node, the node's RSS a CPU; -1 when no node is up.
func (f *fleet) route(p *balancer.Packet) int {
	if len(f.up) == 0 {
		return -1
	}
	h := ecmpHash(p, f.mode)
	var n int
	if f.buckets != nil {
		n = int(f.buckets[h&uint64(len(f.buckets)-1)])
	} else {
		hi, _ := bits.Mul64(h, uint64(len(f.up)))
		n = int(f.up[hi])
	}
	return n*f.cpn + rss(p, f.cpn)
}

// start schedules the node events. The run's flows are known by now
// (generated, or read from a trace).
func (f *fleet) start() {
	f.flowNode = make([]flowSeen, len(f.r.flows))
	for i, ev := range f.events {
		f.r.sched.post(ev.At, f.hNode, uint32(i))
	}
}

// nodeEvent applies node event i.
func (f *fleet) nodeEvent(i uint32) {
	r := f.r
	ev := f.events[i]
	n := &r.nodes[ev.Node]
	if n.up == ev.Up {
		return
	}
	n.up = ev.Up
	if !ev.Up {
		f.up = slices.DeleteFunc(f.up, func(x int32) bool { return int(x) == ev.Node })
		f.fail(ev.Node)
		f.regroupDown(ev.Node)
		return
	}
	up, _ := slices.BinarySearch(f.up, int32(ev.Node))
	f.up = slices.Insert(f.up, up, int32(ev.Node))
	f.regroupUp(ev.Node)
	err := f.fresh(ev.Node)
	if err == nil {
		err = r.configure(n.lb)
	}
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("sim: %s: node up at scenario.fleet.events %v node %d: %w", r.lb.Name(), ev.At, ev.Node, err)
	}
}

// fail drops what node k holds: its queued packets now, the ones in
// service when their service ends (their end is scheduled already).
func (f *fleet) fail(k int) {
	r := f.r
	for c := k * f.cpn; c < (k+1)*f.cpn; c++ {
		cp := &r.cpus[c]
		f.lost[c] = cp.busy()
		// The packet in service (the head) stays until its service
		// ends; the ones waiting behind it are lost now.
		for j := 1; j < cp.n; j++ {
			q := cp.head + j
			if q >= len(cp.queue) {
				q -= len(cp.queue)
			}
			r.drop(DropNodeDown, &cp.queue[q])
		}
		cp.n = min(cp.n, 1)
	}
}

// regroupDown moves a failed node's buckets to the nodes still up, round
// robin from the least loaded.
func (f *fleet) regroupDown(k int) {
	if f.buckets == nil || len(f.up) == 0 {
		return
	}
	j := 0
	for b, n := range f.buckets {
		if int(n) != k {
			continue
		}
		to := f.up[j%len(f.up)]
		j++
		f.buckets[b] = to
		f.counts[to]++
	}
	f.counts[k] = 0
}

// regroupUp gives a joining node its share of the buckets, taken in bucket
// order from the nodes that hold more than their share.
func (f *fleet) regroupUp(k int) {
	if f.buckets == nil {
		return
	}
	if len(f.up) == 1 {
		for b := range f.buckets {
			f.buckets[b] = int32(k)
		}
		clear(f.counts)
		f.counts[k] = len(f.buckets)
		return
	}
	share := len(f.buckets) / len(f.up)
	for b, n := range f.buckets {
		if f.counts[k] >= share {
			break
		}
		if int(n) != k && f.counts[n] > share {
			f.counts[n]--
			f.buckets[b] = int32(k)
			f.counts[k]++
		}
	}
}

// leave is called when CPU c ends p's service: it counts the packet for
// its node and turns its decision into a drop when it was lost with a
// failed node.
func (f *fleet) leave(c int, p *packet, dec *balancer.Decision) {
	f.cur = c / f.cpn
	f.nodes[f.cur].processed++
	if f.lost[c] {
		f.lost[c] = false
		*dec = balancer.Decision{Action: balancer.Drop, Reason: DropNodeDown}
		return
	}
	if p.nfrag > 1 && !p.attack {
		f.splitTrack(p.dgram, int32(f.cur))
	}
}

// splitTrack notes that a fragment of datagram id went through node n and
// counts the datagram once when a second node sees it. The table is at
// least as large as the run's ring of datagrams in flight, so two live
// datagrams never share a slot.
func (f *fleet) splitTrack(id uint64, n int32) {
	if ring := len(f.r.dgrams.ring); len(f.split) < ring {
		f.growSplit(ring)
	}
	s := &f.split[id&uint64(len(f.split)-1)]
	if s.node == 0 || s.id != id {
		*s = splitSlot{id: id, node: n + 1}
		return
	}
	if s.node > 0 && s.node != n+1 {
		f.nsplit++
		s.node = -1
	}
}

// growSplit resizes the datagram-node table to size (a power of two, like
// the datagram ring). Entries keep their relative slots: ids that differ
// modulo the old size differ modulo the new one.
func (f *fleet) growSplit(size int) {
	old := f.split
	f.split = make([]splitSlot, size)
	for _, s := range old {
		if s.node != 0 {
			f.split[s.id&uint64(size-1)] = s
		}
	}
}

// deliver scores the node change of a legitimate packet p delivered to
// backend index i, before [runner.score] updates the flow's backend: a
// whole packet of a flow with a backend that comes through another node
// than the flow's previous whole packet is a move. The move broke the flow
// when the packet reached another backend than the flow's, still up,
// while the flow was intact (score then marks it disrupted, so it counts
// once) and no backend set was handed out since the previous packet: the
// backend change alone would not have moved it, the lost state did.
func (f *fleet) deliver(p *packet, i int32) {
	r := f.r
	f.nodes[f.cur].delivered++
	if p.hdr.IsFragment() {
		return
	}
	fs := &f.flowNode[p.flow]
	prev, node := *fs, uint16(f.cur+1)
	*fs = flowSeen{node: node, epoch: r.epoch}
	fl := &r.flows[p.flow]
	if fl.owner == 0 || prev.node == 0 || prev.node == node {
		// A flow with no backend (new, renewed or moved off a failed
		// backend) starts over wherever it is.
		return
	}
	f.rehomed++
	if fl.owner != i+1 && fl.flags&flowDisrupted == 0 && prev.epoch == r.epoch && r.usable(p, fl.owner-1) {
		f.broken++
	}
}

// finish fills res.Fleet.
func (f *fleet) finish(res *Result) {
	r := f.r
	fr := FleetResult{
		Nodes:   make([]NodeResult, len(f.nodes)),
		Rehomed: f.rehomed,
		Broken:  f.broken,
		Split:   f.nsplit,
	}
	var maxLoad, sum, n float64
	for i := range f.nodes {
		nd := &f.nodes[i]
		var busy Time
		for c := i * f.cpn; c < (i+1)*f.cpn; c++ {
			busy += r.cpus[c].busyTime
		}
		fr.Nodes[i] = NodeResult{
			Processed: nd.processed,
			Delivered: nd.delivered,
			CPUUtil:   ratio(float64(busy), float64(r.end)*float64(f.cpn)),
			Up:        r.nodes[i].up,
		}
		if nd.processed > 0 {
			maxLoad = math.Max(maxLoad, float64(nd.processed))
			sum += float64(nd.processed)
			n++
		}
	}
	fr.Imbalance = ratio(maxLoad, ratio(sum, n))
	res.Fleet = fr
}
