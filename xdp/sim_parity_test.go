package xdp

import (
	"encoding/json"
	"fmt"
	"net/netip"
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
// or service change and packet in order, classifying the packets for the
// report.
type recorder struct {
	lb      balancer.Balancer
	steps   []step
	flows   map[flowID]bool
	firsts  map[flowID]bool
	decided []balancer.Decision
}

// flowID names a flow (ports set) or a datagram (id set) of either family.
type flowID struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	id           uint32
}

func newRecorder() *recorder {
	return &recorder{flows: map[flowID]bool{}, firsts: map[flowID]bool{}}
}

func (r *recorder) Name() string { return r.lb.Name() }

func (r *recorder) SetBackends(bs []balancer.Backend) error {
	r.steps = append(r.steps, step{backends: slices.Clone(bs)})
	return r.lb.SetBackends(bs)
}

func (r *recorder) SetServices(ss []balancer.Service) error {
	r.steps = append(r.steps, step{services: slices.Clone(ss)})
	return r.lb.(balancer.ServiceSetter).SetServices(ss)
}

func (r *recorder) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	s := step{pkt: *p, now: env.Now}
	fk := flowID{src: p.Src, dst: p.Dst, proto: p.Proto, id: uint32(p.IPID) | p.FragID}
	k := flowID{src: p.Src, dst: p.Dst, proto: p.Proto, sport: p.SrcPort, dport: p.DstPort}
	switch {
	case !p.IsFragment() || p.FragOffset == 0:
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
			rate := 25_000.0
			if frac < 1 {
				rate = 50_000
			}
			simParity(t, sim.Scenario{
				Seed:     7,
				Duration: 1500 * time.Millisecond,
				Backends: testutil.Backends(3),
				Traffic:  sim.Traffic{Flows: 3000, Clients: 200, Rate: rate, UDPShare: 0.5, FragmentRate: frac, Reorder: 0.2},
				Node:     sim.Node{CPUs: 4, QueueLen: 1 << 16},
				Events: []sim.Event{
					sim.BackendDown(500*time.Millisecond, 102),
					sim.SetWeight(800*time.Millisecond, 103, 0),
					sim.BackendUp(1000*time.Millisecond, 102),
				},
			}, frac == 1)
		})
	}
	t.Run("services and IPv6", func(t *testing.T) {
		simParity(t, simServicesScenario(7, 1500*time.Millisecond), false)
	})
}

// simServicesScenario is a scenario of services on an IPv4 and an IPv6
// VIP sharing backends, two UDP services on each VIP, with 40% of the
// datagrams fragmented (behind Destination Options headers for IPv6),
// 20% of those reordered, and changes of health, weight, pools and
// services under way.
func simServicesScenario(seed int64, d time.Duration) sim.Scenario {
	b4 := testutil.Backends(4)
	b6 := traceBackends6(3)
	key := func(vip netip.Addr, port uint16, proto uint8) balancer.ServiceKey {
		return balancer.ServiceKey{VIP: vip, Port: port, Proto: proto}
	}
	vip6 := traceVIPs6[0]
	tr := func(flows int, frag float64, ext int) sim.Traffic {
		return sim.Traffic{Flows: flows, Clients: 150, Rate: 12_000, FragmentRate: frag, Reorder: 0.2, ExtHeaders: ext}
	}
	dnsKey, vxlanKey, webKey := key(testVIP, 53, balancer.ProtoUDP), key(testVIP, 4789, balancer.ProtoUDP), key(testVIP, 443, balancer.ProtoTCP)
	dns6Key, web6Key := key(vip6, 53, balancer.ProtoUDP), key(vip6, 443, balancer.ProtoTCP)
	return sim.Scenario{
		Seed:     seed,
		Duration: d,
		Services: []sim.ServiceTraffic{
			{Service: balancer.Service{Key: dnsKey, Backends: b4[0:2]}, Traffic: tr(600, 0.4, 0)},
			{Service: balancer.Service{Key: vxlanKey, Backends: b4[1:4]}, Traffic: tr(600, 0.4, 0)},
			{Service: balancer.Service{Key: webKey, Backends: b4[2:4]}, Traffic: tr(600, 0, 0)},
			{Service: balancer.Service{Key: dns6Key, Backends: b6[0:2]}, Traffic: tr(600, 0.4, 1)},
			{Service: balancer.Service{Key: web6Key, Backends: b6[1:3]}, Traffic: tr(600, 0.4, 2), Absent: true},
		},
		Node: sim.Node{CPUs: 4, QueueLen: 1 << 16},
		Events: []sim.Event{
			sim.AddService(200*d/1500, web6Key),
			sim.BackendDown(500*d/1500, 102),
			sim.SetServiceWeight(700*d/1500, vxlanKey, 103, 0),
			sim.RemoveFromPool(800*d/1500, dnsKey, 101),
			sim.BackendUp(1000*d/1500, 102),
			sim.AddToPool(1100*d/1500, dnsKey, 104, 1),
			sim.RemoveService(1200*d/1500, dns6Key),
		},
	}
}

func simParity(t *testing.T, sc sim.Scenario, allFragmented bool) {
	cfg := titan.Config{FragTableSize: 1 << 17}
	opts := Options{Config: cfg}
	rec := newRecorder()
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
		if r.byKind[k] == 0 && !(k == kindEstablished && allFragmented) {
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
	for _, tc := range []struct {
		name string
		sc   sim.Scenario
	}{
		{"catch-all, IPv4 and IPv6", sim.Scenario{
			Seed:     11,
			Duration: 400 * time.Millisecond,
			Backends: append(testutil.Backends(3), traceBackends6(2)...),
			Traffic:  sim.Traffic{Flows: 1000, Clients: 100, Rate: 40_000, UDPShare: 0.5, FragmentRate: 0.5, Reorder: 0.2, IPv6Share: 0.3, ExtHeaders: 1},
			Node:     sim.Node{CPUs: 2, QueueLen: 256},
			Events:   []sim.Event{sim.BackendDown(200*time.Millisecond, 101)},
		}},
		{"services", simServicesScenario(11, 400*time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) { simResultParity(t, tc.sc) })
	}
}

func simResultParity(t *testing.T, sc sim.Scenario) {
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
	if want.Packets < 5_000 || want.Fragments == 0 {
		t.Errorf("scenario too small: %d packets, %d fragments", want.Packets, want.Fragments)
	}
}
