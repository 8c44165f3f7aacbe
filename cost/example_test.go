package cost_test

import (
	"fmt"

	"github.com/titanlb/titanlb/cost"
)

// A balancer charges each operation it performs; the meter prices them.
func Example() {
	m := cost.NewMeter(cost.Default())
	// An established flow through Titan: hash, connection lookup,
	// backend lookup, encapsulation.
	m.Charge(cost.OpHash)
	m.Charge(cost.OpMapRead)
	m.Charge(cost.OpMapRead)
	m.Charge(cost.OpEncap)
	fmt.Println(m.Total(), "STU;", m.Count(cost.OpMapRead), "map reads")
	// Output: 90 STU; 2 map reads
}
