package frag_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/frag"
)

// A balancer records where a datagram's first fragment went; the later
// fragments, which carry no ports, look the datagram up by its key. An
// entry older than the timeout is a miss.
func ExampleSetTable() {
	t, err := frag.NewSetTable(frag.SetOptions{Capacity: 1024, Timeout: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	k := frag.MakeKey(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.10"), 17, 42)
	t.Insert(k, frag.Entry{Backend: 102, SrcPort: 5000, DstPort: 53, HasPorts: true}, 0)

	e, ok := t.Lookup(k, 500*time.Millisecond)
	fmt.Println(k, ok, e.Backend, e.SrcPort)
	_, ok = t.Lookup(k, 2*time.Second)
	fmt.Println("after the timeout:", ok, t.Stats().Expiries)
	// Output:
	// 10.0.0.1->192.0.2.10/17#42 true 102 5000
	// after the timeout: false 1
}

// A backend reassembles a datagram from its fragments in any order. A
// fragment that partly overlaps one it holds discards the whole datagram,
// as Linux does.
func ExampleReassembler() {
	r, err := frag.NewReassembler(frag.ReassemblerOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.10")
	a, b := frag.MakeKey(src, dst, 17, 42), frag.MakeKey(src, dst, 17, 43)
	for _, f := range []frag.Fragment{
		{Key: a, Offset: 185, Len: 520}, // the last fragment first
		{Key: a, Offset: 0, More: true, Len: 1480},
		{Key: b, Offset: 0, More: true, Len: 1480},
		{Key: b, Offset: 180, Len: 520}, // overlaps the first
	} {
		d := r.Add(0, f)
		fmt.Printf("%v offset %3d: complete %v, size %d, drop %v\n", f.Key, f.Offset, d.Complete, d.Size, d.Drop)
	}
	fmt.Println("in progress:", r.Len())
	// Output:
	// 10.0.0.1->192.0.2.10/17#42 offset 185: complete false, size 0, drop none
	// 10.0.0.1->192.0.2.10/17#42 offset   0: complete true, size 2000, drop none
	// 10.0.0.1->192.0.2.10/17#43 offset   0: complete false, size 0, drop none
	// 10.0.0.1->192.0.2.10/17#43 offset 180: complete false, size 0, drop overlapping fragment
	// in progress: 0
}

// A caller that already has a key's set hash (here computed with SetHash;
// a balancer finishes it from the host-pair rounds of its flow hashes)
// passes it instead of hashing the key again.
func ExampleSetTable_LookupHashed() {
	const seed = 1
	t, err := frag.NewSetTable(frag.SetOptions{Capacity: 1024, Seed: seed})
	if err != nil {
		fmt.Println(err)
		return
	}
	k := frag.MakeKey(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.10"), 17, 42)
	h := frag.SetHash(k, seed)
	t.InsertHashed(k, h, &frag.Entry{Backend: 102}, 0)
	var e frag.Entry
	ok := t.LookupHashed(k, h, time.Second, &e)
	fmt.Println(ok, e.Backend, t.SetOf(k) == int(h%uint32(t.Sets())))
	// Output: true 102 true
}

// A caller that has read the addresses as words already, to hash them,
// builds the key from those words: each address's bytes in network
// order, read as little-endian 64-bit words.
func ExampleKeyFromWords() {
	src, dst := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::10").As16()
	le := binary.LittleEndian
	k := frag.KeyFromWords(le.Uint64(src[:8]), le.Uint64(src[8:]), le.Uint64(dst[:8]), le.Uint64(dst[8:]), 17, 7, true)
	fmt.Println(k, k == frag.MakeKey6(netip.AddrFrom16(src), netip.AddrFrom16(dst), 17, 7))
	// Output: 2001:db8::1->2001:db8::10/17#7 true
}
