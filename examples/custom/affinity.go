package main

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// Affinity is a stateless balancer that sends every packet between two hosts
// with one protocol to one backend: the Maglev ring slot of the 3-tuple hash
// (source, destination, protocol). Every fragment of a datagram carries
// that 3-tuple, so datagrams stay whole with no fragment table, in any
// order; the price is balance, which now depends on the number of clients
// rather than the number of flows.
type Affinity struct {
	ring *balancer.Ring // nil until SetBackends
}

var _ balancer.Balancer = (*Affinity)(nil)

// Name implements [balancer.Balancer].
func (a *Affinity) Name() string { return "affinity" }

// SetBackends builds the ring of the backends that are up, with the same
// builder the other balancers use.
func (a *Affinity) SetBackends(bs []balancer.Backend) error {
	r, err := balancer.NewRing(bs, 0)
	if err != nil {
		return err
	}
	a.ring = r
	return nil
}

// Process charges what an XDP program doing this would: a hash, one ring
// (array map) read and the IPIP encapsulation. It does not allocate.
func (a *Affinity) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	if p == nil || !p.Src.Is4() || !p.Dst.Is4() {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonMalformed}
	}
	var m *cost.Meter // nil: unmetered
	if env != nil {
		m = env.Meter
	}
	m.Charge(cost.OpHash)
	h := balancer.Hash3(p, balancer.DefaultSeed)
	m.Charge(cost.OpMapRead)
	id, ok := balancer.BackendID(0), false
	if a.ring != nil {
		id, ok = a.ring.Lookup(h)
	}
	if !ok {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonNoBackend}
	}
	m.Charge(cost.OpEncap)
	return balancer.Decision{Action: balancer.Forward, Backend: id}
}
