package sim_test

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/sim"
)

// fuzzLB is FuzzScenario's balancer: Maglev over the 5-tuple, so that
// fragments split, plus a drop of every packet whose IP ID is a multiple of
// 7, so that balancer drops are exercised too.
type fuzzLB struct{ r *balancer.Ring }

func (l *fuzzLB) Name() string { return "fuzz" }

func (l *fuzzLB) SetBackends(bs []balancer.Backend) error {
	r, err := balancer.NewRing(bs, 13)
	l.r = r
	return err
}

func (l *fuzzLB) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	env.Meter.Charge(cost.OpHash)
	if p.IPID%7 == 0 {
		return balancer.Decision{Action: balancer.Drop, Reason: "fuzz: ipid"}
	}
	id, ok := l.r.Lookup(balancer.Hash5(p, balancer.DefaultSeed))
	if !ok {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonNoBackend}
	}
	return balancer.Decision{Action: balancer.Forward, Backend: id}
}

// FuzzScenario feeds arbitrary scenarios to Validate and, when they are
// valid and small enough to run in a few milliseconds, to Run. Validate
// either accepts or returns a *ScenarioError that names a field and matches
// ErrInvalid; Run accepts what Validate accepts, and its Result is
// consistent: every packet sent is delivered or dropped for a counted
// reason, ratios are within [0, 1], nothing is delivered that was not
// processed, and a second run gives the same Result.
func FuzzScenario(f *testing.F) {
	f.Add(int64(1), int64(1000), 10, 0, 1e5, 0.0, 0.5, 0.3, 0.5, 1500, 0, 0, 2, 16, []byte{1, 0, 2, 1, 1, 0})
	f.Add(int64(2), int64(-1), 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, []byte{})
	f.Add(int64(3), int64(500), 50, 5, 2e6, 1.2, 1.0, 1.0, 1.0, 576, 100, 9000, 1, 1, []byte{0, 9, 3})
	f.Add(int64(4), int64(200), 3, 0, 1e4, math.NaN(), 2.0, -1.0, 0.0, 20, 30, 70000, -1, 1<<21, []byte{4, 1, 0})
	f.Fuzz(func(t *testing.T, seed, durUs int64, flows, clients int, rate, zipf, udp, fragRate, reorder float64,
		mtu, size, large, cpus, qlen int, events []byte) {
		bs := []balancer.Backend{
			{ID: 1, Name: "1", Addr: netip.AddrFrom4([4]byte{10, 9, 0, 1}), Weight: 1, Up: true},
			{ID: 2, Name: "2", Addr: netip.AddrFrom4([4]byte{10, 9, 0, 2}), Weight: 2, Up: true},
			{ID: 3, Name: "3", Addr: netip.AddrFrom4([4]byte{10, 9, 0, 3}), Weight: 1, Up: false},
		}
		sc := sim.Scenario{
			Seed: seed, Duration: time.Duration(durUs) * time.Microsecond, Backends: bs,
			Traffic: sim.Traffic{
				Flows: flows, Clients: clients, Rate: rate, Zipf: zipf, UDPShare: udp,
				FragmentRate: fragRate, Reorder: reorder, MTU: mtu, Size: size, LargeSize: large,
			},
			Node: sim.Node{CPUs: cpus, QueueLen: qlen},
		}
		for len(events) >= 3 {
			sc.Events = append(sc.Events, sim.Event{
				At: time.Duration(events[0]) * 10 * time.Microsecond, Kind: sim.EventKind(events[1] % 5),
				Backend: balancer.BackendID(events[2] % 4), Weight: uint32(events[1] >> 4),
			})
			events = events[3:]
		}
		err := sc.Validate()
		if err != nil {
			var se *sim.ScenarioError
			if !errors.As(err, &se) || se.Field == "" || !errors.Is(err, sim.ErrInvalid) {
				t.Fatalf("Validate: %v (%T) is not a *ScenarioError naming a field", err, err)
			}
			if !strings.HasPrefix(err.Error(), "sim: scenario.") {
				t.Fatalf("Validate: %q does not name the scenario field", err)
			}
			if _, rerr := sim.Run(sc, func() (balancer.Balancer, error) { return &fuzzLB{}, nil }); rerr == nil {
				t.Fatalf("Run accepted a scenario Validate rejects: %v", err)
			}
			return
		}
		// Run only what is quick: a few thousand datagrams.
		d := sc.Duration
		if d == 0 {
			d = sim.DefaultDuration
		}
		r := rate
		if r == 0 {
			r = sim.DefaultRate
		}
		if r*d.Seconds() > 3000 || flows > 1<<12 || cpus > 16 || qlen > 1<<12 || (qlen == 0 && cpus > 4) {
			return
		}
		newLB := func() (balancer.Balancer, error) { return &fuzzLB{}, nil }
		res, err := sim.Run(sc, newLB)
		if err != nil {
			t.Fatalf("Run of a valid scenario: %v", err)
		}
		var dropped uint64
		for why, n := range res.Drops {
			if !strings.HasPrefix(why, "reassembly: ") {
				dropped += n
			}
		}
		if res.Delivered+dropped != res.Packets {
			t.Fatalf("delivered %d + dropped %d != packets %d (%v)", res.Delivered, dropped, res.Packets, res.Drops)
		}
		if res.Processed > res.Packets || res.Delivered > res.Processed || res.Fragments > res.Packets || res.Whole > res.Datagrams {
			t.Fatalf("inconsistent counts: %+v", res)
		}
		for name, v := range map[string]float64{"reliability": res.Reliability, "fragment accuracy": res.FragmentAccuracy, "affinity": res.Affinity} {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("%s %v outside [0, 1]", name, v)
			}
		}
		again, err := sim.Run(sc, newLB)
		if err != nil || !reflect.DeepEqual(res, again) {
			t.Fatalf("second run differs: %v\n%+v\n%+v", err, res, again)
		}
	})
}

// FuzzAttack feeds arbitrary attacks and fragment spacing to Validate
// and, when valid, runs them for 2 ms beside a little fragmented traffic:
// an invalid attack is a *ScenarioError naming an attacks[i] field or
// traffic.fragmentGap; a valid one runs, every attack packet is delivered
// or dropped for a counted reason, the legitimate accounting is untouched
// (every legitimate packet delivered or dropped), and attack datagrams
// with overlapping fragments are never reassembled.
func FuzzAttack(f *testing.F) {
	f.Add(uint8(1), 1e6, int64(0), int64(0), 0, int64(100))
	f.Add(uint8(3), 5e5, int64(500), int64(1500), 10, int64(0))
	f.Add(uint8(4), 2e5, int64(100), int64(0), 1, int64(-5))
	f.Add(uint8(9), math.NaN(), int64(-1), int64(3000), -1, int64(2e9))
	f.Fuzz(func(t *testing.T, kind uint8, rate float64, startUs, stopUs int64, sources int, gapUs int64) {
		sc := sim.Scenario{
			Seed: 1, Duration: 2 * time.Millisecond,
			Backends: []balancer.Backend{
				{ID: 1, Name: "1", Addr: netip.AddrFrom4([4]byte{10, 9, 0, 1}), Weight: 1, Up: true},
				{ID: 2, Name: "2", Addr: netip.AddrFrom4([4]byte{10, 9, 0, 2}), Weight: 1, Up: true},
			},
			Traffic: sim.Traffic{Flows: 20, Rate: 1e5, FragmentRate: 0.5, Reorder: 0.5, FragmentGap: time.Duration(gapUs) * time.Microsecond},
			Node:    sim.Node{CPUs: 2, QueueLen: 64},
			Attacks: []sim.Attack{{Kind: sim.AttackKind(kind), Rate: rate, Start: time.Duration(startUs) * time.Microsecond,
				Stop: time.Duration(stopUs) * time.Microsecond, Sources: sources}},
		}
		newLB := func() (balancer.Balancer, error) { return &fuzzLB{}, nil }
		if err := sc.Validate(); err != nil {
			var se *sim.ScenarioError
			if !errors.As(err, &se) || !(strings.HasPrefix(se.Field, "attacks[0].") || se.Field == "traffic.fragmentGap") {
				t.Fatalf("Validate: %v does not name an attack field", err)
			}
			return
		}
		if rate*sc.Duration.Seconds() > 20000 {
			return
		}
		res, err := sim.Run(sc, newLB)
		if err != nil {
			t.Fatalf("Run of a valid scenario: %v", err)
		}
		var dropped, legit uint64
		for _, n := range res.Attack.Drops {
			dropped += n
		}
		for why, n := range res.Drops {
			if !strings.HasPrefix(why, "reassembly: ") {
				legit += n
			}
		}
		if res.Attack.Delivered+dropped != res.Attack.Packets || res.Attack.Processed > res.Attack.Packets {
			t.Fatalf("attack accounting: %+v", res.Attack)
		}
		if res.Delivered+legit != res.Packets {
			t.Fatalf("legitimate accounting: delivered %d + dropped %d != %d", res.Delivered, legit, res.Packets)
		}
		k := sim.AttackKind(kind)
		if (k == sim.AttackOverlap || k == sim.AttackTeardrop) && res.Attack.Reassembled != 0 {
			t.Fatalf("%v: %d overlapping datagrams reassembled", k, res.Attack.Reassembled)
		}
	})
}

// FuzzServices feeds arbitrary scenarios, as JSON, with services and IPv6
// traffic to Validate and, when they are valid and small, to Run with a
// balancer serving services. Validate accepts or names a field; Run
// accepts what Validate accepts; every service's packets are delivered
// or dropped for a counted reason, the totals are the services' sums
// (the generated traffic is all theirs), and a second run gives the same
// Result.
func FuzzServices(f *testing.F) {
	f.Add([]byte(`{"Duration":2000000,"Services":[
		{"Key":{"VIP":"192.0.2.10","Port":80,"Proto":6},"Backends":[{"ID":1,"Addr":"10.0.0.1","Weight":1,"Up":true},{"ID":2,"Addr":"10.0.0.2","Weight":1,"Up":true}],"Traffic":{"Flows":20,"Rate":100000}},
		{"Key":{"VIP":"192.0.2.10","Port":53,"Proto":17},"Backends":[{"ID":2,"Addr":"10.0.0.2","Weight":3,"Up":true}],"Traffic":{"Flows":20,"Rate":100000,"FragmentRate":0.5,"Reorder":1}},
		{"Key":{"VIP":"2001:db8::1","Port":53,"Proto":17},"Backends":[{"ID":7,"Addr":"2001:db8::7","Weight":1,"Up":true}],"RingSize":13,"Traffic":{"Flows":9,"Rate":50000,"FragmentRate":0.5,"ExtHeaders":2,"FragmentGap":1000}}],
		"Events":[{"At":500000,"Kind":"remove-backend","Backend":1,"Service":{"VIP":"192.0.2.10","Port":80,"Proto":6}},{"At":700000,"Kind":"down","Backend":2},{"At":900000,"Kind":"remove-service","Service":{"VIP":"2001:db8::1","Port":53,"Proto":17}}]}`))
	f.Add([]byte(`{"Duration":1000000,"Backends":[{"ID":1,"Addr":"10.0.0.1","Weight":1,"Up":true},{"ID":601,"Addr":"2001:db8::601","Weight":1,"Up":true}],
		"Traffic":{"Flows":50,"Rate":200000,"IPv6Share":0.5,"ExtHeaders":1,"UDPShare":1,"FragmentRate":0.3,"MTU":1280}}`))
	f.Add([]byte(`{"Services":[{"Key":{"VIP":"192.0.2.10","Port":0,"Proto":6},"Backends":[]}],"Events":[{"Kind":"add-service"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sc sim.Scenario
		if json.Unmarshal(data, &sc) != nil {
			return
		}
		newLB := func() (balancer.Balancer, error) { return &svcLB{}, nil }
		if err := sc.Validate(); err != nil {
			var se *sim.ScenarioError
			if !errors.As(err, &se) || se.Field == "" || !errors.Is(err, sim.ErrInvalid) || !strings.HasPrefix(err.Error(), "sim: scenario.") {
				t.Fatalf("Validate: %v (%T) does not name a scenario field", err, err)
			}
			if _, rerr := sim.Run(sc, newLB); rerr == nil {
				t.Fatalf("Run accepted a scenario Validate rejects: %v", err)
			}
			return
		}
		// Run only what is quick.
		d := sc.Duration
		if d == 0 {
			d = sim.DefaultDuration
		}
		traffics := []sim.Traffic{sc.Traffic}
		if len(sc.Services) > 0 {
			traffics = nil
			for _, s := range sc.Services {
				traffics = append(traffics, s.Traffic)
			}
		}
		var sent float64
		for _, tr := range traffics {
			r := tr.Rate
			if r == 0 {
				r = sim.DefaultRate
			}
			sent += r * d.Seconds()
			if tr.Flows > 1<<12 || tr.Flows == 0 {
				return
			}
		}
		if sent > 3000 || len(sc.Traffic.Trace.Packets) > 0 || sc.Node.CPUs > 16 || sc.Node.QueueLen > 1<<12 || sc.Fleet.Nodes > 4 || len(sc.Attacks) > 0 {
			return
		}
		res, err := sim.Run(sc, newLB)
		if err != nil {
			t.Fatalf("Run of a valid scenario: %v", err)
		}
		again, err := sim.Run(sc, newLB)
		if err != nil || !reflect.DeepEqual(res, again) {
			t.Fatalf("second run differs: %v", err)
		}
		lost := func(drops map[string]uint64) uint64 {
			n := uint64(0)
			for why, c := range drops {
				if !strings.HasPrefix(why, "reassembly: ") {
					n += c
				}
			}
			return n
		}
		if res.Delivered+lost(res.Drops) != res.Packets {
			t.Fatalf("delivered %d + dropped %d != packets %d", res.Delivered, lost(res.Drops), res.Packets)
		}
		if len(sc.Services) == 0 {
			return
		}
		var sum sim.ServiceResult
		for k, s := range res.Services {
			if s.Delivered+lost(s.Drops) != s.Packets || s.Whole > s.Datagrams || s.Reliability > 1 || s.FragmentAccuracy > 1 || s.Affinity > 1 {
				t.Fatalf("service %s: %+v", k, s)
			}
			sum.Datagrams += s.Datagrams
			sum.Packets += s.Packets
			sum.Delivered += s.Delivered
			sum.Whole += s.Whole
		}
		if sum.Datagrams != res.Datagrams || sum.Packets != res.Packets || sum.Delivered != res.Delivered || sum.Whole != res.Whole {
			t.Fatalf("services' sums %+v, totals %d/%d/%d/%d", sum, res.Datagrams, res.Packets, res.Delivered, res.Whole)
		}
	})
}
