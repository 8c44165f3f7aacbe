package xdp

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

// mustLoad loads the program with opts or skips (fails under
// TITANLB_REQUIRE_BPF=1) when the kernel refuses for lack of privileges.
func mustLoad(tb testing.TB, opts Options) *Program {
	tb.Helper()
	testutil.RequireBPF(tb)
	p, err := Load(opts)
	if errors.Is(err, ErrNotPermitted) {
		testutil.SkipOrFail(tb, "ebpf: loading XDP programs: "+err.Error())
		return nil
	}
	if err != nil {
		tb.Fatalf("%+v", err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

var (
	testVIP    = netip.MustParseAddr("192.0.2.10")
	testClient = netip.MustParseAddr("198.51.100.7")
)

func tcpPacket(sport uint16) balancer.Packet {
	return balancer.Packet{Src: testClient, Dst: testVIP, Proto: balancer.ProtoTCP, SrcPort: sport, DstPort: 443, TCPFlags: balancer.TCPAck, IPID: 1}
}
