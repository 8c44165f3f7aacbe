package cost_test

import (
	"fmt"

	"github.com/titanlb/titanlb/cost"
)

// The calibrated model turns a packet's operations into the nanoseconds
// the kernel program takes for them, each kind of map access at its own
// price.
func ExampleCalibrated() {
	m := cost.Calibrated()
	titan := cost.NewMeter(m)
	// An established flow through Titan: a hash; stats, connection set
	// and backend, three ARRAY reads; an encapsulation.
	titan.Charge(cost.OpHash)
	for range 3 {
		titan.Charge(cost.OpArrayRead)
	}
	titan.Charge(cost.OpEncap)
	katran := cost.NewMeter(m)
	// An established UDP flow through Katran: eight ARRAY reads (its
	// statistics among them), the VIP's hash-map lookup, the per-CPU LRU
	// lookup, the clock read for the entry's access time, an
	// encapsulation.
	for range 8 {
		katran.Charge(cost.OpArrayRead)
	}
	katran.Charge(cost.OpMapRead)
	katran.Charge(cost.OpLRURead)
	katran.Charge(cost.OpClock)
	katran.Charge(cost.OpEncap)
	fmt.Println("titan:", m.Duration(titan.Total()), "katran:", m.Duration(katran.Total()))
	// Output: titan: 28ns katran: 88ns
}
