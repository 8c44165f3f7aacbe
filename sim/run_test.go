package sim_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/sim"
)

// mixed is a scenario with every traffic feature on.
func mixed(seed int64) sim.Scenario {
	return sim.Scenario{
		Seed:     seed,
		Duration: 100 * time.Millisecond,
		Backends: sim.Backends(4),
		Traffic: sim.Traffic{Flows: 2000, Clients: 200, Rate: 50000, Zipf: 1,
			UDPShare: 0.5, FragmentRate: 0.3, Reorder: 0.5},
		Events: []sim.Event{
			sim.BackendDown(30*time.Millisecond, 102),
			sim.SetWeight(50*time.Millisecond, 103, 0),
			sim.BackendUp(70*time.Millisecond, 102),
		},
	}
}

func TestRunDefaults(t *testing.T) {
	r := mustRun(t, sim.Scenario{Backends: sim.Backends(3), Duration: 100 * time.Millisecond}, newMaglev)
	// 100,000 datagrams/s for 0.1 s, Poisson: 10,000 +- a few %.
	if r.Datagrams < 9500 || r.Datagrams > 10500 {
		t.Errorf("sent %d datagrams, want about 10000", r.Datagrams)
	}
	if r.Fragments != 0 || r.Packets != r.Datagrams {
		t.Errorf("no fragmentation asked: %d packets, %d fragments for %d datagrams", r.Packets, r.Fragments, r.Datagrams)
	}
	if r.Reliability != 1 || r.Affinity != 1 || r.Delivered != r.Packets || len(r.Drops) != 0 {
		t.Errorf("lossless stateless run: reliability %v affinity %v delivered %d/%d drops %v",
			r.Reliability, r.Affinity, r.Delivered, r.Packets, r.Drops)
	}
	// The test balancer charges hash + map read + encap on every packet.
	if r.AvgCost != 70 || r.CostP50 != 70 || r.CostP99 != 70 {
		t.Errorf("cost avg %v p50 %v p99 %v, want 70", r.AvgCost, r.CostP50, r.CostP99)
	}
	if r.CostByOp["hash"] != 10*r.Processed || r.OpCounts["encap"] != r.Processed {
		t.Errorf("cost by op %v, counts %v for %d packets", r.CostByOp, r.OpCounts, r.Processed)
	}
	if len(r.CPUUtil) != sim.DefaultCPUs {
		t.Errorf("%d CPU utilisations, want %d", len(r.CPUUtil), sim.DefaultCPUs)
	}
	var busy float64
	for _, u := range r.CPUUtil {
		busy += u
	}
	// Total busy time is 70 ns per packet over the run.
	if want := 70 * float64(r.Processed) / float64(r.End); math.Abs(busy-want) > 1e-9 {
		t.Errorf("summed CPU utilisation %v, want %v", busy, want)
	}
	if r.Imbalance < 1 || r.Imbalance > 1.1 {
		t.Errorf("imbalance %v over 3 equal backends and 1000 uniform flows", r.Imbalance)
	}
	if r.Throughput != float64(r.Delivered)*10 {
		t.Errorf("throughput %v, want %v", r.Throughput, float64(r.Delivered)*10)
	}
}

func TestRunFragmentsStayWholeWhenPinned(t *testing.T) {
	sc := mixed(1)
	sc.Events = nil
	r := mustRun(t, sc, newPin)
	if r.Fragments == 0 || r.Fragments >= r.Packets {
		t.Fatalf("%d fragments of %d packets", r.Fragments, r.Packets)
	}
	if r.Reliability != 1 || r.FragmentAccuracy != 1 || r.Whole != r.Datagrams {
		t.Errorf("one backend gets everything: reliability %v fragment accuracy %v whole %d/%d drops %v",
			r.Reliability, r.FragmentAccuracy, r.Whole, r.Datagrams, r.Drops)
	}
}

func TestRunNaiveFragmentsBreak(t *testing.T) {
	sc := mixed(1)
	sc.Events = nil
	r := mustRun(t, sc, newMaglev)
	// A non-first fragment hashes with ports 0: it reaches its first
	// fragment's backend about 1/4 of the time with 4 backends.
	if r.FragmentAccuracy > 0.7 || r.FragmentAccuracy < 0.3 {
		t.Errorf("naive fragment accuracy %v, want about 0.3 to 0.7", r.FragmentAccuracy)
	}
	if r.Reliability >= 1 || r.Reliability < 0.7 {
		t.Errorf("naive reliability %v, want below 1 (30%% fragmented)", r.Reliability)
	}
	if r.Drops["reassembly: timeout"] == 0 {
		t.Errorf("no incomplete datagrams counted: %v", r.Drops)
	}
	if r.Affinity >= 1 {
		t.Errorf("misrouted fragments did not lower affinity: %v", r.Affinity)
	}
}

func TestRunBackendDown(t *testing.T) {
	sc := sim.Scenario{Backends: sim.Backends(4), Duration: 200 * time.Millisecond,
		Traffic: sim.Traffic{Flows: 1000, Rate: 50000},
		Events:  []sim.Event{sim.BackendDown(100*time.Millisecond, 104)}}
	var lb *maglevLB
	r := mustRun(t, sc, func() (balancer.Balancer, error) { lb = &maglevLB{}; return lb, nil })
	if lb.set != 2 {
		t.Errorf("SetBackends called %d times, want 2 (start, event)", lb.set)
	}
	// Maglev moves the flows of the dead backend (about 1/4 of 1000) and
	// hardly any other.
	if r.Moved < 150 || r.Moved > 350 {
		t.Errorf("moved %d flows, want about 250", r.Moved)
	}
	if r.Disrupted > r.Moved/5 {
		t.Errorf("disrupted %d flows, want few next to %d moved", r.Disrupted, r.Moved)
	}
	if r.Affinity < 0.99 {
		t.Errorf("affinity %v: hardly any unnecessary move expected", r.Affinity)
	}
	// About half the run on 4 backends, half on 3: 104 gets about 1/8.
	share := float64(r.PerBackend["104"]) / float64(r.Delivered)
	if share < 0.09 || share > 0.16 {
		t.Errorf("backend 104 got %.3f of the packets, want about 0.125", share)
	}
}

func TestRunDisruptionOnBackendUp(t *testing.T) {
	// A stateless balancer moves flows back to a backend that comes up:
	// their current backend is still usable, so that is disruption.
	sc := sim.Scenario{Backends: sim.Backends(4), Duration: 200 * time.Millisecond,
		Traffic: sim.Traffic{Flows: 1000, Rate: 50000}}
	sc.Backends[3].Up = false
	sc.Events = []sim.Event{sim.BackendUp(100*time.Millisecond, 104)}
	r := mustRun(t, sc, newMaglev)
	if r.Disrupted < 150 || r.Disrupted > 350 {
		t.Errorf("disrupted %d flows, want about 250 (1/4 move to 104)", r.Disrupted)
	}
	if r.Affinity > 0.95 {
		t.Errorf("affinity %v after moving flows", r.Affinity)
	}
}

func TestRunQueueFull(t *testing.T) {
	sc := sim.Scenario{Backends: sim.Backends(2), Duration: 20 * time.Millisecond,
		Traffic: sim.Traffic{Rate: 1e6},
		Node:    sim.Node{CPUs: 1, QueueLen: 8},
		Cost:    cost.Model{Hash: 10, MapRead: 20, Encap: 40, NsPerSTU: 20}, // 1.4 µs per packet
	}
	r := mustRun(t, sc, newMaglev)
	if r.Drops[sim.DropQueueFull] == 0 {
		t.Fatalf("overloaded node dropped nothing: %v", r.Drops)
	}
	if r.Processed+r.Drops[sim.DropQueueFull] != r.Packets {
		t.Errorf("processed %d + queue drops %d != sent %d", r.Processed, r.Drops[sim.DropQueueFull], r.Packets)
	}
	if r.CPUUtil[0] < 0.95 {
		t.Errorf("saturated CPU utilisation %v", r.CPUUtil[0])
	}
	if r.LatencyP99 < 8*1400 || r.LatencyP50 < 1400 {
		t.Errorf("latency p50 %v p99 %v with a full 8-packet queue at 1.4 µs each", r.LatencyP50, r.LatencyP99)
	}
	// Offered 1.4 times what the CPU can do: it delivers about 1/1.4.
	if r.Reliability < 0.68 || r.Reliability > 0.75 {
		t.Errorf("reliability %v with 1.4x overload, want about 0.714", r.Reliability)
	}
}

func TestRunNoBackendDrops(t *testing.T) {
	sc := sim.Scenario{Backends: sim.Backends(2), Duration: 10 * time.Millisecond}
	sc.Events = []sim.Event{sim.BackendDown(0, 101), sim.BackendDown(0, 102)}
	r := mustRun(t, sc, newMaglev)
	if r.Delivered != 0 || r.Drops[balancer.ReasonNoBackend] != r.Packets || r.Reliability != 0 {
		t.Errorf("all backends down: delivered %d, drops %v, reliability %v", r.Delivered, r.Drops, r.Reliability)
	}
	if r.Affinity != 0 || r.Imbalance != 0 {
		t.Errorf("0/0 ratios not 0: affinity %v imbalance %v", r.Affinity, r.Imbalance)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("empty result does not marshal: %v", err)
	}
}

func TestRunDeterministic(t *testing.T) {
	a, b := mustRun(t, mixed(7), newMaglev), mustRun(t, mixed(7), newMaglev)
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("same scenario, different results:\n%s\n%s", ja, jb)
	}
	c := mustRun(t, mixed(8), newMaglev)
	jc, _ := json.Marshal(c)
	if string(jc) == string(ja) {
		t.Fatal("seeds 7 and 8 gave identical results")
	}
	if a.Datagrams == c.Datagrams && a.Packets == c.Packets {
		t.Errorf("seeds 7 and 8 sent the same traffic: %d datagrams, %d packets", a.Datagrams, a.Packets)
	}
}

func TestRunBalancerErrors(t *testing.T) {
	sc := sim.Scenario{Backends: sim.Backends(2), Duration: time.Millisecond}
	boom := errors.New("boom")
	if _, err := sim.Run(sc, func() (balancer.Balancer, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("constructor error not returned: %v", err)
	}
	if _, err := sim.Run(sc, nil); err == nil {
		t.Error("nil newLB accepted")
	}
	if _, err := sim.Run(sc, func() (balancer.Balancer, error) { return nil, nil }); err == nil {
		t.Error("nil balancer accepted")
	}
}

func TestRunNoAllocsPerPacket(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count over two runs")
	}
	ipv6 := mixed(3)
	ipv6.Traffic.IPv6Share, ipv6.Traffic.ExtHeaders = 0.5, 1
	ipv6.Backends = append(ipv6.Backends, sim.Backends6(3)...)
	services := twoServices()
	for _, tc := range []struct {
		name  string
		sc    sim.Scenario
		newLB func() (balancer.Balancer, error)
	}{
		{"catch-all", mixed(3), newMaglev},
		{"ipv6", ipv6, newSvc},
		{"services", services, newSvc},
	} {
		sc := tc.sc
		allocs := func(d time.Duration) (uint64, uint64) {
			sc.Duration = d
			sc.Events = nil
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			r := mustRun(t, sc, tc.newLB)
			runtime.ReadMemStats(&m1)
			return m1.Mallocs - m0.Mallocs, r.Packets
		}
		a1, p1 := allocs(100 * time.Millisecond)
		a2, p2 := allocs(400 * time.Millisecond)
		// The longer run allocates no more per extra packet than a
		// rounding error (table growth happens in the first few
		// milliseconds).
		per := float64(a2-min(a1, a2)) / float64(p2-p1)
		if per > 0.01 {
			t.Errorf("%s: %.3f allocations per extra packet (%d allocs for %d packets, %d for %d)", tc.name, per, a1, p1, a2, p2)
		}
	}
}

func TestResultFieldsSerialise(t *testing.T) {
	r := mustRun(t, mixed(2), newMaglev)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back sim.Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("Result changed through JSON")
	}
}

// failLB rejects every backend set after the first.
type failLB struct{ maglevLB }

func (l *failLB) SetBackends(bs []balancer.Backend) error {
	if l.set > 0 {
		return errors.New("refused")
	}
	return l.maglevLB.SetBackends(bs)
}

func TestRunSetBackendsErrorAtEvent(t *testing.T) {
	sc := sim.Scenario{Backends: sim.Backends(2), Duration: 10 * time.Millisecond,
		Events: []sim.Event{sim.SetWeight(5*time.Millisecond, 102, 3)}}
	_, err := sim.Run(sc, func() (balancer.Balancer, error) { return &failLB{}, nil })
	if err == nil || !strings.Contains(err.Error(), "scenario.events 5ms weight 102") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %v, want one naming the event and wrapping the balancer's", err)
	}
}

func TestRunFlowChurn(t *testing.T) {
	sc := sim.Scenario{Backends: sim.Backends(4), Duration: 100 * time.Millisecond,
		Traffic: sim.Traffic{Flows: 200, Rate: 50000, FlowChurn: 20000}}
	var lb *countingLB
	r := mustRun(t, sc, func() (balancer.Balancer, error) { lb = &countingLB{}; return lb, nil })
	// 20,000 new flows per second for 0.1 s: about 2000.
	if r.NewFlows < 1800 || r.NewFlows > 2200 {
		t.Errorf("%d new flows, want about 2000", r.NewFlows)
	}
	// Every new TCP flow opens with a SYN: far more SYNs than the 200
	// initial flows, and more distinct 5-tuples.
	if lb.syns < 1000 || len(lb.tuples) < 1000 {
		t.Errorf("%d SYNs, %d distinct 5-tuples with churn", lb.syns, len(lb.tuples))
	}
	if r.Affinity != 1 || r.Disrupted != 0 {
		t.Errorf("new flows counted as moved: affinity %v disrupted %d", r.Affinity, r.Disrupted)
	}
	sc.Traffic.FlowChurn = 0
	r0 := mustRun(t, sc, newMaglev)
	if r0.NewFlows != 0 {
		t.Errorf("%d new flows without churn", r0.NewFlows)
	}
}

// countingLB is maglevLB that counts SYNs and distinct 5-tuples.
type countingLB struct {
	maglevLB
	syns   int
	tuples map[[16]byte]bool
}

func (l *countingLB) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	if l.tuples == nil {
		l.tuples = map[[16]byte]bool{}
	}
	if p.TCPFlags&balancer.TCPSyn != 0 {
		l.syns++
	}
	if !p.IsFragment() {
		l.tuples[balancer.Key5(p)] = true
	}
	return l.maglevLB.Process(env, p)
}

func TestRunSmallMTUManyFragments(t *testing.T) {
	// 4000 bytes over a 68-byte MTU: 83 fragments of 48 bytes, more than
	// frag.DefaultMaxFragments; the backends' default must still take them.
	sc := sim.Scenario{Backends: sim.Backends(2), Duration: 10 * time.Millisecond,
		Traffic: sim.Traffic{Rate: 20000, UDPShare: 1, FragmentRate: 1, MTU: 68, LargeSize: 4000}}
	r := mustRun(t, sc, newPin)
	if r.Fragments != 83*r.Datagrams || r.Reliability != 1 {
		t.Errorf("%d fragments for %d datagrams, reliability %v, drops %v", r.Fragments, r.Datagrams, r.Reliability, r.Drops)
	}
	sc.Reassembly.MaxFragments = 64
	if r := mustRun(t, sc, newPin); r.Reliability != 0 || r.Drops["reassembly: too many fragments"] == 0 {
		t.Errorf("explicit bound of 64 fragments: reliability %v drops %v", r.Reliability, r.Drops)
	}
}
