package cost_test

import (
	"fmt"

	"github.com/titanlb/titanlb/cost"
)

// The calibrated model turns a packet's operations into the nanoseconds
// the kernel program takes for them.
func ExampleCalibrated() {
	m := cost.Calibrated()
	mt := cost.NewMeter(m)
	// An established flow through Titan: stats, connection and backend
	// lookups, a hash, an encapsulation.
	mt.Charge(cost.OpHash)
	for range 3 {
		mt.Charge(cost.OpMapRead)
	}
	mt.Charge(cost.OpEncap)
	established := m.Duration(mt.Total())
	// A new flow makes two reads more (the ring, the orphan credit) and
	// two writes (the connection and hint tables).
	mt.Charge(cost.OpMapRead)
	mt.Charge(cost.OpMapRead)
	mt.Charge(cost.OpMapWrite)
	mt.Charge(cost.OpMapWrite)
	fmt.Println("established:", established, "new flow:", m.Duration(mt.Total()))
	// Output: established: 44ns new flow: 722ns
}
