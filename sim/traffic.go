package sim

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
)

// Flow flags.
const (
	flowUDP       uint8 = 1 << iota // the flow is UDP (else TCP)
	flowStarted                     // a TCP flow has sent its SYN
	flowDisrupted                   // counted in Result.Disrupted
	flowV6                          // the flow is IPv6 (else IPv4)
)

// flow is the per-flow state: 8 bytes, so that a million flows take 8 MB.
// A flow's addresses and ports are computed from its index.
type flow struct {
	owner int32 // index+1 of the backend serving the flow; 0: none yet
	flags uint8
	gen   uint16 // times the flow was replaced (Traffic.FlowChurn)
}

// clientBase is the first client address, 10.0.0.0 + 65536: client c is
// 10.1.0.0 + c.
const clientBase = 0x0a010000

// clientBase6 is the first IPv6 client address, 2001:db8:1::: client c is
// 2001:db8:1:: + c, the same host as 10.1.0.0 + c.
var clientBase6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1}

// trafficStream is the random stream of the catch-all traffic ("sim-traf");
// service i's is trafficStream + 1 + i.
const trafficStream = 0x73696d2d74726166

// traffic generates datagrams: which flow sends next, and its packets.
type traffic struct {
	rng       *rand.Rand
	alias     []aliasEntry // Zipf popularity as an alias table; nil: uniform
	flows     []flow
	ipid      []uint16 // next IP ID per client host (Linux keeps one per destination)
	ipid6     []uint32 // next IPv6 fragment Identification per client host; nil: no IPv6 flows
	clients   int
	vip       netip.Addr
	vip6      netip.Addr
	port      uint16
	mtu       int
	size      int
	large     int
	udpShare  float64
	fragRate  float64
	reorder   float64
	meanGap   float64 // mean time between datagrams, ns
	churnGap  float64 // mean time between new flows, ns; 0: no churn
	perClient int     // flows per client host (the last may have fewer)
	fragBytes int     // payload bytes per fragment but the last
	ext       int     // Destination Options headers of an IPv6 packet
	frag6     int     // IPv6: fragmentable bytes per fragment but the last
	syn6      int     // IPv6: a SYN's length
	base      uint32  // the run's index of flows[0]
}

// trafficSpec is where a traffic goes: the catch-all's VIPs or a service.
type trafficSpec struct {
	vip, vip6 netip.Addr // destinations of the IPv4 and IPv6 flows
	port      uint16
	proto     uint8    // a service's protocol; 0: Traffic.UDPShare draws each flow's
	v6        bool     // a service of an IPv6 VIP: every flow is IPv6
	stream    uint64   // random stream
	base      uint32   // the run's index of the first flow
	ipid      []uint16 // shared IP ID counters (services of one VIP); nil: its own
	ipid6     []uint32
}

// catchAllSpec is the spec of Scenario.Traffic without services.
func catchAllSpec(t *Traffic) trafficSpec {
	return trafficSpec{vip: t.vip(), vip6: t.vip6(), port: t.port(), stream: trafficStream}
}

// newTraffic returns the generator of t toward sp, its flows in flows
// (len t.flows()). The draws it makes (IP IDs, then each flow's family
// and protocol) come from its own stream: the catch-all traffic without
// IPv6 draws exactly what it drew before IPv6 and services existed.
func newTraffic(t *Traffic, seed int64, sp trafficSpec, flows []flow) *traffic {
	g := &traffic{
		rng:      rand.New(rand.NewPCG(uint64(seed), sp.stream)),
		flows:    flows,
		clients:  t.clients(),
		vip:      sp.vip,
		vip6:     sp.vip6,
		port:     sp.port,
		mtu:      t.mtu(),
		size:     t.size(),
		large:    t.largeSize(),
		udpShare: t.UDPShare,
		fragRate: t.FragmentRate,
		reorder:  t.Reorder,
		meanGap:  1e9 / t.rate(),
		ext:      t.ExtHeaders,
		base:     sp.base,
	}
	if t.FlowChurn > 0 {
		g.churnGap = 1e9 / t.FlowChurn
	}
	g.perClient = (len(g.flows) + g.clients - 1) / g.clients
	g.ipid = sp.ipid
	if g.ipid == nil && !sp.v6 {
		g.ipid = make([]uint16, g.clients)
		for i := range g.ipid {
			g.ipid[i] = uint16(g.rng.Uint32())
		}
	}
	v6share := t.IPv6Share
	if sp.v6 {
		v6share = 1
	}
	if v6share > 0 {
		g.ipid6 = sp.ipid6
		if g.ipid6 == nil {
			g.ipid6 = make([]uint32, g.clients)
			for i := range g.ipid6 {
				g.ipid6[i] = g.rng.Uint32()
			}
		}
	}
	for i := range g.flows {
		switch {
		case sp.proto == balancer.ProtoUDP:
			g.flows[i].flags = flowUDP
		case sp.proto == 0 && g.rng.Float64() < g.udpShare:
			g.flows[i].flags = flowUDP
		}
		if sp.v6 || v6share > 0 && g.rng.Float64() < v6share {
			g.flows[i].flags |= flowV6
		}
	}
	if t.Zipf > 0 {
		w := make([]float64, len(g.flows))
		for k := range w {
			w[k] = math.Pow(float64(k+1), -t.Zipf)
		}
		g.alias = newAlias(w)
	}
	g.fragBytes = (g.mtu - balancer.IPv4Len) / 8 * 8
	g.frag6 = (g.mtu - balancer.IPv6Len - balancer.ExtHeaderLen*(g.ext+1)) / 8 * 8
	g.syn6 = balancer.IPv6Len + balancer.ExtHeaderLen*g.ext + 40
	return g
}

// gap returns the time to the next datagram: exponential, mean 1/Rate.
func (g *traffic) gap() Time {
	return Time(min(g.rng.ExpFloat64()*g.meanGap+0.5, maxTime))
}

// maxTime bounds generated gaps (and Scenario.Duration) so that adding one
// to a time never overflows.
const maxTime = 1 << 61

// churnGap returns the time to the next new flow: exponential, mean
// 1/FlowChurn.
func (g *traffic) nextChurn() Time {
	return Time(min(g.rng.ExpFloat64()*g.churnGap+0.5, maxTime))
}

// renew replaces a flow chosen uniformly by a new one from the same host
// and returns its index: the next source port, no backend, a TCP flow
// not started.
func (g *traffic) renew() int {
	f := g.rng.IntN(len(g.flows))
	fl := &g.flows[f]
	fl.gen++
	fl.flags &= flowUDP | flowV6
	fl.owner = 0
	return f
}

// pick returns the flow that sends the next datagram: uniformly, or by
// popularity from the alias table in O(1).
func (g *traffic) pick() int {
	if g.alias == nil {
		return g.rng.IntN(len(g.flows))
	}
	r := g.rng.Uint64()
	hi, _ := bits.Mul64(r, uint64(len(g.alias)))
	e := g.alias[hi]
	if uint32(r) < e.keep {
		return int(hi)
	}
	return int(e.other)
}

// aliasEntry is one column of a Walker alias table: keep its own index
// with probability keep/2^32, else take other.
type aliasEntry struct {
	keep  uint32
	other int32
}

// newAlias builds an alias table (Vose's method) that picks index k with
// probability w[k]/sum(w). The column is chosen from the high bits of a
// random word and the coin from its low 32 bits.
func newAlias(w []float64) []aliasEntry {
	n := len(w)
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	p := make([]float64, n)
	var small, large []int32
	for k, x := range w {
		p[k] = x * float64(n) / sum
		if p[k] < 1 {
			small = append(small, int32(k))
		} else {
			large = append(large, int32(k))
		}
	}
	t := make([]aliasEntry, n)
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		t[s] = aliasEntry{keep: uint32(min(p[s]*(1<<32), math.MaxUint32)), other: l}
		p[l] -= 1 - p[s]
		if p[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// Leftovers are 1 up to rounding: always keep.
	for _, k := range append(small, large...) {
		t[k] = aliasEntry{keep: math.MaxUint32, other: k}
	}
	return t
}

// client returns the client host of flow f and the flow's number on it.
func (g *traffic) client(f int) (c, n int) {
	n = f / g.clients
	return f - n*g.clients, n
}

// header returns flow f's packet header without IP ID, length or flags.
func (g *traffic) header(f int) balancer.Packet {
	c, n := g.client(f)
	fl := &g.flows[f]
	if fl.flags&flowV6 != 0 {
		return g.header6(fl, c, n)
	}
	a := uint32(clientBase + c)
	p := balancer.Packet{
		Src:     netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}),
		Dst:     g.vip,
		Proto:   balancer.ProtoTCP,
		SrcPort: uint16(1024 + n),
		DstPort: g.port,
		IHL:     5,
	}
	if fl.flags&flowUDP != 0 {
		p.Proto = balancer.ProtoUDP
	}
	if fl.gen != 0 {
		p.SrcPort = g.renewedPort(fl, n)
	}
	return p
}

// renewedPort is the source port of flow number n of its host after
// fl.gen replacements: perClient further on per generation, wrapping
// round the ephemeral range as a host's port allocator does.
func (g *traffic) renewedPort(fl *flow, n int) uint16 {
	return uint16(1024 + (n+int(fl.gen)*g.perClient)%maxPorts)
}

// header6 is header for IPv6 flow fl, number n of client c: the host's
// IPv6 address toward the IPv6 VIP, with the Destination Options headers.
func (g *traffic) header6(fl *flow, c, n int) balancer.Packet {
	// The low word in one store, which AddrFrom16's 8-byte load can
	// take straight from (four byte stores it would wait on).
	a := clientBase6
	binary.BigEndian.PutUint64(a[8:], binary.BigEndian.Uint64(clientBase6[8:])&^0xffffffff|uint64(uint32(c)))
	p := balancer.Packet{
		Src:        netip.AddrFrom16(a),
		Dst:        g.vip6,
		Proto:      balancer.ProtoTCP,
		SrcPort:    uint16(1024 + n),
		DstPort:    g.port,
		ExtHeaders: uint8(g.ext),
	}
	if fl.flags&flowUDP != 0 {
		p.Proto = balancer.ProtoUDP
	}
	if fl.gen != 0 {
		p.SrcPort = g.renewedPort(fl, n)
	}
	return p
}

// datagram builds flow f's next datagram into out (reset to its packets in
// arrival order) and returns it; nfrag is 1 for an unfragmented datagram.
// Every fragment shares the datagram's IP ID; only the first carries the
// ports; offsets are in 8-byte units.
func (g *traffic) datagram(f int, out []packet) []packet {
	fl := &g.flows[f]
	h := g.header(f)
	c, _ := g.client(f)
	v6 := fl.flags&flowV6 != 0
	syn := 60
	if !v6 {
		h.IPID = g.ipid[c]
		g.ipid[c]++
	} else {
		syn = g.syn6
	}
	size := g.size
	switch {
	case h.Proto == balancer.ProtoTCP && fl.flags&flowStarted == 0:
		fl.flags |= flowStarted
		h.TCPFlags = balancer.TCPSyn
		size = min(syn, g.mtu)
	case h.Proto == balancer.ProtoTCP:
		h.TCPFlags = balancer.TCPAck
		fallthrough
	default:
		if g.fragRate > 0 && g.rng.Float64() < g.fragRate {
			size = g.large
		}
	}
	out = out[:0]
	if size <= g.mtu {
		h.Len = uint16(size)
		return append(out, packet{hdr: h, flow: g.base + uint32(f)})
	}
	if v6 {
		return g.fragment6(h, f, c, size, out)
	}
	payload := size - balancer.IPv4Len
	n := (payload + g.fragBytes - 1) / g.fragBytes
	for i := range n {
		p := h
		off := i * g.fragBytes
		l := min(g.fragBytes, payload-off)
		p.FragOffset = uint16(off / 8)
		p.MoreFragments = i < n-1
		p.Len = uint16(l + balancer.IPv4Len)
		if i > 0 {
			p.SrcPort, p.DstPort, p.TCPFlags = 0, 0, 0
		}
		out = append(out, packet{hdr: p, flow: g.base + uint32(f), frag: uint16(i), nfrag: uint16(n)})
	}
	if g.reorder > 0 && g.rng.Float64() < g.reorder {
		g.shuffle(out)
	}
	return out
}

// fragment6 splits flow f's IPv6 datagram h of size bytes from client c
// into out as an IPv6 host does (RFC 8200 §4.5, Linux's ip6_fragment):
// the unfragmentable part (the IPv6 header and the Destination Options
// headers) repeated in each fragment, then a Fragment header carrying the
// host's next 32-bit Identification, then fragmentable bytes in 8-byte
// units; the upper-layer header (the ports) is in the first fragment only.
func (g *traffic) fragment6(h balancer.Packet, f, c, size int, out []packet) []packet {
	// The loop of datagram's IPv4 fragmentation, with the IPv6 header
	// chain: one shared function cost the IPv4 path 1% more instructions
	// per run (a call and a copy of the header per datagram).
	unfrag := balancer.IPv6Len + balancer.ExtHeaderLen*g.ext
	payload := size - unfrag
	n := (payload + g.frag6 - 1) / g.frag6
	h.FragID = g.ipid6[c]
	g.ipid6[c]++
	h.ExtHeaders = uint8(g.ext + 1)
	for i := range n {
		p := h
		off := i * g.frag6
		l := min(g.frag6, payload-off)
		p.FragOffset = uint16(off / 8)
		p.MoreFragments = i < n-1
		p.Len = uint16(unfrag + balancer.ExtHeaderLen + l)
		if i > 0 {
			p.SrcPort, p.DstPort, p.TCPFlags = 0, 0, 0
		}
		out = append(out, packet{hdr: p, flow: g.base + uint32(f), frag: uint16(i), nfrag: uint16(n)})
	}
	if g.reorder > 0 && g.rng.Float64() < g.reorder {
		g.shuffle(out)
	}
	return out
}

// shuffle permutes ps (len >= 2) uniformly among the orders other than the
// original one.
func (g *traffic) shuffle(ps []packet) {
	for {
		g.rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		for i := range ps {
			if ps[i].frag != uint16(i) {
				return
			}
		}
	}
}

// generator is a run's traffic source without a trace: the clients'
// datagrams arriving as a Poisson process, their flows renewed by
// Traffic.FlowChurn, their fragments spaced by Traffic.FragmentGap.
type generator struct {
	r               *runner
	t               *traffic
	svc             uint16    // the service of its packets
	st              *svcStats // the service's counters; nil: the catch-all
	gap             Time      // Traffic.FragmentGap
	hArrive, hChurn HandlerID
	hLate           HandlerID
	scratch         []packet
	late            []packet // fragments waiting for their FragmentGap arrival
	lateFree        []uint32 // free slots of late
}

// installGenerator makes generated traffic the run's source: the
// catch-all's Traffic, or one generator per service, their flows side by
// side in the run's flows (service order).
func installGenerator(r *runner) {
	sc := r.sc
	if !sc.servicesMode() {
		t := &sc.Traffic
		r.flows = make([]flow, t.flows())
		addGenerator(r, t, newTraffic(t, sc.Seed, catchAllSpec(t), r.flows), 0, nil)
		return
	}
	n := 0
	for i := range sc.Services {
		n += sc.Services[i].Traffic.flows()
	}
	r.flows = make([]flow, n)
	// The services of one VIP share each client host's IP ID counters
	// (Linux keeps them per destination), sized for the most clients.
	type counters struct {
		clients int
		ipid    []uint16
		ipid6   []uint32
	}
	shared := map[netip.Addr]*counters{}
	for i := range sc.Services {
		s := &sc.Services[i]
		c := shared[s.Key.VIP]
		if c == nil {
			c = &counters{}
			shared[s.Key.VIP] = c
		}
		c.clients = max(c.clients, s.Traffic.clients())
	}
	base := 0
	for i := range sc.Services {
		s := &sc.Services[i]
		t := &s.Traffic
		c := shared[s.Key.VIP]
		sp := trafficSpec{
			vip: s.Key.VIP, vip6: s.Key.VIP, port: s.Key.Port, proto: s.Key.Proto,
			v6: s.Key.VIP.Is6(), stream: trafficStream + 1 + uint64(i),
			base: uint32(base), ipid: c.ipid, ipid6: c.ipid6,
		}
		nf := t.flows()
		g := newTraffic(t, sc.Seed, sp, r.flows[base:base+nf])
		// The first service of the VIP numbers the counters of every
		// client any of the VIP's services has.
		switch {
		case sp.v6 && c.ipid6 == nil:
			c.ipid6 = growIDs(g.ipid6, c.clients, func() uint32 { return g.rng.Uint32() })
			g.ipid6 = c.ipid6
		case !sp.v6 && c.ipid == nil:
			c.ipid = growIDs(g.ipid, c.clients, func() uint16 { return uint16(g.rng.Uint32()) })
			g.ipid = c.ipid
		}
		addGenerator(r, t, g, uint16(i), &r.svc.svcs[i].st)
		base += nf
	}
}

// growIDs extends IP ID (or IPv6 Identification) counters to n clients,
// each new one drawn.
func growIDs[T uint16 | uint32](ids []T, n int, draw func() T) []T {
	for len(ids) < n {
		ids = append(ids, draw())
	}
	return ids
}

// addGenerator adds a generator of t's datagrams to the run; st, when
// not nil, counts them for service svc.
func addGenerator(r *runner, t *Traffic, tr *traffic, svc uint16, st *svcStats) {
	g := &generator{
		r:       r,
		t:       tr,
		svc:     svc,
		st:      st,
		gap:     t.FragmentGap,
		scratch: make([]packet, 0, 64),
	}
	g.hArrive = r.sched.Handle(g.arrive)
	g.hChurn = r.sched.Handle(g.churn)
	g.hLate = r.sched.Handle(g.lateArrive)
	r.on.start = append(r.on.start, g.start)
}

// start schedules the first arrival and the first flow renewal.
func (g *generator) start() {
	r := g.r
	if first := g.t.gap(); first < r.dur {
		r.sched.post(first, g.hArrive, 0)
	}
	if g.t.churnGap > 0 {
		if first := g.t.nextChurn(); first < r.dur {
			r.sched.post(first, g.hChurn, 0)
		}
	}
}

// churn replaces a flow by a new one and schedules the next replacement.
func (g *generator) churn(uint32) {
	r := g.r
	g.t.renew()
	r.newFlows++
	if g.st != nil {
		g.st.newFlows++
	}
	if next := r.sched.Now() + g.t.nextChurn(); next < r.dur && r.err == nil {
		r.sched.post(next, g.hChurn, 0)
	}
}

// arrive sends the next datagram: picks a flow, builds its packets
// (fragments in arrival order) and hands them to the NIC, then schedules
// the next arrival if it falls within the duration.
func (g *generator) arrive(uint32) {
	r := g.r
	now := r.sched.Now()
	f := g.t.pick()
	ps := g.t.datagram(f, g.scratch)
	g.scratch = ps
	r.datagrams++
	r.packets += uint64(len(ps))
	if st := g.st; st != nil {
		st.datagrams++
		st.packets += uint64(len(ps))
		if len(ps) > 1 {
			st.fragments += uint64(len(ps))
		}
		for i := range ps {
			ps[i].svc = g.svc
		}
	}
	if len(ps) > 1 {
		r.fragments += uint64(len(ps))
		id := r.dgrams.open(len(ps))
		for i := range ps {
			ps[i].dgram = id
		}
	}
	for i := range ps {
		p := &ps[i]
		if i > 0 && g.gap > 0 {
			g.later(now+Time(i)*g.gap, p)
			continue
		}
		p.arrive = now
		r.inject(p, nil)
	}
	if next := now + g.t.gap(); next < r.dur && r.err == nil {
		r.sched.post(next, g.hArrive, 0)
	}
}

// later holds a copy of fragment p until time t, when it arrives at the
// NIC ([Traffic.FragmentGap]). Slots are reused: no allocation once the
// working size is reached.
func (g *generator) later(t Time, p *packet) {
	var slot uint32
	if n := len(g.lateFree); n > 0 {
		slot = g.lateFree[n-1]
		g.lateFree = g.lateFree[:n-1]
		g.late[slot] = *p
	} else {
		slot = uint32(len(g.late))
		g.late = append(g.late, *p)
	}
	g.r.sched.post(t, g.hLate, slot)
}

// lateArrive delivers the fragment held in slot to the NIC.
func (g *generator) lateArrive(slot uint32) {
	p := g.late[slot]
	g.lateFree = append(g.lateFree, slot)
	p.arrive = g.r.sched.Now()
	g.r.inject(&p, nil)
}
