package sim

import (
	"math"
	"math/rand/v2"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
)

// Flow flags.
const (
	flowUDP       uint8 = 1 << iota // the flow is UDP (else TCP)
	flowStarted                     // a TCP flow has sent its SYN
	flowDisrupted                   // counted in Result.Disrupted
)

// flow is the per-flow state: 8 bytes, so that a million flows take 8 MB.
// A flow's addresses and ports are computed from its index.
type flow struct {
	owner int32 // index+1 of the backend serving the flow; 0: none yet
	flags uint8
}

// clientBase is the first client address, 10.0.0.0 + 65536: client c is
// 10.1.0.0 + c.
const clientBase = 0x0a010000

// traffic generates datagrams: which flow sends next, and its packets.
type traffic struct {
	rng       *rand.Rand
	cdf       []float64 // Zipf: cumulative popularity by flow; nil: uniform
	flows     []flow
	ipid      []uint16 // next IP ID per client host (Linux keeps one per destination)
	clients   int
	vip       netip.Addr
	port      uint16
	mtu       int
	size      int
	large     int
	udpShare  float64
	fragRate  float64
	reorder   float64
	meanGap   float64 // mean time between datagrams, ns
	fragBytes int     // payload bytes per fragment but the last
}

func newTraffic(t *Traffic, seed int64) *traffic {
	g := &traffic{
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x73696d2d74726166)), // "sim-traf"
		flows:    make([]flow, t.flows()),
		clients:  t.clients(),
		vip:      t.vip(),
		port:     t.port(),
		mtu:      t.mtu(),
		size:     t.size(),
		large:    t.largeSize(),
		udpShare: t.UDPShare,
		fragRate: t.FragmentRate,
		reorder:  t.Reorder,
		meanGap:  1e9 / t.rate(),
	}
	g.ipid = make([]uint16, g.clients)
	for i := range g.ipid {
		g.ipid[i] = uint16(g.rng.Uint32())
	}
	for i := range g.flows {
		if g.rng.Float64() < g.udpShare {
			g.flows[i].flags = flowUDP
		}
	}
	if t.Zipf > 0 {
		g.cdf = make([]float64, len(g.flows))
		sum := 0.0
		for k := range g.cdf {
			sum += math.Pow(float64(k+1), -t.Zipf)
			g.cdf[k] = sum
		}
		for k := range g.cdf {
			g.cdf[k] /= sum
		}
	}
	g.fragBytes = (g.mtu - balancer.IPv4Len) / 8 * 8
	return g
}

// gap returns the time to the next datagram: exponential, mean 1/Rate.
func (g *traffic) gap() Time {
	return Time(min(g.rng.ExpFloat64()*g.meanGap+0.5, maxTime))
}

// maxTime bounds generated gaps (and Scenario.Duration) so that adding one
// to a time never overflows.
const maxTime = 1 << 61

// pick returns the flow that sends the next datagram.
func (g *traffic) pick() int {
	if g.cdf == nil {
		return g.rng.IntN(len(g.flows))
	}
	u := g.rng.Float64()
	lo, hi := 0, len(g.cdf)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if g.cdf[m] <= u {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// header returns flow f's packet header without IP ID, length or flags.
func (g *traffic) header(f int) balancer.Packet {
	c := f % g.clients
	a := uint32(clientBase + c)
	p := balancer.Packet{
		Src:     netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}),
		Dst:     g.vip,
		Proto:   balancer.ProtoTCP,
		SrcPort: uint16(1024 + f/g.clients),
		DstPort: g.port,
		IHL:     5,
	}
	if g.flows[f].flags&flowUDP != 0 {
		p.Proto = balancer.ProtoUDP
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
	c := f % g.clients
	h.IPID = g.ipid[c]
	g.ipid[c]++
	size := g.size
	switch {
	case h.Proto == balancer.ProtoTCP && fl.flags&flowStarted == 0:
		fl.flags |= flowStarted
		h.TCPFlags = balancer.TCPSyn
		size = min(60, g.mtu)
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
		return append(out, packet{hdr: h, flow: uint32(f)})
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
		out = append(out, packet{hdr: p, flow: uint32(f), frag: uint16(i), nfrag: uint16(n)})
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
