package lru_test

import (
	"fmt"

	"github.com/titanlb/titanlb/lru"
)

// A bounded connection table: the least recently used entry makes room for
// a new one.
func ExampleNew() {
	conns, err := lru.New[string, uint32](2)
	if err != nil {
		fmt.Println(err)
		return
	}
	conns.Put("flow-a", 101)
	conns.Put("flow-b", 102)
	conns.Get("flow-a")                   // flow-a is now the most recent
	fmt.Println(conns.Put("flow-c", 103)) // evicts flow-b
	for k, v := range conns.All() {
		fmt.Println(k, v)
	}
	// Output:
	// true
	// flow-c 103
	// flow-a 101
}
