package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/sim"
)

// fleetScenario is n nodes of 2 CPUs behind a 5-tuple/mode ECMP router,
// 4000 flows from 400 hosts, uniform, half UDP, with fragRate of the
// datagrams fragmented and half of those reordered.
func fleetScenario(n int, mode sim.ECMPMode, fragRate float64) sim.Scenario {
	return sim.Scenario{
		Seed:     7,
		Duration: 100 * time.Millisecond,
		Backends: sim.Backends(8),
		Traffic: sim.Traffic{Flows: 4000, Clients: 400, Rate: 100_000,
			UDPShare: 0.5, FragmentRate: fragRate, Reorder: 0.5},
		Node:  sim.Node{CPUs: 2},
		Fleet: sim.Fleet{Nodes: n, ECMP: mode},
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The single-node run is the one-node fleet: the same Result byte for
// byte, whatever the router's fragment hash, with the node's own figures
// equal to the run's.
func TestFleetOneNodeIsRun(t *testing.T) {
	for _, lb := range []struct {
		name  string
		newLB func() (balancer.Balancer, error)
	}{{"maglev", newMaglev}, {"titan", newTitan}} {
		for _, mode := range []sim.ECMPMode{sim.ECMP3Tuple, sim.ECMP2Tuple, sim.ECMP5Tuple} {
			t.Run(lb.name+"/"+mode.String(), func(t *testing.T) {
				sc := mixed(5)
				base := mustRun(t, sc, lb.newLB)
				sc.Fleet = sim.Fleet{Nodes: 1, ECMP: mode}
				r := mustRun(t, sc, lb.newLB)
				if len(r.Fleet.Nodes) != 1 {
					t.Fatalf("fleet of one: %d node results", len(r.Fleet.Nodes))
				}
				n := r.Fleet.Nodes[0]
				if n.Processed != r.Processed || n.Delivered != r.Delivered || !n.Up {
					t.Errorf("node 0 %+v, run processed %d delivered %d", n, r.Processed, r.Delivered)
				}
				var util float64
				for _, u := range r.CPUUtil {
					util += u
				}
				if d := n.CPUUtil - util/float64(len(r.CPUUtil)); d > 1e-12 || d < -1e-12 {
					t.Errorf("node CPU utilisation %v, CPUs %v", n.CPUUtil, r.CPUUtil)
				}
				if r.Fleet.Rehomed != 0 || r.Fleet.Broken != 0 || r.Fleet.Split != 0 {
					t.Errorf("one node moved flows: %+v", r.Fleet)
				}
				r.Fleet = sim.FleetResult{}
				if a, b := mustJSON(t, base), mustJSON(t, r); !bytes.Equal(a, b) {
					t.Errorf("one-node fleet differs from Run:\n%s\n%s", a, b)
				}
			})
		}
	}
}

// sumNodes checks that the nodes' figures add up to the fleet's.
func sumNodes(t *testing.T, r sim.Result) {
	t.Helper()
	var proc, del uint64
	for _, n := range r.Fleet.Nodes {
		proc += n.Processed
		del += n.Delivered
	}
	if proc != r.Processed || del != r.Delivered {
		t.Errorf("nodes processed %d delivered %d, fleet %d, %d", proc, del, r.Processed, r.Delivered)
	}
}

// Maglev's property across a fleet: every node picks the same backend, so
// Titan's unfragmented traffic spread over 4 nodes is as reliable and
// affine as on one.
func TestFleetTitanUnfragmented(t *testing.T) {
	sc := fleetScenario(4, sim.ECMP5Tuple, 0)
	r := mustRun(t, sc, newTitan)
	if r.Fragments != 0 || r.Datagrams == 0 {
		t.Fatalf("%d datagrams, %d fragments", r.Datagrams, r.Fragments)
	}
	if r.Reliability != 1 || r.Affinity != 1 || r.Disrupted != 0 {
		t.Errorf("4 nodes: reliability %v affinity %v disrupted %d drops %v", r.Reliability, r.Affinity, r.Disrupted, r.Drops)
	}
	if len(r.Fleet.Nodes) != 4 || len(r.CPUUtil) != 8 {
		t.Fatalf("%d node results, %d CPUs", len(r.Fleet.Nodes), len(r.CPUUtil))
	}
	for i, n := range r.Fleet.Nodes {
		if n.Processed == 0 || !n.Up || n.CPUUtil <= 0 {
			t.Errorf("node %d idle: %+v", i, n)
		}
	}
	if r.Fleet.Imbalance < 1 || r.Fleet.Imbalance > 1.5 {
		t.Errorf("node imbalance %v over 4000 uniform flows", r.Fleet.Imbalance)
	}
	sumNodes(t, r)
	one := sc
	one.Fleet = sim.Fleet{}
	single := mustRun(t, one, newTitan)
	if single.PerBackend == nil || !reflect.DeepEqual(single.PerBackend, r.PerBackend) {
		t.Errorf("backends' load differs between 1 and 4 nodes: %v vs %v", single.PerBackend, r.PerBackend)
	}
}

// What Titan's fragment state survives depends on the router: a 3-tuple
// or 2-tuple fragment hash keeps a datagram's fragments on one node (not
// always its flow's), so the node's fragment table sees them all and the
// datagram stays whole; a 5-tuple hash sends the first fragment (with
// ports) where the flow goes and the rest elsewhere: an orphan on node B
// cannot see the entry its first fragment wrote on node A.
func TestFleetTitanFragmentsByECMP(t *testing.T) {
	single := fleetScenario(0, 0, 0.3)
	one := mustRun(t, single, newTitan)
	if one.Reliability != 1 {
		t.Fatalf("titan on one node: reliability %v drops %v", one.Reliability, one.Drops)
	}
	res := map[sim.ECMPMode]sim.Result{}
	for _, mode := range []sim.ECMPMode{sim.ECMP3Tuple, sim.ECMP2Tuple, sim.ECMP5Tuple} {
		r := mustRun(t, fleetScenario(4, mode, 0.3), newTitan)
		res[mode] = r
		sumNodes(t, r)
		t.Logf("%s: reliability %.4f fragment accuracy %.4f affinity %.4f split %d drops %v",
			mode, r.Reliability, r.FragmentAccuracy, r.Affinity, r.Fleet.Split, r.Drops)
		if r.Datagrams != one.Datagrams || r.Fragments != one.Fragments {
			t.Fatalf("%s: traffic differs from one node's", mode)
		}
	}
	for _, mode := range []sim.ECMPMode{sim.ECMP3Tuple, sim.ECMP2Tuple} {
		r := res[mode]
		if r.Fleet.Split != 0 {
			t.Errorf("%s split %d datagrams across nodes", mode, r.Fleet.Split)
		}
		if r.Reliability != 1 || r.FragmentAccuracy != 1 {
			t.Errorf("%s: reliability %v fragment accuracy %v", mode, r.Reliability, r.FragmentAccuracy)
		}
	}
	r5 := res[sim.ECMP5Tuple]
	if r5.Fleet.Split == 0 {
		t.Fatal("5-tuple ECMP split no datagram")
	}
	if r5.Reliability >= 1 || r5.FragmentAccuracy >= 1 {
		t.Errorf("5-tuple ECMP: split datagrams stayed whole: reliability %v fragment accuracy %v",
			r5.Reliability, r5.FragmentAccuracy)
	}
	// Every datagram lost is one that was split (at this load no queue
	// overflows).
	if lost := r5.Datagrams - r5.Whole; lost > r5.Fleet.Split {
		t.Errorf("5-tuple ECMP lost %d datagrams, split only %d", lost, r5.Fleet.Split)
	}
}

// A node failure moves its flows to the other nodes; Maglev keeps them on
// their backends, so no connection breaks. Hash-threshold ECMP moves
// flows among all nodes, a resilient group only the failed node's.
func TestFleetNodeDown(t *testing.T) {
	var rehomed [2]uint64
	for i, resilient := range []bool{false, true} {
		sc := fleetScenario(4, sim.ECMP3Tuple, 0)
		sc.Fleet.Resilient = resilient
		sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(50*time.Millisecond, 2)}
		for _, lb := range []struct {
			name  string
			newLB func() (balancer.Balancer, error)
		}{{"maglev", newMaglev}, {"titan", newTitan}} {
			r := mustRun(t, sc, lb.newLB)
			t.Logf("resilient %v %s: rehomed %d broken %d node-down drops %d", resilient, lb.name,
				r.Fleet.Rehomed, r.Fleet.Broken, r.Drops[sim.DropNodeDown])
			if r.Fleet.Rehomed == 0 {
				t.Errorf("%s: no flow moved off the failed node", lb.name)
			}
			if r.Fleet.Broken != 0 || r.Disrupted != 0 || r.Affinity != 1 {
				t.Errorf("%s: broken %d disrupted %d affinity %v", lb.name, r.Fleet.Broken, r.Disrupted, r.Affinity)
			}
			if r.Fleet.Nodes[2].Up || !r.Fleet.Nodes[1].Up {
				t.Errorf("node states at the end: %+v", r.Fleet.Nodes)
			}
			if r.Whole+r.Drops[sim.DropNodeDown] != r.Datagrams {
				t.Errorf("%s: whole %d + lost with the node %d != %d datagrams (drops %v)",
					lb.name, r.Whole, r.Drops[sim.DropNodeDown], r.Datagrams, r.Drops)
			}
			sumNodes(t, r)
			rehomed[i] = r.Fleet.Rehomed
		}
	}
	if rehomed[1] >= rehomed[0] {
		t.Errorf("resilient ECMP moved %d flows, hash-threshold %d", rehomed[1], rehomed[0])
	}
}

// A flow whose backend was drained to weight 0 lives on only in the
// connection table of the node serving it: when that node fails, the
// node that takes the flow over places it by the ring, on another
// backend, and the connection breaks. The stateless balancer moved those
// flows at the drain already, so the node failure breaks nothing more.
func TestFleetNodeDownBreaksDrainedFlows(t *testing.T) {
	sc := fleetScenario(4, sim.ECMP3Tuple, 0)
	sc.Events = []sim.Event{sim.SetWeight(20*time.Millisecond, 101, 0)}
	sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(50*time.Millisecond, 1)}
	r := mustRun(t, sc, newTitan)
	if r.Fleet.Broken == 0 {
		t.Errorf("titan: no drained flow broke when its node failed: %+v", r.Fleet)
	}
	if r.Fleet.Broken > r.Fleet.Rehomed || r.Fleet.Broken > r.Disrupted {
		t.Errorf("titan: broken %d, rehomed %d, disrupted %d", r.Fleet.Broken, r.Fleet.Rehomed, r.Disrupted)
	}
	// Without the failure the drained flows stay put.
	calm := sc
	calm.Fleet.Events = nil
	if c := mustRun(t, calm, newTitan); c.Disrupted != 0 || c.Fleet.Rehomed != 0 {
		t.Errorf("titan without the failure: disrupted %d rehomed %d", c.Disrupted, c.Fleet.Rehomed)
	}
	m := mustRun(t, sc, newMaglev)
	if m.Fleet.Broken != 0 || m.Disrupted == 0 {
		t.Errorf("stateless: broken %d disrupted %d", m.Fleet.Broken, m.Disrupted)
	}
}

// A node added mid-run takes flows from the others; they keep their
// backends.
func TestFleetNodeUp(t *testing.T) {
	for _, resilient := range []bool{false, true} {
		sc := fleetScenario(4, sim.ECMP3Tuple, 0.1)
		sc.Traffic.Reorder = 0
		sc.Fleet.Resilient = resilient
		sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(0, 3), sim.NodeUp(50*time.Millisecond, 3)}
		r := mustRun(t, sc, newTitan)
		if r.Fleet.Rehomed == 0 || r.Fleet.Nodes[3].Processed == 0 || !r.Fleet.Nodes[3].Up {
			t.Errorf("resilient %v: node 3 took nothing: %+v", resilient, r.Fleet)
		}
		if r.Fleet.Broken != 0 || r.Reliability != 1 || r.Affinity != 1 {
			t.Errorf("resilient %v: broken %d reliability %v affinity %v drops %v",
				resilient, r.Fleet.Broken, r.Reliability, r.Affinity, r.Drops)
		}
		// Node 3 worked half the run, the others all of it.
		if n := r.Fleet.Nodes; n[3].Processed >= n[0].Processed {
			t.Errorf("resilient %v: node 3 processed %d, node 0 %d", resilient, n[3].Processed, n[0].Processed)
		}
		sumNodes(t, r)
	}
}

// Fragment state lives on one node: a datagram whose fragments straddle a
// node failure (spaced 1 ms apart) has its later fragments sent to
// another node, which has no entry for it.
func TestFleetFragmentsStraddleNodeDown(t *testing.T) {
	sc := fleetScenario(4, sim.ECMP3Tuple, 0.3)
	sc.Traffic.Reorder = 0
	sc.Traffic.FragmentGap = time.Millisecond
	calm := mustRun(t, sc, newTitan)
	if calm.Fleet.Split != 0 || calm.Reliability != 1 {
		t.Fatalf("no failure: split %d reliability %v", calm.Fleet.Split, calm.Reliability)
	}
	sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(50*time.Millisecond, 0)}
	r := mustRun(t, sc, newTitan)
	if r.Fleet.Split == 0 {
		t.Fatal("no datagram straddled the failure")
	}
	if r.FragmentAccuracy >= 1 || r.Reliability >= 1 {
		t.Errorf("datagrams straddling the failure all whole: %v %v", r.FragmentAccuracy, r.Reliability)
	}
	t.Logf("split %d, datagrams lost %d, node-down drops %d", r.Fleet.Split, r.Datagrams-r.Whole, r.Drops[sim.DropNodeDown])
}

// All nodes down: the router drops everything.
func TestFleetAllNodesDown(t *testing.T) {
	sc := fleetScenario(2, sim.ECMP3Tuple, 0.3)
	sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(0, 0), sim.NodeDown(0, 1), sim.NodeUp(60*time.Millisecond, 1)}
	sc.Fleet.Resilient = true
	r := mustRun(t, sc, newTitan)
	if r.Drops[sim.DropNoNode] == 0 || r.Fleet.Nodes[0].Processed != 0 || r.Fleet.Nodes[1].Processed == 0 {
		t.Errorf("drops %v nodes %+v", r.Drops, r.Fleet.Nodes)
	}
	if r.Whole == 0 || r.Whole >= r.Datagrams {
		t.Errorf("whole %d of %d", r.Whole, r.Datagrams)
	}
}

func TestFleetDeterministicAndJSON(t *testing.T) {
	sc := fleetScenario(3, sim.ECMP2Tuple, 0.3)
	sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(30*time.Millisecond, 1), sim.NodeUp(60*time.Millisecond, 1)}
	a, b := mustRun(t, sc, newTitan), mustRun(t, sc, newTitan)
	if ja, jb := mustJSON(t, a), mustJSON(t, b); !bytes.Equal(ja, jb) {
		t.Errorf("same fleet scenario, different results")
	}
	var back sim.Result
	if err := json.Unmarshal(mustJSON(t, a), &back); err != nil || !reflect.DeepEqual(back, a) {
		t.Errorf("fleet Result changed through JSON (%v)", err)
	}
	js := mustJSON(t, sc)
	if !strings.Contains(string(js), `"ECMP":"2-tuple"`) {
		t.Errorf("scenario JSON: %s", js)
	}
	var sc2 sim.Scenario
	if err := json.Unmarshal(js, &sc2); err != nil || !reflect.DeepEqual(sc2.Fleet, sc.Fleet) {
		t.Errorf("Fleet changed through JSON: %+v (%v)", sc2.Fleet, err)
	}
	sc.Seed++
	if c := mustRun(t, sc, newTitan); reflect.DeepEqual(c.Fleet, a.Fleet) {
		t.Errorf("another seed, same fleet figures")
	}
}

func TestFleetValidate(t *testing.T) {
	for _, tc := range []struct {
		fleet sim.Fleet
		cpus  int
		want  string
	}{
		{sim.Fleet{Nodes: -1}, 0, "sim: scenario.fleet.nodes -1: "},
		{sim.Fleet{Nodes: sim.MaxNodes + 1}, 0, fmt.Sprintf("sim: scenario.fleet.nodes %d: ", sim.MaxNodes+1)},
		{sim.Fleet{Nodes: 1000}, 100, "sim: scenario.fleet.nodes 1000: 1000 nodes of 100 CPUs"},
		{sim.Fleet{ECMP: 9}, 0, "sim: scenario.fleet.ecmp 9: "},
		{sim.Fleet{Nodes: 4, Events: []sim.NodeEvent{sim.NodeUp(0, 4)}}, 0, "sim: scenario.fleet.events[0].node 4: "},
		{sim.Fleet{Events: []sim.NodeEvent{sim.NodeDown(0, 0), sim.NodeDown(-1, 0)}}, 0, "sim: scenario.fleet.events[1].at -1ns: "},
		{sim.Fleet{Events: []sim.NodeEvent{sim.NodeDown(2*time.Second, 0)}}, 0, "sim: scenario.fleet.events[0].at 2s: "},
	} {
		sc := sim.Scenario{Backends: sim.Backends(2), Node: sim.Node{CPUs: tc.cpus}, Fleet: tc.fleet}
		err := sc.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, sim.ErrInvalid) {
			t.Errorf("%+v: %v, want %q...", tc.fleet, err, tc.want)
		}
		if _, rerr := sim.Run(sc, newMaglev); rerr == nil {
			t.Errorf("%+v: Run accepted it", tc.fleet)
		}
	}
	var m sim.ECMPMode
	if err := m.UnmarshalText([]byte("4-tuple")); err == nil {
		t.Error("unknown ECMP mode accepted")
	}
	if _, err := sim.ECMPMode(7).MarshalText(); err == nil {
		t.Error("ECMP mode 7 marshalled")
	}
}

// A node whose balancer cannot be built, at the start or when it
// rejoins, is an error naming the node.
func TestFleetNewLBErrors(t *testing.T) {
	built := 0
	newLB := func() (balancer.Balancer, error) {
		if built++; built > 2 {
			return nil, errors.New("out of maps")
		}
		return newMaglev()
	}
	sc := fleetScenario(3, 0, 0)
	if _, err := sim.Run(sc, newLB); err == nil || !strings.Contains(err.Error(), "node 2") {
		t.Errorf("third node's constructor failed: %v", err)
	}
	built = 0
	sc = fleetScenario(2, 0, 0)
	sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(10*time.Millisecond, 1), sim.NodeUp(20*time.Millisecond, 1)}
	if _, err := sim.Run(sc, newLB); err == nil || !strings.Contains(err.Error(), "scenario.fleet.events 20ms node 1") {
		t.Errorf("rejoining node's constructor failed: %v", err)
	}
}

func TestFleetNoAllocsPerPacket(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count over two runs")
	}
	sc := fleetScenario(4, sim.ECMP5Tuple, 0.3)
	allocs := func(d time.Duration) (uint64, uint64) {
		sc.Duration = d
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		r := mustRun(t, sc, newMaglev)
		runtime.ReadMemStats(&m1)
		return m1.Mallocs - m0.Mallocs, r.Packets
	}
	a1, p1 := allocs(100 * time.Millisecond)
	a2, p2 := allocs(400 * time.Millisecond)
	if per := float64(a2-min(a1, a2)) / float64(p2-p1); per > 0.01 {
		t.Errorf("%.3f allocations per extra packet (%d allocs for %d packets, %d for %d)", per, a1, p1, a2, p2)
	}
}

// A node of four fails at 40 ms. Titan's flows move to the other three
// nodes and keep their backends; a flow drained off backend 101 at 20 ms
// lived only in the failed node's connection table and breaks.
func ExampleFleet() {
	sc := sim.Scenario{
		Seed:     1,
		Duration: 80 * time.Millisecond,
		Backends: sim.Backends(4),
		Traffic:  sim.Traffic{Flows: 2000, Rate: 50_000},
		Events:   []sim.Event{sim.SetWeight(20*time.Millisecond, 101, 0)},
		Fleet: sim.Fleet{Nodes: 4, Resilient: true,
			Events: []sim.NodeEvent{sim.NodeDown(40*time.Millisecond, 2)}},
	}
	r, err := sim.Run(sc, newTitan)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("reliability %.4f, affinity %.4f\n", r.Reliability, r.Affinity)
	fmt.Printf("flows moved between nodes %d, connections broken %d\n", r.Fleet.Rehomed, r.Fleet.Broken)
	for i, n := range r.Fleet.Nodes {
		fmt.Printf("node %d: up %v, %d packets\n", i, n.Up, n.Processed)
	}
	// Output:
	// reliability 1.0000, affinity 0.9853
	// flows moved between nodes 202, connections broken 19
	// node 0: up true, 1236 packets
	// node 1: up true, 1164 packets
	// node 2: up false, 503 packets
	// node 3: up true, 1180 packets
}

// BenchmarkFleet is the issue's scale target: 16 nodes of 4 CPUs, 1,000
// backends, 1,000,000 flows from 100,000 hosts (uniform, half UDP, 10%
// fragmented) sending 4 million datagrams over 2 simulated seconds, with
// a node failing at 0.5 s and a node added at 1.5 s, through Titan. Its
// baseline beside it is the same traffic on one node of 64 CPUs.
func BenchmarkFleet(b *testing.B) {
	base := sim.Scenario{
		Seed:     1,
		Duration: 2 * time.Second,
		Backends: backends1000(),
		Traffic: sim.Traffic{Flows: 1_000_000, Clients: 100_000, Rate: 2_000_000,
			UDPShare: 0.5, FragmentRate: 0.1},
	}
	for _, tc := range []struct {
		name  string
		node  sim.Node
		fleet sim.Fleet
	}{
		{"nodes=1", sim.Node{CPUs: 64}, sim.Fleet{}},
		{"nodes=16", sim.Node{CPUs: 4}, sim.Fleet{Nodes: 16, Events: []sim.NodeEvent{
			sim.NodeDown(0, 15), sim.NodeDown(500*time.Millisecond, 3), sim.NodeUp(1500*time.Millisecond, 15)}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sc := base
			sc.Node, sc.Fleet = tc.node, tc.fleet
			b.ReportAllocs()
			var r sim.Result
			for b.Loop() {
				var err error
				if r, err = sim.Run(sc, newTitan); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(r.Packets)/sec, "pkts/s")
			b.ReportMetric(float64(r.Packets), "pkts/op")
			b.ReportMetric(r.Reliability, "reliability")
			b.ReportMetric(r.Affinity, "affinity")
			b.ReportMetric(float64(r.Fleet.Rehomed), "rehomed")
			b.ReportMetric(float64(r.Fleet.Broken), "broken")
		})
	}
}

// backends1000 returns 1,000 up backends with IDs 101.., weight 1.
func backends1000() []balancer.Backend {
	bs := make([]balancer.Backend, 1000)
	for i := range bs {
		id := balancer.BackendID(101 + i)
		bs[i] = balancer.Backend{ID: id, Name: id.String(),
			Addr: netip.AddrFrom4([4]byte{10, 0, byte(1 + i/250), byte(1 + i%250)}), Weight: 1, Up: true}
	}
	return bs
}

// TestFleetTable is the figures of docs/simulation.md's Fleet: the three
// designs on one node and on 4 nodes under each ECMP fragment hash
// (fragments 30%, half of them reordered), then through node changes
// (unfragmented traffic). Run with -v to print it. It checks what the
// doc says of it.
func TestFleetTable(t *testing.T) {
	designs := designs()
	t.Logf("%-8s %-8s %11s %9s %8s %6s", "design", "ecmp", "reliability", "frag-acc", "affinity", "split")
	rel := map[string]float64{}
	for _, d := range designs {
		for _, k := range []int{1, 4} {
			for _, mode := range []sim.ECMPMode{sim.ECMP3Tuple, sim.ECMP2Tuple, sim.ECMP5Tuple} {
				if k == 1 && mode != sim.ECMP3Tuple {
					continue
				}
				r := mustRun(t, fleetScenario(k, mode, 0.3), d.mk)
				name := mode.String()
				if k == 1 {
					name = "1 node"
				}
				rel[d.name+"/"+name] = r.Reliability
				t.Logf("%-8s %-8s %11.4f %9.4f %8.4f %6d", d.name, name, r.Reliability, r.FragmentAccuracy, r.Affinity, r.Fleet.Split)
			}
		}
	}
	if rel["katran/5-tuple"] != rel["katran/1 node"] {
		t.Errorf("katran drops every fragment, yet the ECMP hash changed its reliability: %v", rel)
	}
	for _, d := range []string{"titan", "cilium"} {
		if rel[d+"/5-tuple"] >= rel[d+"/3-tuple"] || rel[d+"/3-tuple"] != rel[d+"/1 node"] {
			t.Errorf("%s: splitting datagrams across nodes did not cost reliability: %v", d, rel)
		}
	}

	t.Logf("%-8s %-22s %7s %6s %9s %8s %9s", "design", "change", "rehomed", "broken", "disrupted", "affinity", "node-down")
	changes := []struct {
		name      string
		resilient bool
		events    []sim.Event
		nodes     []sim.NodeEvent
	}{
		{"node 1 fails", false, nil, []sim.NodeEvent{sim.NodeDown(50*time.Millisecond, 1)}},
		{"node 1 fails, resilient", true, nil, []sim.NodeEvent{sim.NodeDown(50*time.Millisecond, 1)}},
		{"node 3 added", false, nil, []sim.NodeEvent{sim.NodeDown(0, 3), sim.NodeUp(50*time.Millisecond, 3)}},
		{"drain 101, node 1 fails", false, []sim.Event{sim.SetWeight(20*time.Millisecond, 101, 0)},
			[]sim.NodeEvent{sim.NodeDown(50*time.Millisecond, 1)}},
	}
	for _, c := range changes {
		for _, d := range designs {
			sc := fleetScenario(4, sim.ECMP3Tuple, 0)
			sc.Events, sc.Fleet.Events, sc.Fleet.Resilient = c.events, c.nodes, c.resilient
			r := mustRun(t, sc, d.mk)
			t.Logf("%-8s %-22s %7d %6d %9d %8.4f %9d", d.name, c.name, r.Fleet.Rehomed, r.Fleet.Broken,
				r.Disrupted, r.Affinity, r.Drops[sim.DropNodeDown])
			if c.events == nil && r.Fleet.Broken != 0 {
				t.Errorf("%s, %s: %d connections broken with the backends unchanged", d.name, c.name, r.Fleet.Broken)
			}
		}
	}

	t.Logf("fragments 1 ms apart, in order, 3-tuple ECMP, node 0 fails at 50 ms:")
	t.Logf("%-8s %11s %11s %6s %6s", "design", "reliability", "(no fail)", "split", "lost")
	for _, d := range designs {
		sc := fleetScenario(4, sim.ECMP3Tuple, 0.3)
		sc.Traffic.Reorder, sc.Traffic.FragmentGap = 0, time.Millisecond
		calm := mustRun(t, sc, d.mk)
		sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(50*time.Millisecond, 0)}
		r := mustRun(t, sc, d.mk)
		t.Logf("%-8s %11.4f %11.4f %6d %6d", d.name, r.Reliability, calm.Reliability, r.Fleet.Split, calm.Whole-r.Whole)
		if r.Fleet.Split == 0 || r.Whole > calm.Whole {
			t.Errorf("%s: split %d, whole %d with the failure, %d without", d.name, r.Fleet.Split, r.Whole, calm.Whole)
		}
	}
}

// A replayed trace goes through a fleet like generated traffic: the
// one-node fleet equals the plain replay, and the nodes of a larger one
// share the packets.
func TestFleetTraceReplay(t *testing.T) {
	sc := replayOf(goldenScenario(), readTraceFile(t, tracePcap))
	base := mustRun(t, sc, newTitan)
	if base.Processed == 0 {
		t.Fatal("trace replay processed nothing")
	}
	sc.Fleet = sim.Fleet{Nodes: 1, ECMP: sim.ECMP5Tuple}
	one := mustRun(t, sc, newTitan)
	one.Fleet = sim.FleetResult{}
	if a, b := mustJSON(t, base), mustJSON(t, one); !bytes.Equal(a, b) {
		t.Errorf("one-node fleet replay differs:\n%s\n%s", a, b)
	}
	sc.Fleet = sim.Fleet{Nodes: 3, ECMP: sim.ECMP5Tuple}
	r := mustRun(t, sc, newTitan)
	sumNodes(t, r)
	if r.Processed != base.Processed || r.Datagrams != base.Datagrams {
		t.Errorf("fleet replay processed %d of %d datagrams, plain %d of %d", r.Processed, r.Datagrams, base.Processed, base.Datagrams)
	}
	busy := 0
	for _, n := range r.Fleet.Nodes {
		if n.Processed > 0 {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("one node took the whole trace: %+v", r.Fleet.Nodes)
	}
}

// A loaded node that fails loses what its queues and CPUs hold, counted
// as node-down drops; nothing else is lost.
func TestFleetNodeDownLosesQueued(t *testing.T) {
	sc := fleetScenario(4, sim.ECMP3Tuple, 0)
	sc.Duration = 20 * time.Millisecond
	sc.Traffic.Rate = 2_000_000
	sc.Cost = cost.Default()
	sc.Cost.NsPerSTU = 20 // some 3 µs per packet: the CPUs are busy and queue
	sc.Fleet.Events = []sim.NodeEvent{sim.NodeDown(10*time.Millisecond, 2)}
	r := mustRun(t, sc, newTitan)
	lost := r.Drops[sim.DropNodeDown]
	if lost == 0 {
		t.Fatalf("a busy node failed with nothing queued: drops %v, CPUs %v", r.Drops, r.CPUUtil)
	}
	if r.Whole+lost+r.Drops[sim.DropQueueFull] != r.Datagrams {
		t.Errorf("whole %d + lost %d != %d datagrams (drops %v)", r.Whole, lost, r.Datagrams, r.Drops)
	}
	if r.Fleet.Broken != 0 || r.Affinity != 1 {
		t.Errorf("broken %d affinity %v", r.Fleet.Broken, r.Affinity)
	}
	t.Logf("lost with the node: %d packets; CPU utilisation %v", lost, r.CPUUtil)
}
