package sim_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

// BenchmarkRunRecorded is RunRecorded on the generated scenario: the
// recording's cost (a Verdict and an encoded frame per packet).
func BenchmarkRunRecorded(b *testing.B) {
	sc := benchScenario(200 * time.Millisecond)
	b.ReportAllocs()
	var pkts uint64
	for b.Loop() {
		r, _, err := sim.RunRecorded(sc, newMaglev)
		if err != nil {
			b.Fatal(err)
		}
		pkts += r.Packets
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "pkts/s")
}

// A recorded run becomes a trace: written as pcap, read back and replayed,
// it gives the generated run's Result.
func ExampleRecording_Trace() {
	sc := sim.Scenario{
		Seed:     1,
		Duration: 20 * time.Millisecond,
		Backends: []balancer.Backend{
			{ID: 101, Addr: netip.MustParseAddr("10.0.1.1"), Weight: 1, Up: true},
			{ID: 102, Addr: netip.MustParseAddr("10.0.1.2"), Weight: 1, Up: true},
		},
		Traffic: sim.Traffic{Flows: 100, Rate: 20000, UDPShare: 1, FragmentRate: 0.2, Reorder: 0.5},
	}
	gen, rec, err := sim.RunRecorded(sc, newTitan)
	if err != nil {
		fmt.Println(err)
		return
	}
	var file bytes.Buffer
	if err := sim.WriteTrace(&file, rec.Trace()); err != nil {
		fmt.Println(err)
		return
	}
	tr, err := sim.ReadTrace(&file)
	if err != nil {
		fmt.Println(err)
		return
	}
	sc.Traffic = sim.Traffic{Trace: tr}
	rep, err := sim.Run(sc, newTitan)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range []sim.Result{gen, rep} {
		fmt.Printf("%d datagrams, %d packets, reliability %.2f\n", r.Datagrams, r.Packets, r.Reliability)
	}
	fmt.Println("same result:", reflect.DeepEqual(gen, rep))
	// Output:
	// 409 datagrams, 585 packets, reliability 1.00
	// 409 datagrams, 585 packets, reliability 1.00
	// same result: true
}
