package main

import (
	"io"
	"testing"

	"github.com/titanlb/titanlb/sim"
)

// BenchmarkCompare measures the command's work with its default flags (15
// runs: 3 balancers x 5 fragmentation rates) through sim.Sweep, beside the
// baseline of the same runs one after another with sim.Run. ns/op is the
// wall time of one comparison (the README says about a second on a 2-core
// machine); pkts/s is simulated packets per wall second.
func BenchmarkCompare(b *testing.B) {
	o, err := parse(nil, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, packets uint64) {
		b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "pkts/s")
	}
	b.Run("sweep", func(b *testing.B) {
		b.ReportAllocs()
		var packets uint64
		for b.Loop() {
			rows, _, err := compare(o)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rows {
				packets += r.Result.Packets
			}
		}
		report(b, packets)
	})
	b.Run("sequential-baseline", func(b *testing.B) {
		b.ReportAllocs()
		var packets uint64
		for b.Loop() {
			for _, f := range o.frags {
				for _, l := range lanes(o) {
					r, err := sim.Run(scenario(o, f), l.new)
					if err != nil {
						b.Fatal(err)
					}
					packets += r.Packets
				}
			}
		}
		report(b, packets)
	})
}
