package sim_test

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/sim"
)

func TestValidate(t *testing.T) {
	ok := func() sim.Scenario { return sim.Scenario{Backends: sim.Backends(3), Duration: time.Second} }
	for _, tc := range []struct {
		name  string
		edit  func(*sim.Scenario)
		field string // expected in the message; "" means valid
	}{
		{"minimal", func(*sim.Scenario) {}, ""},
		{"zero duration is the default", func(s *sim.Scenario) { s.Duration = 0 }, ""},
		{"no backends", func(s *sim.Scenario) { s.Backends = nil }, "scenario.backends"},
		{"duplicate backend", func(s *sim.Scenario) { s.Backends[2].ID = 101 }, "backends[2].ID 101"},
		{"negative duration", func(s *sim.Scenario) { s.Duration = -1 }, "scenario.duration -1ns"},
		{"mtu too small", func(s *sim.Scenario) { s.Traffic.MTU = 20 }, "sim: scenario.traffic.mtu 20: must be at least 68"},
		{"mtu too big", func(s *sim.Scenario) { s.Traffic.MTU = 70000 }, "scenario.traffic.mtu 70000"},
		{"negative rate", func(s *sim.Scenario) { s.Traffic.Rate = -5 }, "scenario.traffic.rate -5"},
		{"NaN rate", func(s *sim.Scenario) { s.Traffic.Rate = math.NaN() }, "scenario.traffic.rate NaN"},
		{"infinite rate", func(s *sim.Scenario) { s.Traffic.Rate = math.Inf(1) }, "scenario.traffic.rate"},
		{"udp share", func(s *sim.Scenario) { s.Traffic.UDPShare = 1.5 }, "scenario.traffic.udpShare 1.5"},
		{"fragment rate", func(s *sim.Scenario) { s.Traffic.FragmentRate = -0.1 }, "scenario.traffic.fragmentRate -0.1"},
		{"reorder", func(s *sim.Scenario) { s.Traffic.Reorder = 2 }, "scenario.traffic.reorder 2"},
		{"flow churn", func(s *sim.Scenario) { s.Traffic.FlowChurn = -1 }, "scenario.traffic.flowChurn -1"},
		{"zipf", func(s *sim.Scenario) { s.Traffic.Zipf = -1 }, "scenario.traffic.zipf -1"},
		{"flows", func(s *sim.Scenario) { s.Traffic.Flows = -3 }, "scenario.traffic.flows -3"},
		{"clients over flows", func(s *sim.Scenario) { s.Traffic.Flows, s.Traffic.Clients = 10, 11 }, "scenario.traffic.clients 11"},
		{"too few clients", func(s *sim.Scenario) { s.Traffic.Flows, s.Traffic.Clients = 1<<20, 1 }, "scenario.traffic.clients 1"},
		{"size over mtu", func(s *sim.Scenario) { s.Traffic.Size = 1600 }, "scenario.traffic.size 1600"},
		{"large size not large", func(s *sim.Scenario) { s.Traffic.FragmentRate, s.Traffic.LargeSize = 0.5, 1000 }, "scenario.traffic.largeSize 1000"},
		{"large size too large", func(s *sim.Scenario) { s.Traffic.LargeSize = 70000 }, "scenario.traffic.largeSize 70000"},
		{"ipv6 vip", func(s *sim.Scenario) { s.Traffic.VIP = netip.MustParseAddr("::1") }, "scenario.traffic.vip ::1"},
		{"cpus", func(s *sim.Scenario) { s.Node.CPUs = -1 }, "scenario.node.cpus -1"},
		{"queue", func(s *sim.Scenario) { s.Node.QueueLen = -1 }, "scenario.node.queueLen -1"},
		{"event for unknown backend", func(s *sim.Scenario) { s.Events = []sim.Event{sim.BackendDown(0, 999)} }, "scenario.events[0].backend 999"},
		{"event after the end", func(s *sim.Scenario) { s.Events = []sim.Event{sim.BackendUp(2*time.Second, 101)} }, "scenario.events[0].at 2s"},
		{"event kind", func(s *sim.Scenario) { s.Events = []sim.Event{{Kind: 9, Backend: 101}} }, "scenario.events[0].kind 9"},
		{"cost", func(s *sim.Scenario) { s.Cost = cost.Model{Hash: 1, NsPerSTU: -1} }, "scenario.cost.nsPerSTU -1"},
		{"reassembly", func(s *sim.Scenario) { s.Reassembly = frag.ReassemblerOptions{MaxFragments: -1} }, "scenario.reassembly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := ok()
			tc.edit(&sc)
			err := sc.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid scenario rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error naming %q", tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %q", err, tc.field)
			}
			if !errors.Is(err, sim.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if _, rerr := sim.Run(sc, newMaglev); rerr == nil || rerr.Error() != err.Error() {
				t.Errorf("Run error %v, want the Validate error", rerr)
			}
		})
	}
}

func TestScenarioJSONRoundTrip(t *testing.T) {
	sc := sim.Scenario{
		Seed:     9,
		Duration: 50 * time.Millisecond,
		Backends: sim.Backends(3),
		Traffic:  sim.Traffic{Flows: 100, Rate: 20000, FragmentRate: 0.3, UDPShare: 0.5, Zipf: 1},
		Events:   []sim.Event{sim.BackendDown(10*time.Millisecond, 102), sim.SetWeight(20*time.Millisecond, 101, 3), sim.BackendUp(30*time.Millisecond, 102)},
	}
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Kind":"down"`) {
		t.Errorf("event kind not encoded by name: %s", b)
	}
	var back sim.Scenario
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	r1, r2 := mustRun(t, sc, newMaglev), mustRun(t, back, newMaglev)
	j1, _ := json.Marshal(r1)
	j2, _ := json.Marshal(r2)
	if string(j1) != string(j2) {
		t.Errorf("scenario changed through JSON:\n%s\n%s", j1, j2)
	}
	var k sim.EventKind
	if err := k.UnmarshalText([]byte("sideways")); err == nil {
		t.Error("unknown event kind decoded")
	}
}

func TestBackends(t *testing.T) {
	bs := sim.Backends(300)
	if err := balancer.ValidateBackends(bs); err != nil {
		t.Fatal(err)
	}
	addrs := map[netip.Addr]bool{}
	for i, b := range bs {
		if want := balancer.BackendID(101 + i); b.ID != want || b.Name != want.String() || b.Weight != 1 || !b.Up {
			t.Fatalf("backends[%d] = %+v, want ID and name %d, weight 1, up", i, b, want)
		}
		addrs[b.Addr] = true
	}
	if len(addrs) != len(bs) {
		t.Errorf("%d backends share %d addresses", len(bs), len(addrs))
	}
	if a := bs[0].Addr.String(); a != "10.0.0.101" {
		t.Errorf("backend 101 at %s, want 10.0.0.101", a)
	}
	if a := bs[155].Addr.String(); a != "10.0.1.0" {
		t.Errorf("backend 256 at %s, want 10.0.1.0", a)
	}
	if sim.Backends(0) != nil || sim.Backends(-1) != nil {
		t.Error("no backends asked, some given")
	}
}
