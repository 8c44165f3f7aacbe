package balancer

import (
	"net/netip"
	"testing"

	"github.com/twmb/murmur3"
)

func testPacket() Packet {
	return Packet{
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.10"),
		Proto: ProtoTCP, SrcPort: 40000, DstPort: 80,
	}
}

func TestHashMatchesMurmur3(t *testing.T) {
	pkts := []Packet{testPacket(), {}, {Src: netip.MustParseAddr("255.1.2.3"), Dst: netip.MustParseAddr("1.2.3.255"), Proto: 17, SrcPort: 0xffff, DstPort: 1}}
	checkHashesMatchMurmur3(t, pkts, func(p *Packet) ([]byte, []byte) {
		k5, k3 := Key5(p), Key3(p)
		return k5[:], k3[:]
	})
}

// checkHashesMatchMurmur3 checks Hash5 and Hash3 of each of pkts, under
// four seeds, against the murmur3 library over the 5-tuple and 3-tuple
// keys that keys returns for the packet.
func checkHashesMatchMurmur3(t *testing.T, pkts []Packet, keys func(*Packet) (k5, k3 []byte)) {
	t.Helper()
	for _, seed := range []uint32{0, 1, DefaultSeed, 0xdeadbeef} {
		for _, p := range pkts {
			k5, k3 := keys(&p)
			if got, want := Hash5(&p, seed), murmur3.SeedSum32(seed, k5); got != want {
				t.Errorf("Hash5(%v, %#x) = %#x, murmur3 says %#x", p, seed, got, want)
			}
			if got, want := Hash3(&p, seed), murmur3.SeedSum32(seed, k3); got != want {
				t.Errorf("Hash3(%v, %#x) = %#x, murmur3 says %#x", p, seed, got, want)
			}
		}
	}
}

// TestKeyLayout pins the byte layout the C program reproduces.
func TestKeyLayout(t *testing.T) {
	p := testPacket()
	want5 := [16]byte{10, 0, 0, 1, 192, 0, 2, 10, 0x9c, 0x40, 0, 80, 6, 0, 0, 0}
	if k := Key5(&p); k != want5 {
		t.Errorf("Key5 = %v, want %v", k, want5)
	}
	want3 := [12]byte{10, 0, 0, 1, 192, 0, 2, 10, 6, 0, 0, 0}
	if k := Key3(&p); k != want3 {
		t.Errorf("Key3 = %v, want %v", k, want3)
	}
}

func TestHashSpreads(t *testing.T) {
	p := testPacket()
	seen := map[uint32]bool{}
	for port := uint16(1); port <= 1000; port++ {
		p.SrcPort = port
		seen[Hash5(&p, DefaultSeed)] = true
	}
	if len(seen) < 999 {
		t.Errorf("1000 ports gave %d distinct hashes", len(seen))
	}
	a := Hash5(&p, 1)
	if a == Hash5(&p, 2) {
		t.Error("seed does not change the hash")
	}
}

func TestHashNoAlloc(t *testing.T) { checkHashNoAlloc(t, testPacket()) }

// checkHashNoAlloc fails t when hashing p allocates.
func checkHashNoAlloc(t *testing.T, p Packet) {
	t.Helper()
	var sink uint32
	if n := testing.AllocsPerRun(1000, func() { sink += Hash5(&p, 7) + Hash3(&p, 7) }); n != 0 {
		t.Errorf("hash allocates %v per run", n)
	}
}

func BenchmarkHash5(b *testing.B) { benchHash5(b, testPacket()) }

// benchHash5 measures Hash5 of p, a new source port each time.
func benchHash5(b *testing.B, p Packet) {
	var sink uint32
	b.ReportAllocs()
	for b.Loop() {
		sink += Hash5(&p, DefaultSeed)
		p.SrcPort++
	}
	_ = sink
}

// BenchmarkHash5Murmur3Lib is the baseline: the library over the key bytes.
func BenchmarkHash5Murmur3Lib(b *testing.B) {
	p := testPacket()
	var sink uint32
	b.ReportAllocs()
	for b.Loop() {
		k := Key5(&p)
		sink += murmur3.SeedSum32(DefaultSeed, k[:])
		p.SrcPort++
	}
	_ = sink
}

func TestHashMatchesMurmur3IPv6(t *testing.T) {
	pkts := []Packet{
		testPacket6(),
		{Src: netip.MustParseAddr("ff02::1:ff00:1"), Dst: netip.MustParseAddr("::1"), Proto: 17, SrcPort: 0xffff, DstPort: 1},
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("2001:db8::1"), Proto: 6}, // mixed: IPv4-mapped source
		{Dst: netip.MustParseAddr("2001:db8::1"), Proto: 6},                                       // unset source: ::
	}
	checkHashesMatchMurmur3(t, pkts, func(p *Packet) ([]byte, []byte) {
		k5, k3 := Key5IPv6(p), Key3IPv6(p)
		return k5[:], k3[:]
	})
}

// TestKeyLayoutIPv6 pins the IPv6 key layouts the C program reproduces.
func TestKeyLayoutIPv6(t *testing.T) {
	p := testPacket6()
	s, d := p.Src.As16(), p.Dst.As16()
	want5 := [40]byte(append(append(append(s[:0:0], s[:]...), d[:]...), 0x9c, 0x40, 0x01, 0xbb, 6, 0, 0, 0))
	if k := Key5IPv6(&p); k != want5 {
		t.Errorf("Key5IPv6 = %v, want %v", k, want5)
	}
	want3 := [36]byte(append(append(append(s[:0:0], s[:]...), d[:]...), 6, 0, 0, 0))
	if k := Key3IPv6(&p); k != want3 {
		t.Errorf("Key3IPv6 = %v, want %v", k, want3)
	}
	// The IPv6 hash is not the IPv4 one of the same ports.
	q := testPacket()
	q.SrcPort, q.DstPort = p.SrcPort, p.DstPort
	if Hash5(&p, DefaultSeed) == Hash5(&q, DefaultSeed) {
		t.Error("IPv6 and IPv4 packets hash alike")
	}
}

func TestHashNoAllocIPv6(t *testing.T) { checkHashNoAlloc(t, testPacket6()) }

func BenchmarkHash5IPv6(b *testing.B) { benchHash5(b, testPacket6()) }
