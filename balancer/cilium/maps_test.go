package cilium

import (
	"math"
	"net/netip"
	"testing"
)

// checkSpread checks that the low 32 bits of hash over keys (what an
// lru.Map keeps as a slot and a tag) look uniform: about as many 32-bit
// collisions as the birthday bound, and slots of a half-full index
// filled as by chance.
func checkSpread[K any](t *testing.T, name string, keys []K, hash func(K) uint64) {
	t.Helper()
	n := len(keys)
	tags := make(map[uint32]int, n)
	bits := 0
	for 1<<bits < 2*n {
		bits++
	}
	slots := make([]int, 1<<bits)
	for _, k := range keys {
		h := uint32(hash(k))
		tags[h]++
		slots[h&(1<<bits-1)]++
	}
	// Expected 32-bit collisions n^2/2^33; allow generous slack.
	want := float64(n) * float64(n) / (1 << 33)
	if c := n - len(tags); float64(c) > 4*want+10 {
		t.Errorf("%s: %d keys, %d 32-bit hash collisions; by chance about %.1f", name, n, c, want)
	}
	// Load λ = n/slots; empty slots by chance e^-λ of them.
	lambda := float64(n) / float64(len(slots))
	empty, most := 0, 0
	for _, c := range slots {
		if c == 0 {
			empty++
		}
		most = max(most, c)
	}
	if got, exp := float64(empty)/float64(len(slots)), math.Exp(-lambda); math.Abs(got-exp) > 0.02 {
		t.Errorf("%s: %.3f of %d slots empty; by chance %.3f", name, got, len(slots), exp)
	}
	if most > 12 {
		t.Errorf("%s: a slot holds %d of %d keys (load %.2f)", name, most, n, lambda)
	}
}

// The tuple, fragment and address hashes spread structured keys (clients
// of one prefix, consecutive ports and IP IDs, every flag) like random
// ones.
func TestKeyHashesSpread(t *testing.T) {
	var t4 []tupleKey
	var t6 []tuple6Key
	var f4 []fragKey
	var f6 []frag6Key
	vip := netip.AddrFrom4([4]byte{192, 168, 0, 1})
	vip6 := netip.MustParseAddr("2001:db8::1")
	for c := range 64 {
		src := netip.AddrFrom4([4]byte{10, 0, byte(c >> 8), byte(c)})
		src6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 14: byte(c >> 8), 15: byte(c)})
		for port := range 512 {
			for flags := tupleService; flags <= tupleIn; flags++ {
				t4 = append(t4, tuple4(addr4(src), addr4(vip), uint16(40000+port), 80, 6, flags))
				t6 = append(t6, tuple6(addr6(src6), addr6(vip6), uint16(40000+port), 443, 17, flags))
			}
			f4 = append(f4, fragKey{dst: uint32(addr4(vip)), src: uint32(addr4(src)), idp: uint32(port)<<8 | 17})
			f6 = append(f6, frag6Key{idp: uint64(port)<<8 | 17, src: addr6(src6), dst: addr6(vip6)})
		}
	}
	checkSpread(t, "IPv4 tuples", t4, hashTuple)
	checkSpread(t, "IPv6 tuples", t6, hashTuple6)
	checkSpread(t, "IPv4 fragments", f4, hashFrag)
	checkSpread(t, "IPv6 fragments", f6, hashFrag6)
	var a4 []addr32
	var a6 []addr128
	for c := range 1 << 15 {
		a4 = append(a4, addr4(netip.AddrFrom4([4]byte{10, 0, byte(c >> 8), byte(c)})))
		a6 = append(a6, addr6(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 14: byte(c >> 8), 15: byte(c)})))
	}
	checkSpread(t, "IPv4 addresses", a4, hashAddr)
	checkSpread(t, "IPv6 addresses", a6, hashAddr6)
}
