package sim_test

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

// A scenario is plain data: it travels as JSON, and a run is a function
// of it. The same scenario gives the same Result, byte for byte; another
// seed gives other traffic.
func Example() {
	var sc sim.Scenario
	err := json.Unmarshal([]byte(`{
		"Seed": 7,
		"Duration": 50000000,
		"Backends": [
			{"ID": 101, "Addr": "10.0.1.1", "Weight": 1, "Up": true},
			{"ID": 102, "Addr": "10.0.1.2", "Weight": 1, "Up": true}
		],
		"Traffic": {"Flows": 500, "Rate": 20000, "UDPShare": 1, "FragmentRate": 0.3, "Reorder": 0.5}
	}`), &sc)
	if err != nil {
		fmt.Println(err)
		return
	}
	newLB := func() (balancer.Balancer, error) { return titan.New(titan.Config{}) }
	run := func(sc sim.Scenario) []byte {
		r, err := sim.Run(sc, newLB)
		if err != nil {
			return []byte(err.Error())
		}
		b, _ := json.Marshal(r)
		return b
	}
	first, again := run(sc), run(sc)
	var r sim.Result
	json.Unmarshal(first, &r)
	fmt.Printf("%d datagrams over %v, reliability %.2f\n", r.Datagrams, r.Duration, r.Reliability)
	fmt.Println("same JSON again:", bytes.Equal(first, again))
	sc.Seed = 8
	fmt.Println("same JSON with seed 8:", bytes.Equal(first, run(sc)))
	// Output:
	// 991 datagrams over 50ms, reliability 1.00
	// same JSON again: true
	// same JSON with seed 8: false
}
