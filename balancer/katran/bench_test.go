package katran

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

// BenchmarkBaselineHash5 is the floor every balancer's Process sits on: the
// shared flow hash alone.
func BenchmarkBaselineHash5(b *testing.B) { testutil.BenchHash5(b) }

// benchOne measures Process on one packet an iteration, made by next.
func benchOne(b *testing.B, cfg Config, warm []balancer.Packet, want balancer.Action, next func(i int) balancer.Packet) {
	var buf [1]balancer.Packet
	testutil.BenchProcess(b, newTest(b, cfg), warm, want, func(i int) []balancer.Packet {
		buf[0] = next(i)
		return buf[:]
	})
}

func BenchmarkProcessEstablished(b *testing.B) {
	syn, ack := testutil.TCP(1000, balancer.TCPSyn), testutil.TCP(1000, balancer.TCPAck)
	benchOne(b, Config{}, []balancer.Packet{syn}, balancer.Forward, func(int) balancer.Packet { return ack })
}

func BenchmarkProcessNewFlow(b *testing.B) {
	// A bounded table, warmed to its bound: every new flow evicts one.
	warm := make([]balancer.Packet, 0, 20000)
	for i := range 20000 {
		p := testutil.UDP(uint16(i))
		p.Src = p.Src.Next()
		warm = append(warm, p)
	}
	benchOne(b, Config{CPUs: 1, LRUSize: 16384}, warm, balancer.Forward, func(i int) balancer.Packet {
		return testutil.UDP(uint16(i))
	})
}

func BenchmarkProcessFragment(b *testing.B) {
	f := testutil.NonFirstFrag()
	benchOne(b, Config{}, nil, balancer.Drop, func(int) balancer.Packet { return f })
}

func BenchmarkProcessFragmentNaive(b *testing.B) {
	f := testutil.NonFirstFrag()
	benchOne(b, Config{Naive: true}, nil, balancer.Forward, func(int) balancer.Packet { return f })
}

// BenchmarkProcessEstablishedIPv6 is BenchmarkProcessEstablished on an
// IPv6 flow (40-byte flow key, the IPv6 hash), for the IPv4/IPv6 ratio
// in one run.
func BenchmarkProcessEstablishedIPv6(b *testing.B) {
	syn, ack := testutil.TCP6(1000, balancer.TCPSyn), testutil.TCP6(1000, balancer.TCPAck)
	var buf [1]balancer.Packet
	testutil.BenchProcess(b, dual(b, Config{}), []balancer.Packet{syn}, balancer.Forward, func(int) []balancer.Packet {
		buf[0] = ack
		return buf[:]
	})
}
