package sim_test

import (
	"runtime"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/sim"
)

// newKatran and newCilium build those models with their default
// configurations, as sim.Run's newLB (newTitan is titan_test.go's).
func newKatran() (balancer.Balancer, error) { return katran.New(katran.Config{}) }
func newCilium() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) }

// design is one of the three balancers, built fresh for each run.
type design struct {
	name string
	mk   func() (balancer.Balancer, error)
}

// designs returns Titan, Katran and Cilium with their default
// configurations.
func designs() []design {
	return []design{
		{"titan", newTitan},
		{"katran", newKatran},
		{"cilium", newCilium},
	}
}

// maglevLB is a small stateless test balancer: Maglev over the 5-tuple
// hash of every packet, so a non-first fragment (ports 0) usually lands
// elsewhere than its first fragment. With pin set it forwards everything
// to the lowest usable backend instead.
type maglevLB struct {
	r   *balancer.Ring
	pin balancer.BackendID
	ok  bool
	set int // SetBackends calls
}

func (l *maglevLB) Name() string { return "testmaglev" }

func (l *maglevLB) SetBackends(bs []balancer.Backend) error {
	r, err := balancer.NewRing(bs, 0)
	if err != nil {
		return err
	}
	l.r = r
	l.set++
	l.ok = false
	for _, b := range bs {
		if b.Up && (!l.ok || b.ID < l.pin) {
			l.pin, l.ok = b.ID, true
		}
	}
	return nil
}

func (l *maglevLB) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	env.Meter.Charge(cost.OpHash)
	h := balancer.Hash5(p, balancer.DefaultSeed)
	env.Meter.Charge(cost.OpMapRead)
	id, ok := l.r.Lookup(h)
	if !ok {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonNoBackend}
	}
	env.Meter.Charge(cost.OpEncap)
	return balancer.Decision{Action: balancer.Forward, Backend: id}
}

// pinLB forwards every packet to the lowest up backend: datagrams always
// stay whole.
type pinLB struct{ maglevLB }

func (l *pinLB) Name() string { return "testpin" }

func (l *pinLB) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	env.Meter.Charge(cost.OpMapRead)
	if !l.ok {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonNoBackend}
	}
	return balancer.Decision{Action: balancer.Forward, Backend: l.pin}
}

func newMaglev() (balancer.Balancer, error) { return &maglevLB{}, nil }
func newPin() (balancer.Balancer, error)    { return &pinLB{}, nil }

func mustRun(t testing.TB, sc sim.Scenario, newLB func() (balancer.Balancer, error)) sim.Result {
	t.Helper()
	r, err := sim.Run(sc, newLB)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// svcLB is a stateless test balancer that serves services (and the
// catch-all) through a balancer.ServiceTable: Maglev over the 5-tuple
// hash on the packet's service's ring; a packet without ports goes to
// the VIP's fallback service, one of no service is passed.
type svcLB struct {
	t    balancer.ServiceTable
	sets int // SetServices calls
}

func (l *svcLB) Name() string { return "testservices" }

func (l *svcLB) SetBackends(bs []balancer.Backend) error { return l.t.SetBackends(bs) }

func (l *svcLB) SetServices(ss []balancer.Service) error {
	l.sets++
	return l.t.SetServices(ss)
}

func (l *svcLB) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	env.Meter.Charge(cost.OpMapRead)
	e, ok := l.t.Lookup(p)
	if !ok && !p.HasPorts() {
		e, ok = l.t.Fallback(p.Dst, p.Proto)
	}
	if !ok {
		return balancer.Decision{Action: balancer.Pass}
	}
	env.Meter.Charge(cost.OpHash)
	id, ok := e.Pick(balancer.Hash5(p, balancer.DefaultSeed))
	if !ok {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonNoBackend}
	}
	return balancer.Decision{Action: balancer.Forward, Backend: id}
}

func newSvc() (balancer.Balancer, error) { return &svcLB{}, nil }
