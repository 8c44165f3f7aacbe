package sim

import (
	"testing"

	"github.com/titanlb/titanlb/cost"
)

// TestServiceTime checks that a runner's per-packet service time is its
// model's Duration: for the seed model, an unset rate (0: 1 ns per STU),
// the calibrated model's tenths of a nanosecond and a rate that rounds.
func TestServiceTime(t *testing.T) {
	for _, m := range []cost.Model{cost.Default(), {Hash: 1}, cost.Calibrated(), {NsPerSTU: 2.75}} {
		sc := Scenario{Cost: m}
		r, err := newRunner(&sc, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []cost.STU{0, 1, 3, 17, 999, 123_457, 1 << 40} {
			if got, want := r.serviceTime(s), m.Duration(s); got != want {
				t.Errorf("NsPerSTU %v: serviceTime(%d) = %v, want %v", m.NsPerSTU, s, got, want)
			}
		}
	}
}
