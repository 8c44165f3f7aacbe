package sim

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/frag"
)

// ServiceTraffic is one service of a [Scenario]: a [balancer.Service]
// (its key, its pool with a weight per backend, its ring size) and the
// traffic its clients send to it. In JSON the service's fields (Key,
// Backends, RingSize) sit beside Traffic and Absent.
type ServiceTraffic struct {
	balancer.Service
	// Traffic is the service's clients, flows and datagrams, sent to the
	// service's key: its VIP, VIP6, Port, UDPShare and IPv6Share must be
	// zero (the key sets the destination, the protocol and the family),
	// and it has no Trace; every other field means what it means in
	// Scenario.Traffic, defaults included. Client host c is the same
	// host in every service (10.1.0.0+c, or 2001:db8:1::+c for an IPv6
	// VIP), so a client may have flows to several services, and its
	// datagrams to one VIP share its IP ID counter.
	Traffic Traffic
	// Absent leaves the service out of the set the balancer gets until an
	// [EventAddService] installs it. Its traffic is sent from the start:
	// while the service does not exist the balancer passes it.
	Absent bool `json:",omitempty"`
}

// ServiceResult is what a run measured for one service of
// Scenario.Services: the figures of [Result], each with the same
// definition, over the packets of the service's traffic only
// (docs/simulation.md, Services). Attack packets are in none; trace
// packets count for the service whose key their flow's (destination,
// port, protocol) is, or for none.
type ServiceResult struct {
	// Index is the service's place in Scenario.Services.
	Index int
	// Datagrams, Packets and Fragments were sent to the service;
	// Processed ran through the balancer; Delivered reached an up
	// backend; Whole is the datagrams a backend received whole.
	Datagrams, Packets, Fragments uint64
	Processed, Delivered, Whole   uint64

	Reliability      float64 // Whole / Datagrams
	FragmentAccuracy float64 // fragments delivered to their datagram's first-fragment backend / Fragments
	Affinity         float64 // delivered packets that reached their flow's backend / Delivered

	// AvgCost, CostP50, CostP99 and AvgNs price the service's processed
	// packets as Result's do.
	AvgCost          float64
	CostP50, CostP99 cost.STU
	AvgNs            float64
	// LatencyP50 and LatencyP99 are arrival-to-end-of-service
	// percentiles of the service's processed packets.
	LatencyP50, LatencyP99 Time
	// Throughput is Delivered per second of Duration.
	Throughput float64

	// Drops counts the service's lost packets by reason, as
	// Result.Drops does. A backend reassembles the datagrams of every
	// service together: the reassembly reasons a fragment meets on
	// arrival count for its service; datagrams a backend abandons later
	// ("reassembly: timeout") count in Result.Drops only.
	Drops map[string]uint64
	// PerBackend counts delivered packets by backend name, for the
	// backends of the service's pool at the end and any other that got
	// some; Imbalance is the most any backend got over the mean of those
	// that got any.
	PerBackend map[string]uint64
	Imbalance  float64
	// Disrupted, Moved and NewFlows count the service's flows as Result's
	// do. A flow's backend leaving the service's pool moves it as a
	// health-down does (Moved, not Disrupted).
	Disrupted, Moved, NewFlows uint64
}

// svcState is one service of a run: its current definition and its
// counters.
type svcState struct {
	key    balancer.ServiceKey
	ring   uint64
	absent bool
	pool   []poolMember // in the order listed, added ones last
	in     []bool       // by backend index: in pool
	st     svcStats
}

// poolMember is a backend of a service's pool: its index among the run's
// backends and its weight in this service.
type poolMember struct {
	i      int32
	weight uint32
}

// svcStats are a service's counters, the runner's counters restricted to
// the service's packets. The packet's path counts them through the hooks
// the services install, and runner.score, runner.reassemble and the
// generators when runner.svc is set, so that a run without services
// pays nothing for them.
type svcStats struct {
	datagrams, packets, fragments uint64
	processed, delivered, whole   uint64
	elsewhere, fragAccurate       uint64 // elsewhere: delivered packets not affine
	disrupted, moved, newFlows    uint64
	cost                          uint64
	costHist, latHist             *histogram
	drops                         map[string]uint64
	perBackend                    []uint64 // by backend index
}

// noService marks a packet (of a replayed trace) that is no service's.
const noService = math.MaxUint16

// reassemblyReasons are the drop strings of the reassembly reasons,
// built once so that counting one does not allocate.
var reassemblyReasons = func() []string {
	rs := frag.DropReasons()
	s := make([]string, int(rs[len(rs)-1])+1)
	for _, r := range rs {
		s[r] = reassemblyPrefix + r.String()
	}
	return s
}()

// servicesMode reports whether sc has services (instead of the catch-all).
func (sc *Scenario) servicesMode() bool { return len(sc.Services) > 0 }

// validateServices checks Scenario.Services and what goes with them: no
// catch-all backends, a top-level Traffic that is zero but for its Trace,
// each service's traffic.
func (sc *Scenario) validateServices() error {
	if len(sc.Services) > MaxServices {
		return bad("services", len(sc.Services), "at most %d services", MaxServices)
	}
	if len(sc.Backends) > 0 {
		return bad("backends", len(sc.Backends), "must be empty with scenario.services (their pools list the backends)")
	}
	ss := make([]balancer.Service, len(sc.Services))
	nb := 0
	for i := range sc.Services {
		ss[i] = sc.Services[i].Service
		nb += len(ss[i].Backends)
	}
	if nb > MaxBackends {
		return bad("services", len(sc.Services), "at most %d backends in all pools", MaxBackends)
	}
	if err := balancer.ValidateServices(ss); err != nil {
		return &ScenarioError{Field: "services", Value: len(ss), Rule: err.Error(), Err: err}
	}
	trace := len(sc.Traffic.Trace.Packets) > 0
	if f, v := setField(sc.Traffic, "Trace"); f != "" {
		return bad("traffic."+f, v, "must be unset with scenario.services (each service has its own traffic)")
	}
	for i := range sc.Services {
		s := &sc.Services[i]
		prefix := fmt.Sprintf("services[%d].traffic", i)
		if trace {
			if f, v := setField(s.Traffic, ""); f != "" {
				return bad(prefix+"."+f, v, "must be unset when traffic.trace is replayed (the trace is the traffic)")
			}
			continue
		}
		for _, f := range []string{"VIP", "VIP6", "Port", "UDPShare", "IPv6Share", "Trace"} {
			if v := reflect.ValueOf(s.Traffic).FieldByName(f); !v.IsZero() {
				return bad(prefix+"."+lowerFirst(f), v.Interface(), "must be unset: the service's key %v sets it", s.Key)
			}
		}
		if err := s.Traffic.validate(prefix, s.Key.VIP.Is6()); err != nil {
			return err
		}
	}
	return nil
}

// setField returns the name (lower camel case) and value of the first
// field of t that is not zero, but for the field named except, or "".
func setField(t Traffic, except string) (string, any) {
	v := reflect.ValueOf(t)
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.Name != except && !v.Field(i).IsZero() {
			if f.Name == "Trace" {
				return "trace", fmt.Sprintf("%d packets", len(t.Trace.Packets))
			}
			return lowerFirst(f.Name), v.Field(i).Interface()
		}
	}
	return "", nil
}

// lowerFirst returns a Traffic field's name as errors write it
// ("udpShare", "flowChurn").
func lowerFirst(s string) string {
	switch s {
	case "UDPShare":
		return "udpShare"
	case "IPv6Share":
		return "ipv6Share"
	case "MTU", "VIP", "VIP6":
		return strings.ToLower(s)
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// serviceIndex returns the index of the service keyed k, or -1.
func (sc *Scenario) serviceIndex(k balancer.ServiceKey) int {
	return slices.IndexFunc(sc.Services, func(s ServiceTraffic) bool { return s.Key == k })
}

// validateEvents checks the control events against the backends and, in
// services mode, against the pools as the events before each change them.
func (sc *Scenario) validateEvents(dur Time) error {
	known := map[balancer.BackendID]bool{}
	for _, b := range sc.Backends {
		known[b.ID] = true
	}
	// Services mode: each service's presence and pool, as events change
	// them, in the order the run applies them.
	present := make([]bool, len(sc.Services))
	pools := make([]map[balancer.BackendID]bool, len(sc.Services))
	for i, s := range sc.Services {
		present[i] = !s.Absent
		pools[i] = map[balancer.BackendID]bool{}
		for _, b := range s.Backends {
			known[b.ID] = true
			pools[i][b.ID] = true
		}
	}
	order := make([]int, len(sc.Events))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sc.Events[a].At, sc.Events[b].At) })
	for _, i := range order {
		ev := sc.Events[i]
		f := fmt.Sprintf("events[%d]", i)
		if ev.At < 0 || ev.At > dur {
			return bad(f+".at", ev.At, "must be between 0 and the duration %v", dur)
		}
		if ev.Kind < EventBackendDown || ev.Kind >= numEventKinds {
			return bad(f+".kind", uint8(ev.Kind), "unknown event kind")
		}
		if !sc.servicesMode() {
			if ev.Kind > EventSetWeight {
				return bad(f+".kind", ev.Kind, "needs scenario.services")
			}
			if ev.Service != (balancer.ServiceKey{}) {
				return bad(f+".service", ev.Service, "needs scenario.services")
			}
			if !known[ev.Backend] {
				return bad(f+".backend", ev.Backend, "no such backend")
			}
			continue
		}
		s := -1
		switch ev.Kind {
		case EventBackendDown, EventBackendUp:
			if ev.Service != (balancer.ServiceKey{}) {
				return bad(f+".service", ev.Service, "must be unset: a backend's health applies in every service")
			}
		case EventSetWeight:
			if ev.Service == (balancer.ServiceKey{}) {
				break // every service listing the backend
			}
			fallthrough
		default:
			if s = sc.serviceIndex(ev.Service); s < 0 {
				return bad(f+".service", ev.Service, "no such service")
			}
		}
		switch ev.Kind {
		case EventAddService, EventRemoveService:
			if ev.Backend != 0 || ev.Weight != 0 {
				return bad(f+".backend", ev.Backend, "must be 0 for %s (with weight 0)", ev.Kind)
			}
			if present[s] == (ev.Kind == EventAddService) {
				return bad(f+".service", ev.Service, "%s: the service is already %s", ev.Kind, map[bool]string{true: "there", false: "absent"}[present[s]])
			}
			present[s] = !present[s]
			continue
		}
		if !known[ev.Backend] {
			return bad(f+".backend", ev.Backend, "no such backend")
		}
		if s < 0 {
			continue
		}
		in := pools[s][ev.Backend]
		switch {
		case ev.Kind == EventAddBackend && in:
			return bad(f+".backend", ev.Backend, "already in the pool of services[%d] %v", s, ev.Service)
		case ev.Kind != EventAddBackend && !in:
			return bad(f+".backend", ev.Backend, "not in the pool of services[%d] %v at %v", s, ev.Service, ev.At)
		case ev.Kind == EventRemoveBackend && len(pools[s]) == 1:
			return bad(f+".backend", ev.Backend, "the last of services[%d] %v's pool: a pool is never empty (remove the service instead)", s, ev.Service)
		}
		switch ev.Kind {
		case EventAddBackend:
			pools[s][ev.Backend] = true
		case EventRemoveBackend:
			delete(pools[s], ev.Backend)
		}
	}
	return nil
}

// services is a run's Scenario.Services: their current definitions, as
// the control events change them, and the counters of their packets.
type services struct {
	r    *runner
	svcs []svcState
}

// installServices sets the run's backends to the union of the pools (in
// order of first listing) and the services up; the counters join the
// packet's path through hooks, and where the path scores a packet it
// counts it for its service too (runner.svc non-nil).
func installServices(r *runner) *services {
	sc := r.sc
	index := map[balancer.BackendID]int32{}
	for _, s := range sc.Services {
		for _, b := range s.Backends {
			if _, ok := index[b.ID]; !ok {
				index[b.ID] = int32(len(r.backends))
				r.backends = append(r.backends, backend{b: b, name: b.RingName()})
			}
		}
	}
	sv := &services{r: r, svcs: make([]svcState, len(sc.Services))}
	for i := range sc.Services {
		s := &sc.Services[i]
		st := &sv.svcs[i]
		st.key, st.ring, st.absent = s.Key, s.RingSize, s.Absent
		st.in = make([]bool, len(r.backends))
		for _, b := range s.Backends {
			st.pool = append(st.pool, poolMember{i: index[b.ID], weight: b.Weight})
			st.in[index[b.ID]] = true
		}
		st.st = svcStats{
			costHist: &histogram{}, latHist: &histogram{},
			drops: map[string]uint64{}, perBackend: make([]uint64, len(r.backends)),
		}
	}
	r.on.leave = append(r.on.leave, sv.leave)
	r.on.drop = append(r.on.drop, sv.drop)
	r.on.deliver = append(r.on.deliver, sv.deliver)
	r.on.finish = append(r.on.finish, sv.finish)
	return sv
}

// stats returns the counters of p's service, or nil for a packet of no
// service.
func (sv *services) stats(p *packet) *svcStats {
	if p.attack || p.svc == noService {
		return nil
	}
	return &sv.svcs[p.svc].st
}

// set returns the services the balancer gets now: those present, each
// pool with its backends' current Up.
func (sv *services) set() []balancer.Service {
	var ss []balancer.Service
	for i := range sv.svcs {
		s := &sv.svcs[i]
		if s.absent {
			continue
		}
		bs := make([]balancer.Backend, len(s.pool))
		for j, m := range s.pool {
			bs[j] = sv.r.backends[m.i].b
			bs[j].Weight = m.weight
		}
		ss = append(ss, balancer.Service{Key: s.key, Backends: bs, RingSize: s.ring})
	}
	return ss
}

// apply changes the services as event ev says (validated: its service
// exists, its backend is or is not in the pool as the kind needs). Health
// events change the backend itself (runner.control).
func (sv *services) apply(ev *Event) {
	r := sv.r
	i := int32(r.backendIndex(ev.Backend))
	for s := range sv.svcs {
		st := &sv.svcs[s]
		if ev.Service != (balancer.ServiceKey{}) && st.key != ev.Service {
			continue
		}
		switch ev.Kind {
		case EventSetWeight:
			for j := range st.pool {
				if st.pool[j].i == i {
					st.pool[j].weight = ev.Weight
				}
			}
		case EventAddService:
			st.absent = false
		case EventRemoveService:
			st.absent = true
		case EventAddBackend:
			st.pool = append(st.pool, poolMember{i: i, weight: ev.Weight})
			st.in[i] = true
		case EventRemoveBackend:
			st.pool = slices.DeleteFunc(st.pool, func(m poolMember) bool { return m.i == i })
			st.in[i] = false
		}
	}
}

// usable reports whether the backend of index i may keep a flow of
// service s: it is up and in the service's pool.
func (sv *services) usable(s uint16, i int32) bool {
	if s == noService {
		return sv.r.backends[i].b.Up
	}
	return sv.r.backends[i].b.Up && sv.svcs[s].in[i]
}

// leave counts a processed packet, its cost and its latency.
func (sv *services) leave(c int, p *packet, _ *balancer.Decision) {
	st := sv.stats(p)
	if st == nil {
		return
	}
	r := sv.r
	stu := r.cpus[c].stu
	st.processed++
	st.cost += uint64(stu)
	st.costHist.add(uint64(stu))
	st.latHist.add(uint64(r.sched.Now() - p.arrive))
}

// drop counts a lost packet.
func (sv *services) drop(p *packet, reason string) {
	if st := sv.stats(p); st != nil {
		st.drops[reason]++
		sv.settle(p, -1)
	}
}

// deliver counts a delivered packet, and an unfragmented one as a whole
// datagram.
func (sv *services) deliver(p *packet, i int32) {
	if st := sv.stats(p); st != nil {
		st.delivered++
		st.perBackend[i]++
		if p.nfrag <= 1 {
			st.whole++
		}
		sv.settle(p, i)
	}
}

// What runner.score found of a delivered packet, for its service (a
// packet is affine unless scored scoreElsewhere).
const (
	scoreMoved     = iota // its flow had to move
	scoreDisrupted        // its flow moved without having to, first time
	scoreElsewhere        // it reached another backend than its flow's
)

// scored counts what runner.score found of p.
func (sv *services) scored(p *packet, what int) {
	st := sv.stats(p)
	if st == nil {
		return
	}
	switch what {
	case scoreMoved:
		st.moved++
	case scoreDisrupted:
		st.disrupted++
	case scoreElsewhere:
		st.elsewhere++
	}
}

// settle scores, for its service, the FragmentAccuracy of fragment p's
// datagram when p, ending up at backend index be (-1: lost), is the last
// of its fragments to be resolved (runner.resolve does next).
func (sv *services) settle(p *packet, be int32) {
	st := sv.stats(p)
	if st == nil || p.nfrag <= 1 {
		return
	}
	g := sv.r.dgrams.slot(p.dgram)
	if g.left != 1 {
		return
	}
	dest := func(i int) int32 {
		if i == int(p.frag) {
			return be
		}
		return g.dest[i]
	}
	if first := dest(0); first >= 0 {
		for i := range g.dest {
			if dest(i) == first {
				st.fragAccurate++
			}
		}
	}
}

// reassembled counts what backend reassembly did with fragment p: d is
// the reassembler's answer.
func (sv *services) reassembled(p *packet, d *frag.Datagram) {
	st := sv.stats(p)
	if st == nil {
		return
	}
	switch {
	case d.Drop != frag.DropNone:
		st.drops[reassemblyReasons[d.Drop]]++
	case !d.Complete:
	case d.Mixed:
		st.drops[DropMixed]++
	default:
		st.whole++
	}
}

// finish fills res.Services.
func (sv *services) finish(res *Result) {
	r := sv.r
	sec := r.dur.Seconds()
	res.Services = make(map[string]ServiceResult, len(sv.svcs))
	for i := range sv.svcs {
		s := &sv.svcs[i].st
		sr := ServiceResult{
			Index:     i,
			Datagrams: s.datagrams, Packets: s.packets, Fragments: s.fragments,
			Processed: s.processed, Delivered: s.delivered, Whole: s.whole,
			Reliability:      ratio(float64(s.whole), float64(s.datagrams)),
			FragmentAccuracy: ratio(float64(s.fragAccurate), float64(s.fragments)),
			Affinity:         ratio(float64(s.delivered-s.elsewhere), float64(s.delivered)),
			AvgCost:          ratio(float64(s.cost), float64(s.processed)),
			AvgNs:            r.model.Nanoseconds(ratio(float64(s.cost), float64(s.processed))),
			CostP50:          cost.STU(s.costHist.quantile(0.5)),
			CostP99:          cost.STU(s.costHist.quantile(0.99)),
			LatencyP50:       Time(s.latHist.quantile(0.5)),
			LatencyP99:       Time(s.latHist.quantile(0.99)),
			Throughput:       ratio(float64(s.delivered), sec),
			Drops:            s.drops,
			PerBackend:       map[string]uint64{},
			Disrupted:        s.disrupted, Moved: s.moved, NewFlows: s.newFlows,
		}
		var maxLoad, sum, n float64
		for b, c := range s.perBackend {
			if c == 0 && !sv.svcs[i].in[b] {
				continue
			}
			sr.PerBackend[r.backends[b].name] = c
			maxLoad = math.Max(maxLoad, float64(c))
			sum += float64(c)
			n++
		}
		sr.Imbalance = ratio(maxLoad, ratio(sum, n))
		res.Services[sv.svcs[i].key.String()] = sr
	}
}
