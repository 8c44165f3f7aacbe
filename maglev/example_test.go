package maglev_test

import (
	"fmt"

	"github.com/titanlb/titanlb/maglev"
)

// Build a ring for three backends, look a flow hash up, and measure what
// removing one backend moves.
func Example() {
	all := []maglev.Entry{{Name: "101", Weight: 1}, {Name: "102", Weight: 1}, {Name: "103", Weight: 1}}
	before, err := maglev.New(all, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("slots per backend:", before.Counts())
	fmt.Println("hash 12345 ->", all[before.Lookup(12345)].Name)

	after, _ := maglev.New(all[:2], 0)
	fmt.Printf("removing 103 moves %.1f%% of slots\n", 100*maglev.Disruption(before, after))

	_, err = maglev.New(all, 65536)
	fmt.Println(err)
	// Output:
	// slots per backend: [21846 21846 21845]
	// hash 12345 -> 103
	// removing 103 moves 33.3% of slots
	// maglev: size 65536: not prime
}
