// Package lru holds [Map], a bounded map that evicts its least recently
// used entry: the connection and hint tables of the Titan, Katran and
// Cilium models, and any table a custom balancer needs.
//
// A Map is an arena of nodes, each stamped with its last use, indexed by
// an open-addressing hash table. Get, Put, Peek and Delete are O(1) (Put
// amortised when it evicts) and do not allocate once the map has reached
// its working size; eviction order is recency order and never depends on
// the hash seed, so a simulation that uses a Map is deterministic. A Map
// is not safe for concurrent use. [Map.RefAt] takes a [Handle] an earlier
// lookup returned, so that a caller looking up related keys together can
// skip hashing and probing for all but the first.
//
//	m, err := lru.New[string, int](2)
//	if err != nil { ... }
//	m.Put("a", 1)
//	m.Put("b", 2)
//	m.Get("a")             // "a" is now the most recently used
//	evicted := m.Put("c", 3) // true: "b" was evicted
//
// It imports nothing of TitanLB's.
package lru
