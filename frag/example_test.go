package frag_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/frag"
)

// A balancer records the backend of a fragmented datagram when it sees the
// datagram's first fragment, and the later fragments follow it until the
// entry times out.
func ExampleTable() {
	t, err := frag.NewTable(frag.Options{Capacity: 1024, Timeout: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	k := frag.MakeKey(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.10"), 17, 42)
	t.Insert(k, frag.Entry{Backend: 102, SrcPort: 5000, DstPort: 53, HasPorts: true, Created: time.Second})

	e, ok := t.Lookup(k, 2*time.Second)
	fmt.Println(k, e.Backend, ok)
	_, ok = t.Lookup(k, time.Minute) // 59 s after it was written
	fmt.Println(ok, t.Len())
	fmt.Printf("%+v\n", t.Stats())
	// Output:
	// 10.0.0.1->192.0.2.10/17#42 102 true
	// false 0
	// {Hits:1 Misses:1 Inserts:1 Updates:0 Evictions:0 Expiries:1}
}

// The generic LRU keeps a balancer's connection table bounded: the least
// recently used entry makes room for a new one.
func ExampleLRU() {
	conns, err := frag.NewLRU[string, uint32](2)
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
