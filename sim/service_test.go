package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

var (
	svcVIP = netip.MustParseAddr("192.0.2.10")
	webKey = balancer.ServiceKey{VIP: svcVIP, Port: 80, Proto: balancer.ProtoTCP}
	dnsKey = balancer.ServiceKey{VIP: svcVIP, Port: 53, Proto: balancer.ProtoUDP}
)

// twoServices is a VIP with two services whose pools overlap (103, 104):
// web (TCP, whole datagrams) on 101-104, dns (UDP, 30% fragmented, half
// of those reordered) on 103-106, from the same client hosts.
func twoServices() sim.Scenario {
	bs := sim.Backends(6)
	return sim.Scenario{
		Seed:     3,
		Duration: 100 * time.Millisecond,
		Services: []sim.ServiceTraffic{
			{Service: balancer.Service{Key: webKey, Backends: slices.Clone(bs[:4])},
				Traffic: sim.Traffic{Flows: 500, Clients: 100, Rate: 20000}},
			{Service: balancer.Service{Key: dnsKey, Backends: slices.Clone(bs[2:])},
				Traffic: sim.Traffic{Flows: 300, Clients: 100, Rate: 10000, FragmentRate: 0.3, Reorder: 0.5}},
		},
	}
}

func TestServicesValidate(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::10")
	for _, tc := range []struct {
		name string
		edit func(*sim.Scenario)
		want string // the whole message; "" means valid
	}{
		{"valid", func(*sim.Scenario) {}, ""},
		{"catch-all backends too", func(s *sim.Scenario) { s.Backends = sim.Backends(2) },
			"sim: scenario.backends 2: must be empty with scenario.services (their pools list the backends)"},
		{"top-level traffic", func(s *sim.Scenario) { s.Traffic.Flows = 10 },
			"sim: scenario.traffic.flows 10: must be unset with scenario.services (each service has its own traffic)"},
		{"negative rate", func(s *sim.Scenario) { s.Services[1].Traffic.Rate = -3 },
			"sim: scenario.services[1].traffic.rate -3: must be a finite number of datagrams per second, at least 0"},
		{"port from the key", func(s *sim.Scenario) { s.Services[0].Traffic.Port = 8080 },
			"sim: scenario.services[0].traffic.port 8080: must be unset: the service's key 192.0.2.10:80/tcp sets it"},
		{"udp share from the key", func(s *sim.Scenario) { s.Services[0].Traffic.UDPShare = 0.5 },
			"sim: scenario.services[0].traffic.udpShare 0.5: must be unset: the service's key 192.0.2.10:80/tcp sets it"},
		{"ipv6 share from the key", func(s *sim.Scenario) { s.Services[1].Traffic.IPv6Share = 1 },
			"sim: scenario.services[1].traffic.ipv6Share 1: must be unset: the service's key 192.0.2.10:53/udp sets it"},
		{"duplicate key", func(s *sim.Scenario) { s.Services[1].Key = webKey },
			"sim: scenario.services 2: services[1].Key 192.0.2.10:80/tcp: duplicate service (services[0])"},
		{"mixed family", func(s *sim.Scenario) { s.Services[1].Key.VIP = v6 },
			"sim: scenario.services 2: services[1].backends[0].Addr 10.0.0.103: not the VIP's family"},
		{"ipv6 service under the IPv6 minimum MTU", func(s *sim.Scenario) {
			s.Services[1].Key.VIP = v6
			s.Services[1].Backends = sim.Backends6(2)
			s.Services[1].Traffic.MTU = 1000
		}, "sim: scenario.services[1].traffic.mtu 1000: must be at least 1280 for IPv6 flows (RFC 8200 §5)"},
		{"too many services", func(s *sim.Scenario) {
			for i := range sim.MaxServices {
				k := webKey
				k.Port = uint16(1000 + i)
				s.Services = append(s.Services, sim.ServiceTraffic{Service: balancer.Service{Key: k, Backends: sim.Backends(1)}})
			}
		}, "sim: scenario.services 66: at most 64 services"},
		{"health event for one service", func(s *sim.Scenario) {
			s.Events = []sim.Event{{Kind: sim.EventBackendDown, Backend: 103, Service: webKey}}
		}, "sim: scenario.events[0].service 192.0.2.10:80/tcp: must be unset: a backend's health applies in every service"},
		{"weight in a service that does not list it", func(s *sim.Scenario) {
			s.Events = []sim.Event{sim.SetServiceWeight(time.Millisecond, webKey, 106, 0)}
		}, "sim: scenario.events[0].backend 106: not in the pool of services[0] 192.0.2.10:80/tcp at 1ms"},
		{"weight in every service", func(s *sim.Scenario) { s.Events = []sim.Event{sim.SetWeight(time.Millisecond, 106, 0)} }, ""},
		{"no such service", func(s *sim.Scenario) {
			k := webKey
			k.Port = 81
			s.Events = []sim.Event{sim.RemoveService(0, k)}
		}, "sim: scenario.events[0].service 192.0.2.10:81/tcp: no such service"},
		{"add a service that is there", func(s *sim.Scenario) { s.Events = []sim.Event{sim.AddService(0, webKey)} },
			"sim: scenario.events[0].service 192.0.2.10:80/tcp: add-service: the service is already there"},
		{"remove then add", func(s *sim.Scenario) {
			s.Events = []sim.Event{sim.AddService(2*time.Millisecond, webKey), sim.RemoveService(time.Millisecond, webKey)}
		}, ""},
		{"add to a pool twice", func(s *sim.Scenario) {
			s.Events = []sim.Event{sim.AddToPool(time.Millisecond, webKey, 105, 1), sim.AddToPool(2*time.Millisecond, webKey, 105, 1)}
		}, "sim: scenario.events[1].backend 105: already in the pool of services[0] 192.0.2.10:80/tcp"},
		{"add an unknown backend", func(s *sim.Scenario) { s.Events = []sim.Event{sim.AddToPool(0, webKey, 999, 1)} },
			"sim: scenario.events[0].backend 999: no such backend"},
		{"empty a pool", func(s *sim.Scenario) {
			s.Services[0].Backends = s.Services[0].Backends[:1]
			s.Events = []sim.Event{sim.RemoveFromPool(0, webKey, 101)}
		}, "sim: scenario.events[0].backend 101: the last of services[0] 192.0.2.10:80/tcp's pool: a pool is never empty (remove the service instead)"},
		{"service event without services", func(s *sim.Scenario) {
			s.Services, s.Backends = nil, sim.Backends(2)
			s.Events = []sim.Event{sim.RemoveService(0, webKey)}
		}, "sim: scenario.events[0].kind remove-service: needs scenario.services"},
		{"attacks need an IPv4 service", func(s *sim.Scenario) {
			s.Services = s.Services[:1]
			s.Services[0].Key.VIP = v6
			s.Services[0].Backends = sim.Backends6(2)
			s.Attacks = []sim.Attack{{Kind: sim.AttackSYNFlood, Rate: 10}}
		}, "sim: scenario.attacks 1: need an IPv4 service to attack: attacks are IPv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := twoServices()
			tc.edit(&sc)
			err := sc.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid scenario rejected: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want || !errors.Is(err, sim.ErrInvalid) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestServicesNeedAServiceSetter(t *testing.T) {
	_, err := sim.Run(twoServices(), newMaglev)
	if err == nil || !strings.Contains(err.Error(), "testmaglev does not implement balancer.ServiceSetter") {
		t.Fatalf("got %v", err)
	}
}

func TestServicesResult(t *testing.T) {
	sc := twoServices()
	lb := &svcLB{}
	r := mustRun(t, sc, func() (balancer.Balancer, error) { return lb, nil })
	if lb.sets != 1 {
		t.Errorf("SetServices called %d times, want 1", lb.sets)
	}
	web, dns := r.Services[webKey.String()], r.Services[dnsKey.String()]
	if len(r.Services) != 2 || web.Index != 0 || dns.Index != 1 {
		t.Fatalf("services %v", slices.Sorted(maps.Keys(r.Services)))
	}
	// Every packet is one service's: the totals are their sums.
	for _, c := range []struct {
		name       string
		total, sum uint64
	}{
		{"datagrams", r.Datagrams, web.Datagrams + dns.Datagrams},
		{"packets", r.Packets, web.Packets + dns.Packets},
		{"fragments", r.Fragments, web.Fragments + dns.Fragments},
		{"processed", r.Processed, web.Processed + dns.Processed},
		{"delivered", r.Delivered, web.Delivered + dns.Delivered},
		{"whole", r.Whole, web.Whole + dns.Whole},
	} {
		if c.total == 0 || c.total != c.sum {
			t.Errorf("%s: total %d, services' sum %d", c.name, c.total, c.sum)
		}
	}
	for why, n := range r.Drops {
		if why != "reassembly: timeout" && web.Drops[why]+dns.Drops[why] != n {
			t.Errorf("drops %q: total %d, services %d + %d", why, n, web.Drops[why], dns.Drops[why])
		}
	}
	// Each service's packets reach its own pool only.
	for name, n := range web.PerBackend {
		if n > 0 && name > "104" {
			t.Errorf("web reached %s (%d packets)", name, n)
		}
	}
	for name, n := range dns.PerBackend {
		if n > 0 && name < "103" {
			t.Errorf("dns reached %s (%d packets)", name, n)
		}
	}
	if len(web.PerBackend) != 4 || len(dns.PerBackend) != 4 {
		t.Errorf("per backend: web %v, dns %v", web.PerBackend, dns.PerBackend)
	}
	// web is unfragmented TCP: whole; dns's fragments are hashed without
	// ports by a stateless balancer: some are lost.
	if web.Fragments != 0 || web.Reliability != 1 || web.Affinity != 1 {
		t.Errorf("web: %d fragments, reliability %v, affinity %v", web.Fragments, web.Reliability, web.Affinity)
	}
	if dns.Fragments == 0 || dns.FragmentAccuracy >= 1 || dns.Reliability >= 1 || dns.Reliability < 0.5 {
		t.Errorf("dns: %d fragments, fragment accuracy %v, reliability %v", dns.Fragments, dns.FragmentAccuracy, dns.Reliability)
	}
	if web.AvgCost <= 0 || web.LatencyP99 < web.LatencyP50 || web.Throughput <= 0 {
		t.Errorf("web: cost %v, latency %v/%v, throughput %v", web.AvgCost, web.LatencyP50, web.LatencyP99, web.Throughput)
	}
}

func TestServicesDeterministic(t *testing.T) {
	run := func(sc sim.Scenario) []byte {
		b, err := json.Marshal(mustRun(t, sc, newSvc))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sc := twoServices()
	first := run(sc)
	if !bytes.Equal(first, run(sc)) {
		t.Error("same scenario, different JSON")
	}
	if !bytes.Contains(first, []byte(`"Services":{"192.0.2.10:53/udp":{"Index":1,`)) {
		t.Errorf("no per-service results in %s", first)
	}
	sc.Seed++
	if bytes.Equal(first, run(sc)) {
		t.Error("another seed, same JSON")
	}
	// Each service draws from its own stream: another service's traffic
	// does not change what web sends.
	sc = twoServices()
	sc.Services[1].Traffic.Rate *= 2
	var a, b sim.Result
	json.Unmarshal(first, &a)
	json.Unmarshal(run(sc), &b)
	if aw, bw := a.Services[webKey.String()], b.Services[webKey.String()]; aw.Datagrams != bw.Datagrams || bw.Datagrams == 0 {
		t.Errorf("web sent %d datagrams, then %d when dns doubled its rate", aw.Datagrams, bw.Datagrams)
	}
}

// portOf returns the destination port of a verdict's frame, and whether
// it carries ports.
func portOf(t *testing.T, v sim.Verdict) (balancer.Packet, bool) {
	t.Helper()
	h, err := balancer.Decode(v.Frame)
	if err != nil {
		t.Fatal(err)
	}
	return h, h.HasPorts()
}

func TestServicesEvents(t *testing.T) {
	sc := twoServices()
	sc.Events = []sim.Event{
		sim.SetServiceWeight(20*time.Millisecond, webKey, 103, 0),
		sim.RemoveFromPool(40*time.Millisecond, dnsKey, 106),
		sim.BackendDown(60*time.Millisecond, 104),
		sim.RemoveService(80*time.Millisecond, webKey),
	}
	lb := &svcLB{}
	r, rec, err := sim.RunRecorded(sc, func() (balancer.Balancer, error) { return lb, nil })
	if err != nil {
		t.Fatal(err)
	}
	if lb.sets != 5 {
		t.Errorf("SetServices called %d times, want 5", lb.sets)
	}
	at := func(i int) time.Duration { return sc.Events[i].At }
	var webOn103, dnsOn103, web104, passed int
	for _, v := range rec.Verdicts {
		h, ports := portOf(t, v)
		if !ports {
			continue // fragments follow the fallback service
		}
		web := h.DstPort == 80
		switch {
		case web && v.Arrive > at(3):
			if v.Action != balancer.Pass {
				t.Fatalf("web packet at %v after the service's removal: %v", v.Arrive, v.Action)
			}
			passed++
		case web && v.Arrive > at(0) && v.Backend == 103:
			webOn103++
		case !web && v.Arrive > at(0) && v.Backend == 103:
			dnsOn103++
		case !web && v.Arrive > at(1) && v.Backend == 106:
			t.Fatalf("dns packet at %v reached 106 after it left the pool", v.Arrive)
		case v.Arrive > at(2) && v.Backend == 104 && v.Action == balancer.Forward:
			web104++
		}
	}
	// A stateless balancer drops a weight-0 backend from the ring: web
	// leaves 103, dns keeps it.
	if webOn103 != 0 || dnsOn103 == 0 {
		t.Errorf("after web's weight 0 on 103: web %d packets there, dns %d", webOn103, dnsOn103)
	}
	if web104 != 0 {
		t.Errorf("%d packets reached 104 while it was down", web104)
	}
	web, dns := r.Services[webKey.String()], r.Services[dnsKey.String()]
	if passed == 0 || web.Drops[sim.DropPassed] < uint64(passed) || dns.Drops[sim.DropPassed] != 0 {
		t.Errorf("passed: %d seen, web %d, dns %d", passed, web.Drops[sim.DropPassed], dns.Drops[sim.DropPassed])
	}
	// Leaving the pool and going down are moves that had to happen.
	if dns.Moved == 0 || web.Moved == 0 || r.Moved != web.Moved+dns.Moved {
		t.Errorf("moved: web %d, dns %d, total %d", web.Moved, dns.Moved, r.Moved)
	}
	if _, ok := dns.PerBackend["106"]; !ok {
		t.Errorf("dns's per-backend figures lost 106, which it reached before leaving: %v", dns.PerBackend)
	}
}

func TestServicesAbsentUntilAdded(t *testing.T) {
	sc := twoServices()
	sc.Services[0].Absent = true
	sc.Events = []sim.Event{sim.AddService(50*time.Millisecond, webKey)}
	_, rec, err := sim.RunRecorded(sc, newSvc)
	if err != nil {
		t.Fatal(err)
	}
	var before, after int
	for _, v := range rec.Verdicts {
		if h, _ := portOf(t, v); h.DstPort != 80 {
			continue
		}
		switch {
		case v.Arrive < 50*time.Millisecond && v.Action != balancer.Pass:
			t.Fatalf("web packet at %v forwarded before the service exists", v.Arrive)
		case v.Arrive < 50*time.Millisecond:
			before++
		case v.Action == balancer.Forward:
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("web packets passed before: %d, forwarded after: %d", before, after)
	}
}

func TestServicesRefusedSetNamesTheEvent(t *testing.T) {
	// A ring of 5 slots holds at most 5 backends: the pool's sixth makes
	// the balancer refuse the set.
	sc := twoServices()
	sc.Services[1].RingSize = 5
	sc.Events = []sim.Event{sim.AddToPool(30*time.Millisecond, dnsKey, 101, 1), sim.AddToPool(30*time.Millisecond, dnsKey, 102, 1)}
	_, err := sim.Run(sc, newSvc)
	want := "sim: testservices: SetServices at scenario.events 30ms add-backend 102 192.0.2.10:53/udp: services[1].RingSize 5:"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %q...", err, want)
	}
}

func TestServicesJSON(t *testing.T) {
	sc := twoServices()
	sc.Events = []sim.Event{sim.SetServiceWeight(time.Millisecond, webKey, 101, 2)}
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"Services":[{"Key":{"VIP":"192.0.2.10","Port":80,"Proto":6},"Backends":[`,
		`"Kind":"weight","Backend":101,"Weight":2,"Service":{"VIP":"192.0.2.10","Port":80,"Proto":6}`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back sim.Scenario
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if !bytes.Equal(b, b2) {
		t.Errorf("round trip:\n%s\n%s", b, b2)
	}
	// A scenario without services marshals as before they existed.
	b, _ = json.Marshal(sim.Scenario{Backends: sim.Backends(1), Events: []sim.Event{sim.BackendDown(0, 101)}})
	if bytes.Contains(b, []byte("Service")) || bytes.Contains(b, []byte("IPv6")) {
		t.Errorf("catch-all scenario: %s", b)
	}
}
