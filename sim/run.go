package sim

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/frag"
)

// Drop reasons the simulator itself counts in [Result.Drops], besides the
// balancer's own Decision.Reason strings and the backends' reassembly
// reasons ("reassembly: " + [frag.DropReason]).
const (
	DropQueueFull      = "queue full"        // the packet's RX queue was full
	DropBalancer       = "balancer drop"     // a Drop decision with no Reason
	DropPassed         = "passed to host"    // a Pass decision: not load-balanced
	DropUnknownBackend = "unknown backend"   // forwarded to an ID not in the scenario
	DropBackendDown    = "backend down"      // forwarded to a backend that is down
	DropMixed          = "reassembly: mixed" // reassembled from two datagrams sharing an IP ID
	reassemblyPrefix   = "reassembly: "
)

// Run simulates sc with a balancer from newLB and returns what it
// measured. newLB is called once per node of Scenario.Fleet (once
// without a Fleet), and again for each node that joins mid-run; Run gives
// each balancer the scenario's backends with SetBackends (with
// Scenario.Services, the services with SetServices: a balancer that does
// not implement [balancer.ServiceSetter] is an error naming it), then
// again at every control event. An invalid scenario is a
// [*ScenarioError]; a balancer that cannot be built or rejects a backend
// or service set is an error naming the event.
//
// The same scenario and balancer give the same Result. Run does not
// allocate per packet once its queues and tables have reached their
// working size.
func Run(sc Scenario, newLB func() (balancer.Balancer, error)) (Result, error) {
	return run(sc, newLB, nil)
}

// run is [Run], recording every packet into rec when it is not nil
// ([RunRecorded]).
func run(sc Scenario, newLB func() (balancer.Balancer, error), rec *recorder) (Result, error) {
	if err := sc.Validate(); err != nil {
		return Result{}, err
	}
	if newLB == nil {
		return Result{}, errors.New("sim: newLB is nil")
	}
	lb, err := newLB()
	if err != nil {
		return Result{}, fmt.Errorf("sim: new balancer: %w", err)
	}
	if lb == nil {
		return Result{}, errors.New("sim: newLB returned a nil balancer")
	}
	r, err := newRunner(&sc, lb, newLB, rec)
	if err != nil {
		return Result{}, err
	}
	if err := r.run(); err != nil {
		return Result{}, err
	}
	return r.result(), nil
}

// runner is one run's state.
type runner struct {
	sc        *Scenario
	lb        balancer.Balancer // node 0's first balancer: Result.Balancer
	model     cost.Model
	nsPerSTU  float64 // model.NsPerSTU, 0 read as 1: see serviceTime
	sched     Scheduler
	hDone     HandlerID
	hControl  HandlerID
	on        hooks                        // the optional parts (hooks.go)
	svc       *services                    // Scenario.Services; nil: the catch-all
	route     func(p *balancer.Packet) int // the CPU a packet arrives on: RSS, or a fleet's router then RSS; -1: none
	nodes     []lbNode                     // one, or a Fleet's
	flows     []flow                       // the traffic's flows, generated or from a trace
	cpus      []cpu                        // node-major
	backends  []backend
	idIndex   []int32                      // BackendID -> index+1, for IDs below len
	idMap     map[balancer.BackendID]int32 // index+1, for larger IDs
	events    []Event                      // sorted by time, stable
	dgrams    dgrams
	dur       Time // Scenario.Duration after defaults
	reasmOpts frag.ReassemblerOptions
	end       Time
	err       error
	epoch     uint16 // backend sets handed out so far (wraps)

	// counters
	datagrams, packets, fragments uint64
	processed, delivered, affine  uint64
	fragAccurate                  uint64
	disrupted, moved, newFlows    uint64
	drops, atkDrops               counts // by reason: Result.Drops, Result.Attack.Drops
	ops                           cost.Meter
	costHist, latHist             histogram
	atk                           AttackResult // packets of Scenario.Attacks, counted apart
}

// lbNode is a load balancer node's balancer: the run's only node, or one
// of a Fleet's.
type lbNode struct {
	lb    balancer.Balancer
	up    bool
	label string // "node N: " in a fleet, for errors
}

// newRunner sets a run up: the node's CPUs and balancer, the backends,
// the control events, then the optional parts (hooks.go) in the order
// their first events are posted.
func newRunner(sc *Scenario, lb balancer.Balancer, newLB func() (balancer.Balancer, error), rec *recorder) (*runner, error) {
	r := &runner{
		sc:        sc,
		lb:        lb,
		model:     sc.costModel(),
		dur:       sc.duration(),
		reasmOpts: sc.reassembly(),
		end:       sc.duration(),
		nodes:     []lbNode{{lb: lb, up: true}},
	}
	r.nsPerSTU = cmp.Or(r.model.NsPerSTU, 1)
	r.hDone = r.sched.Handle(r.done)
	r.hControl = r.sched.Handle(r.control)

	ql := sc.Node.queueLen()
	ncpu := sc.Node.cpus()
	r.cpus = make([]cpu, ncpu*sc.Fleet.nodes()) // node-major
	for i := range r.cpus {
		c := &r.cpus[i]
		c.limit = ql
		c.meter, c.atkMeter = cost.NewMeter(r.model), cost.NewMeter(r.model)
		c.env = balancer.Env{CPU: i % ncpu, Meter: c.meter}
		c.lb = lb
	}
	r.route = func(p *balancer.Packet) int { return rss(p, ncpu) }
	if sc.servicesMode() {
		r.svc = installServices(r)
	} else {
		r.backends = make([]backend, len(sc.Backends))
		for i, b := range sc.Backends {
			r.backends[i] = backend{b: b, name: b.RingName()}
		}
	}
	var maxID balancer.BackendID
	for i := range r.backends {
		maxID = max(maxID, r.backends[i].b.ID)
	}
	if maxID < 1<<16 {
		r.idIndex = make([]int32, maxID+1)
	} else {
		r.idMap = make(map[balancer.BackendID]int32, len(r.backends))
	}
	for i := range r.backends {
		if id := r.backends[i].b.ID; r.idIndex != nil {
			r.idIndex[id] = int32(i) + 1
		} else {
			r.idMap[id] = int32(i) + 1
		}
	}
	r.events = slices.Clone(sc.Events)
	slices.SortStableFunc(r.events, func(a, b Event) int {
		return cmp.Compare(a.At, b.At)
	})

	if sc.Fleet.active() {
		if err := installFleet(r, newLB); err != nil {
			return nil, err
		}
	}
	if len(sc.Traffic.Trace.Packets) > 0 {
		installReplay(r)
	} else {
		installGenerator(r)
	}
	if len(sc.Attacks) > 0 {
		installAttacks(r)
	}
	if rec != nil {
		rec.install(r)
	}
	return r, nil
}

// backendIndex returns the index of backend id, or -1.
func (r *runner) backendIndex(id balancer.BackendID) int {
	if r.idIndex != nil {
		if int(id) < len(r.idIndex) {
			return int(r.idIndex[id]) - 1
		}
		return -1
	}
	return int(r.idMap[id]) - 1
}

func (r *runner) run() error {
	if err := r.setBackends(); err != nil {
		if r.svc != nil {
			return fmt.Errorf("sim: %s: SetServices(scenario.services): %w", r.lb.Name(), err)
		}
		return fmt.Errorf("sim: %s: SetBackends(scenario.backends): %w", r.lb.Name(), err)
	}
	for i, ev := range r.events {
		r.sched.post(ev.At, r.hControl, uint32(i))
	}
	for _, start := range r.on.start {
		start()
	}
	for {
		it, ok := r.sched.next()
		if !ok {
			break
		}
		if it.kind == uint32(r.hDone) { // most events: spare the indirect call
			r.done(it.arg)
		} else {
			r.sched.dispatch(it)
		}
	}
	if r.err != nil {
		return r.err
	}
	for i := range r.cpus {
		r.ops.Add(r.cpus[i].meter)
	}
	r.end = max(r.end, r.sched.Now())
	for i := range r.backends {
		if ra := r.backends[i].reasm; ra != nil {
			ra.Flush()
		}
	}
	return nil
}

// setBackends hands every node up a fresh copy of the whole backend set
// (a balancer may keep the slice it is given), or of the services.
func (r *runner) setBackends() error {
	r.epoch++
	for i := range r.nodes {
		if n := &r.nodes[i]; n.up {
			if err := r.configure(n.lb); err != nil {
				return fmt.Errorf("%s%w", n.label, err)
			}
		}
	}
	return nil
}

// configure hands lb the current backend set, or the current services.
func (r *runner) configure(lb balancer.Balancer) error {
	if r.svc == nil {
		return lb.SetBackends(r.backendSet())
	}
	ss, ok := lb.(balancer.ServiceSetter)
	if !ok {
		return fmt.Errorf("%s does not implement balancer.ServiceSetter: scenario.services needs it", lb.Name())
	}
	return ss.SetServices(r.svc.set())
}

// backendSet returns a copy of the current backend set.
func (r *runner) backendSet() []balancer.Backend {
	bs := make([]balancer.Backend, len(r.backends))
	for i := range r.backends {
		bs[i] = r.backends[i].b
	}
	return bs
}

// control applies event i and hands the new backend set (or services) to
// the balancer.
func (r *runner) control(i uint32) {
	ev := r.events[i]
	switch ev.Kind {
	case EventBackendDown:
		r.backends[r.backendIndex(ev.Backend)].b.Up = false
	case EventBackendUp:
		r.backends[r.backendIndex(ev.Backend)].b.Up = true
	case EventSetWeight:
		if r.svc == nil {
			r.backends[r.backendIndex(ev.Backend)].b.Weight = ev.Weight
		}
	}
	if r.svc != nil {
		r.svc.apply(&ev)
	}
	if err := r.setBackends(); err != nil && r.err == nil {
		if r.svc != nil {
			r.err = fmt.Errorf("sim: %s: SetServices at scenario.events %v %s %d %v: %w", r.lb.Name(), ev.At, ev.Kind, ev.Backend, ev.Service, err)
			return
		}
		r.err = fmt.Errorf("sim: %s: SetBackends at scenario.events %v %s %d: %w", r.lb.Name(), ev.At, ev.Kind, ev.Backend, err)
	}
}

// inject hands p, arriving now, to the NIC: RSS picks its CPU (behind a
// fleet's router), which starts it at once if idle, else queues it, else
// drops it. frame is p's captured frame, nil for a generated packet.
func (r *runner) inject(p *packet, frame []byte) {
	for _, arrive := range r.on.arrive {
		arrive(p, frame)
	}
	c := r.route(&p.hdr)
	if c < 0 {
		r.drop(DropNoNode, p)
		return
	}
	cp := &r.cpus[c]
	if !cp.push(p) {
		r.drop(DropQueueFull, p)
		return
	}
	if cp.n == 1 { // the CPU was idle
		r.start(c)
	}
}

// refuse counts p, arriving now with frame, as lost for reason before the
// NIC: a trace frame that does not decode.
func (r *runner) refuse(p *packet, frame []byte, reason string) {
	for _, arrive := range r.on.arrive {
		arrive(p, frame)
	}
	r.drop(reason, p)
}

// start runs the balancer on CPU c's current packet and schedules the end
// of its service: its metered cost times NsPerSTU.
func (r *runner) start(c int) {
	cp := &r.cpus[c]
	p := cp.cur()
	// The CPU's meters run for the whole run, legitimate packets apart
	// from an attack's: a packet costs what its Process adds.
	m := cp.meter
	if p.attack {
		m = cp.atkMeter
	}
	cp.env.Meter = m
	cp.env.Now = r.sched.Now()
	cp.hdr = p.hdr // the balancer gets a copy: what it writes does not change the bookkeeping
	before := m.Total()
	cp.dec = cp.lb.Process(&cp.env, &cp.hdr)
	stu := m.Total() - before
	cp.stu = stu
	if p.attack {
		r.atk.Processed++
		r.atk.Cost += stu
	} else {
		r.costHist.add(uint64(stu))
		r.processed++
	}
	d := r.serviceTime(stu)
	cp.busyTime += d
	r.sched.post(r.sched.Now()+d, r.hDone, uint32(c))
}

// serviceTime is r.model.Duration(s), the simulated time a packet of
// price s takes. Calling the method on the field would copy the whole
// model (a value receiver) for every packet; TestServiceTime checks that
// the two agree.
func (r *runner) serviceTime(s cost.STU) time.Duration {
	return time.Duration(float64(s)*r.nsPerSTU + 0.5)
}

// done ends CPU c's service: the decided packet leaves the node, and the
// next queued one starts.
func (r *runner) done(c uint32) {
	cp := &r.cpus[c]
	p := cp.cur()
	for _, leave := range r.on.leave {
		leave(int(c), p, &cp.dec)
	}
	if !p.attack {
		r.latHist.add(uint64(r.sched.Now() - p.arrive))
	}
	switch cp.dec.Action {
	case balancer.Forward:
		r.deliver(cp.dec.Backend, p)
	case balancer.Pass:
		r.drop(DropPassed, p)
	default:
		reason := cp.dec.Reason
		if reason == "" {
			reason = DropBalancer
		}
		r.drop(reason, p)
	}
	cp.pop()
	if cp.n > 0 {
		r.start(int(c))
	}
}

// drop counts a lost packet and resolves it if it is a fragment.
func (r *runner) drop(reason string, p *packet) {
	for _, drop := range r.on.drop {
		drop(p, reason)
	}
	if p.attack {
		r.atkDrops.add(reason)
		return
	}
	r.drops.add(reason)
	if p.nfrag > 1 {
		r.resolve(p, -1)
	}
}

// resolve records where fragment p ended up (backend index, or -1) and,
// when it is its datagram's last to be resolved, scores the datagram's
// FragmentAccuracy.
func (r *runner) resolve(p *packet, be int32) {
	g := r.dgrams.slot(p.dgram)
	g.dest[p.frag] = be
	g.left--
	if g.left > 0 {
		return
	}
	if first := g.dest[0]; first >= 0 {
		for _, d := range g.dest {
			if d == first {
				r.fragAccurate++
			}
		}
	}
	g.live = false
}

// deliver hands p to backend id: it counts it, scores affinity and
// disruption against the flow's backend, and reassembles fragments.
func (r *runner) deliver(id balancer.BackendID, p *packet) {
	i := r.backendIndex(id)
	if i < 0 {
		r.drop(DropUnknownBackend, p)
		return
	}
	b := &r.backends[i]
	if !b.b.Up {
		r.drop(DropBackendDown, p)
		return
	}
	if p.attack {
		r.atk.Delivered++
		if p.hdr.IsFragment() {
			r.reassemble(b, p)
		}
		return
	}
	r.delivered++
	b.packets++
	for _, deliver := range r.on.deliver {
		deliver(p, int32(i))
	}
	r.score(p, int32(i))
	if p.nfrag <= 1 {
		b.whole++
		return
	}
	r.resolve(p, int32(i))
	r.reassemble(b, p)
}

// reassemble hands fragment p to backend b's reassembler (made on its
// first fragment) and counts the datagram it completes, if any.
func (r *runner) reassemble(b *backend, p *packet) {
	if b.reasm == nil {
		// Created on the first fragment: a backend's reassembler is
		// a few hundred kB. The options were validated.
		b.reasm, _ = frag.NewReassembler(r.reasmOpts)
	}
	h := &p.hdr
	f := frag.Fragment{Offset: h.FragOffset, More: h.MoreFragments, Tag: p.dgram}
	if h.Src.Is4() {
		f.Key = frag.KeyFrom4(h.Src.As4(), h.Dst.As4(), h.Proto, h.IPID)
		f.Len = int(h.Len) - int(h.IHL)*4
	} else {
		f.Key = frag.KeyFrom16(h.Src.As16(), h.Dst.As16(), h.Proto, h.FragID)
		f.Len = fragData6(h)
	}
	d := b.reasm.Add(r.sched.Now(), f)
	if r.svc != nil {
		r.svc.reassembled(p, &d)
	}
	if d.Complete {
		switch {
		case d.Mixed:
			r.drops.add(DropMixed)
		case p.attack:
			r.atk.Reassembled++
		default:
			b.whole++
		}
	}
}

// score updates affinity and disruption for a packet of flow p.flow
// delivered to backend index i. A flow's backend is named by its whole
// (unfragmented) packets only: a first fragment may rightly follow an
// orphan fragment of its datagram elsewhere, and says nothing about where
// the flow's connection lives.
func (r *runner) score(p *packet, i int32) {
	fl := &r.flows[p.flow]
	whole := !p.hdr.IsFragment()
	switch {
	case fl.owner == i+1:
		r.affine++
	case fl.owner == 0:
		// Not held against a flow that has no backend yet.
		if whole {
			fl.owner = i + 1
		}
		r.affine++
	case !r.usable(p, fl.owner-1):
		// The flow's backend is down (or left its service's pool): it
		// had to move. A fragment cannot say where to (see above), so
		// the next whole packet will.
		r.moved++
		if r.svc != nil {
			r.svc.scored(p, scoreMoved)
		}
		fl.owner = 0
		if whole {
			fl.owner = i + 1
		}
		r.affine++
	default:
		if whole && fl.flags&flowDisrupted == 0 {
			fl.flags |= flowDisrupted
			r.disrupted++
			if r.svc != nil {
				r.svc.scored(p, scoreDisrupted)
			}
		}
		if r.svc != nil {
			r.svc.scored(p, scoreElsewhere)
		}
	}
}

// usable reports whether backend index i may keep p's flow: it is up
// and, with services, in the pool of p's service.
func (r *runner) usable(p *packet, i int32) bool {
	if r.svc != nil {
		return r.svc.usable(p.svc, i)
	}
	return r.backends[i].b.Up
}

// result assembles the Result.
func (r *runner) result() Result {
	sec := r.dur.Seconds()
	res := Result{
		Balancer:         r.lb.Name(),
		Seed:             r.sc.Seed,
		Duration:         r.dur,
		End:              r.end,
		Datagrams:        r.datagrams,
		Packets:          r.packets,
		Fragments:        r.fragments,
		Processed:        r.processed,
		Delivered:        r.delivered,
		FragmentAccuracy: ratio(float64(r.fragAccurate), float64(r.fragments)),
		Affinity:         ratio(float64(r.affine), float64(r.delivered)),
		AvgCost:          ratio(float64(r.ops.Total()), float64(r.processed)),
		AvgNs:            r.model.Nanoseconds(ratio(float64(r.ops.Total()), float64(r.processed))),
		CostP50:          cost.STU(r.costHist.quantile(0.5)),
		CostP99:          cost.STU(r.costHist.quantile(0.99)),
		CostByOp:         map[string]uint64{},
		OpCounts:         map[string]uint64{},
		Drops:            r.drops.into(map[string]uint64{}),
		LatencyP50:       Time(r.latHist.quantile(0.5)),
		LatencyP99:       Time(r.latHist.quantile(0.99)),
		Throughput:       ratio(float64(r.delivered), sec),
		CPUUtil:          make([]float64, len(r.cpus)),
		PerBackend:       map[string]uint64{},
		Disrupted:        r.disrupted,
		Moved:            r.moved,
		NewFlows:         r.newFlows,
		Attack:           r.atk,
	}
	if res.Attack.Drops != nil { // with Scenario.Attacks
		res.Attack.Drops = r.atkDrops.into(res.Attack.Drops)
	}
	for op := cost.Op(0); op < cost.NumOps; op++ {
		if n := r.ops.Count(op); n > 0 {
			res.OpCounts[op.String()] = n
			res.CostByOp[op.String()] = n * uint64(r.model.Cost(op))
		}
	}
	for i := range r.cpus {
		res.CPUUtil[i] = ratio(float64(r.cpus[i].busyTime), float64(r.end))
	}
	var maxLoad, sum, n float64
	for i := range r.backends {
		b := &r.backends[i]
		res.PerBackend[b.name] = b.packets
		res.Whole += b.whole
		if b.packets > 0 {
			maxLoad = math.Max(maxLoad, float64(b.packets))
			sum += float64(b.packets)
			n++
		}
		if b.reasm == nil {
			continue
		}
		st := b.reasm.Stats()
		for _, why := range frag.DropReasons() {
			if c := st.Dropped[why]; c > 0 {
				res.Drops[reassemblyPrefix+why.String()] += c
			}
		}
	}
	res.Imbalance = ratio(maxLoad, ratio(sum, n))
	for _, finish := range r.on.finish {
		finish(&res)
	}
	res.Reliability = ratio(float64(res.Whole), float64(r.datagrams))
	return res
}
