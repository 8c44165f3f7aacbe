package cilium

import (
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

// BenchmarkBaselineHash5 is the floor every balancer's Process sits on: the
// shared flow hash alone.
func BenchmarkBaselineHash5(b *testing.B) { testutil.BenchHash5(b) }

func BenchmarkProcessEstablished(b *testing.B) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b.Run(mode.String(), func(b *testing.B) {
			p := []balancer.Packet{testutil.UDP(5000)}
			testutil.BenchProcess(b, newTest(b, Config{Mode: mode}), p, balancer.Forward, func(int) []balancer.Packet { return p })
		})
	}
}

func BenchmarkProcessNewFlow(b *testing.B) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b.Run(mode.String(), func(b *testing.B) {
			// Bounded tables warmed to their bound: new flows evict.
			cfg := Config{Mode: mode, CTMapSizeAny: 8192, NATMapSize: 8192, NeighMapSize: 1024}
			warm := make([]balancer.Packet, 0, 10000)
			for i := range 10000 {
				p := testutil.UDP(uint16(i))
				p.Src = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
				warm = append(warm, p)
			}
			var buf [1]balancer.Packet
			testutil.BenchProcess(b, newTest(b, cfg), warm, balancer.Forward, func(i int) []balancer.Packet {
				buf[0] = testutil.UDP(uint16(i))
				buf[0].Src = netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)})
				return buf[:]
			})
		})
	}
}

// BenchmarkProcessFragment runs a two-fragment datagram of a known flow per
// iteration (STU/pkt and ns/pkt average the two).
func BenchmarkProcessFragment(b *testing.B) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b.Run(mode.String(), func(b *testing.B) {
			var buf [2]balancer.Packet
			warm := []balancer.Packet{testutil.UDP(5000)}
			testutil.BenchProcess(b, newTest(b, Config{Mode: mode}), warm, balancer.Forward, func(i int) []balancer.Packet {
				buf[0], buf[1] = testutil.FirstFrag(5000), testutil.NonFirstFrag()
				buf[0].IPID, buf[1].IPID = uint16(i), uint16(i)
				return buf[:]
			})
		})
	}
}

// BenchmarkProcessEstablishedIPv6 is BenchmarkProcessEstablished on an
// IPv6 flow (the IPv6 maps and keys), for the IPv4/IPv6 ratio in one run.
func BenchmarkProcessEstablishedIPv6(b *testing.B) {
	for _, mode := range []Mode{ModeSNAT, ModeDSR} {
		b.Run(mode.String(), func(b *testing.B) {
			p := []balancer.Packet{testutil.UDP6(5000)}
			testutil.BenchProcess(b, dual(b, Config{Mode: mode}), p, balancer.Forward, func(int) []balancer.Packet { return p })
		})
	}
}
