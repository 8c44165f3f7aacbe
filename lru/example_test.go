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

// A caller that looks up related keys together keeps each one's handle
// in another's value, so that the next lookup goes straight to it. A
// stale handle is only slower, never wrong.
func ExampleMap_RefAt() {
	type conn struct {
		backend uint32
		reply   lru.Handle // the handle of the reply direction's entry
	}
	conns, err := lru.New[string, conn](1024)
	if err != nil {
		fmt.Println(err)
		return
	}
	conns.Put("client->vip", conn{backend: 7})
	conns.Put("vip->client", conn{backend: 7})
	for range 3 {
		fwd := conns.Ref("client->vip")
		rev, h := conns.RefAt("vip->client", fwd.reply)
		fwd.reply = h // the pointer is good: nothing was Put since Ref
		fmt.Println(fwd.backend, rev.backend, fwd.reply != 0)
	}
	conns.Delete("vip->client")
	rev, _ := conns.RefAt("vip->client", conns.Ref("client->vip").reply)
	fmt.Println(rev == nil, conns.Stats().Hits, conns.Stats().Misses)
	// Output:
	// 7 7 true
	// 7 7 true
	// 7 7 true
	// true 7 1
}
