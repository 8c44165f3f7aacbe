package xdp

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
)

// recorder wraps the balancer sim.Run drives and records every backend
// change and packet in order, classifying the packets for the report.
type recorder struct {
	lb      balancer.Balancer
	steps   []step
	flows   map[[16]byte]bool
	firsts  map[[12]byte]bool
	decided []balancer.Decision
}

func (r *recorder) Name() string { return r.lb.Name() }

func (r *recorder) SetBackends(bs []balancer.Backend) error {
	r.steps = append(r.steps, step{backends: slices.Clone(bs)})
	return r.lb.SetBackends(bs)
}

func (r *recorder) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	s := step{pkt: *p, now: env.Now}
	fk := balancer.Key3(p)
	fk[9], fk[10] = byte(p.IPID>>8), byte(p.IPID)
	switch {
	case !p.IsFragment() || p.FragOffset == 0:
		k := balancer.Key5(p)
		s.kind = kindEstablished
		if !r.flows[k] {
			s.kind = kindNewFlow
		}
		r.flows[k] = true
		if p.IsFragment() {
			s.kind = kindFirstFrag
			r.firsts[fk] = true
		}
	case r.firsts[fk]:
		s.kind = kindNonFirst
	default:
		s.kind = kindReordered
	}
	r.steps = append(r.steps, s)
	d := r.lb.Process(env, p)
	r.decided = append(r.decided, d)
	return d
}

// TestParitySim runs a sim scenario (100% fragmentation, 20% reordering,
// TCP and UDP, a backend down mid-run and back) with balancer/titan,
// records what the simulator fed it, and replays the very same sequence
// through a fresh titan and the kernel program: every decision must agree.
func TestParitySim(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 100,000-packet parity run")
	}
	for _, frac := range []float64{1, 0.3} {
		t.Run(fmt.Sprintf("fragmentation %.0f%%", 100*frac), func(t *testing.T) {
			simParity(t, frac)
		})
	}
}

func simParity(t *testing.T, fragRate float64) {
	cfg := titan.Config{FragTableSize: 1 << 17}
	opts := Options{Config: titan.Config{FragTableSize: 1 << 17}}
	rate := 25_000.0
	if fragRate < 1 {
		rate = 50_000
	}
	sc := sim.Scenario{
		Seed:     7,
		Duration: 1500 * time.Millisecond,
		Backends: testutil.Backends(3),
		Traffic:  sim.Traffic{Flows: 3000, Clients: 200, Rate: rate, UDPShare: 0.5, FragmentRate: fragRate, Reorder: 0.2},
		Node:     sim.Node{CPUs: 4, QueueLen: 1 << 16},
		Events: []sim.Event{
			sim.BackendDown(500*time.Millisecond, 102),
			sim.SetWeight(800*time.Millisecond, 103, 0),
			sim.BackendUp(1000*time.Millisecond, 102),
		},
	}
	rec := &recorder{flows: map[[16]byte]bool{}, firsts: map[[12]byte]bool{}}
	res, err := sim.Run(sc, func() (balancer.Balancer, error) {
		m, err := titan.New(cfg)
		rec.lb = m
		return rec, err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sim: %d datagrams, %d packets, %d fragments, reliability %.4f, drops %v", res.Datagrams, res.Packets, res.Fragments, res.Reliability, res.Drops)

	model, err := titan.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := mustLoad(t, opts)
	r := runParity(t, rec.steps, model, NewBalancer(p))
	r.log(t)
	if r.packets < 100_000 {
		t.Errorf("%d packets, want at least 100,000", r.packets)
	}
	if r.total() != 0 {
		t.Errorf("%d mismatches", r.total())
	}
	if r.costDiffs != 0 {
		t.Errorf("%d packets cost differently", r.costDiffs)
	}
	for _, k := range []int{kindNewFlow, kindEstablished, kindFirstFrag, kindNonFirst, kindReordered} {
		if r.byKind[k] == 0 && !(k == kindEstablished && fragRate == 1) {
			t.Errorf("no %s packets in the scenario", kindNames[k])
		}
	}
	s, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Repicks == 0 || s.Orphans == 0 {
		t.Errorf("backend change or reordering not exercised: %+v", s)
	}
}

// TestSimResultParity runs one scenario through sim.Run twice, once with
// titan and once with the kernel program itself as the balancer: since
// the kernel adapter charges the operations the kernel counted, the
// simulations unfold identically and the Results are equal (but for the
// balancer's name).
func TestSimResultParity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: two simulations")
	}
	sc := sim.Scenario{
		Seed:     11,
		Duration: 400 * time.Millisecond,
		Backends: testutil.Backends(3),
		Traffic:  sim.Traffic{Flows: 1000, Clients: 100, Rate: 40_000, UDPShare: 0.5, FragmentRate: 0.5, Reorder: 0.2},
		Node:     sim.Node{CPUs: 2, QueueLen: 256},
		Events:   []sim.Event{sim.BackendDown(200*time.Millisecond, 101)},
	}
	want, err := sim.Run(sc, func() (balancer.Balancer, error) { return titan.New(titan.Config{}) })
	if err != nil {
		t.Fatal(err)
	}
	p := mustLoad(t, Options{})
	got, err := sim.Run(sc, func() (balancer.Balancer, error) { return NewBalancer(p), nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("titan:     %d packets, reliability %.4f, affinity %.4f, %.1f STU/packet, drops %v", want.Packets, want.Reliability, want.Affinity, want.AvgCost, want.Drops)
	t.Logf("titan-xdp: %d packets, reliability %.4f, affinity %.4f, %.1f STU/packet, drops %v", got.Packets, got.Reliability, got.Affinity, got.AvgCost, got.Drops)
	if got.Balancer != "titan-xdp" || want.Balancer != "titan" {
		t.Errorf("names %q, %q", got.Balancer, want.Balancer)
	}
	got.Balancer = want.Balancer
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("results differ:\nkernel %s\nmodel  %s", g, w)
	}
	if want.Packets < 10_000 || want.Fragments == 0 {
		t.Errorf("scenario too small: %d packets, %d fragments", want.Packets, want.Fragments)
	}
}
