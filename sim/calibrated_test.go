package sim_test

import (
	"math"
	"testing"

	"github.com/titanlb/titanlb/cost"
)

// TestAvgNsUnderCalibratedCost runs one scenario through titan under the
// default and the calibrated cost model: AvgNs is AvgCost in the
// model's nanoseconds, and under cost.Calibrated() it lies between the
// kernel's cheapest and dearest Titan paths (an established packet, a
// new flow).
func TestAvgNsUnderCalibratedCost(t *testing.T) {
	path := func(m cost.Model, hash, reads, writes int) float64 {
		mt := cost.NewMeter(m)
		for range hash {
			mt.Charge(cost.OpHash)
		}
		for range reads {
			mt.Charge(cost.OpMapRead)
		}
		for range writes {
			mt.Charge(cost.OpMapWrite)
		}
		mt.Charge(cost.OpEncap)
		return m.Nanoseconds(float64(mt.Total()))
	}
	for _, tc := range []struct {
		name string
		m    cost.Model
		ns   float64 // one STU
	}{
		{"default", cost.Default(), 1},
		{"calibrated", cost.Calibrated(), cost.Calibrated().NsPerSTU},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := mixed(4)
			sc.Cost = tc.m
			r := mustRun(t, sc, newTitan)
			if r.AvgCost == 0 || math.Abs(r.AvgNs-r.AvgCost*tc.ns) > 1e-9*r.AvgNs {
				t.Errorf("AvgNs %v, AvgCost %v STU of %v ns", r.AvgNs, r.AvgCost, tc.ns)
			}
			lo, hi := path(tc.m, 0, 3, 0), path(tc.m, 1, 5, 2)
			if r.AvgNs < lo || r.AvgNs > hi {
				t.Errorf("AvgNs %.1f outside the paths' %.1f-%.1f ns", r.AvgNs, lo, hi)
			}
			t.Logf("%s: %.1f STU, %.1f ns per packet", tc.name, r.AvgCost, r.AvgNs)
		})
	}
}
