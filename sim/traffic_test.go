package sim

import (
	"math"
	"testing"

	"github.com/titanlb/titanlb/balancer"
)

func TestTrafficFragments(t *testing.T) {
	tr := Traffic{Flows: 10, UDPShare: 1, FragmentRate: 1, MTU: 1500, LargeSize: 4000}
	g := newCatchAll(&tr, 1)
	ps := g.datagram(3, nil)
	if len(ps) != 3 {
		t.Fatalf("4000-byte datagram over MTU 1500: %d packets, want 3", len(ps))
	}
	payload := 0
	for i, p := range ps {
		h := p.hdr
		if int(p.frag) != i || p.nfrag != 3 || p.flow != 3 {
			t.Errorf("fragment %d: bookkeeping frag %d nfrag %d flow %d", i, p.frag, p.nfrag, p.flow)
		}
		if h.IPID != ps[0].hdr.IPID {
			t.Errorf("fragment %d: IP ID %d, first has %d", i, h.IPID, ps[0].hdr.IPID)
		}
		if int(h.FragOffset)*8 != payload {
			t.Errorf("fragment %d: offset %d units, want %d bytes", i, h.FragOffset, payload)
		}
		if h.MoreFragments != (i < 2) {
			t.Errorf("fragment %d: MF %v", i, h.MoreFragments)
		}
		if int(h.Len) > 1500 || (h.MoreFragments && (int(h.Len)-20)%8 != 0) {
			t.Errorf("fragment %d: length %d", i, h.Len)
		}
		if (h.SrcPort != 0) != (i == 0) || (h.DstPort != 0) != (i == 0) {
			t.Errorf("fragment %d: ports %d->%d; only the first carries them", i, h.SrcPort, h.DstPort)
		}
		if !h.IsFragment() || h.IsFirstFragment() != (i == 0) {
			t.Errorf("fragment %d: IsFragment %v IsFirstFragment %v", i, h.IsFragment(), h.IsFirstFragment())
		}
		payload += int(h.Len) - 20
	}
	if payload != 4000-20 {
		t.Errorf("fragments carry %d payload bytes, want %d", payload, 4000-20)
	}
	// The next datagram of the same client has the next IP ID.
	if next := g.datagram(3, nil); next[0].hdr.IPID != ps[0].hdr.IPID+1 {
		t.Errorf("next IP ID %d, want %d", next[0].hdr.IPID, ps[0].hdr.IPID+1)
	}
}

func TestTrafficTCPStartsWithSYN(t *testing.T) {
	g := newCatchAll(&Traffic{Flows: 4, FragmentRate: 1, MTU: 1500, LargeSize: 2900}, 7)
	first := g.datagram(2, nil)
	if len(first) != 1 || first[0].hdr.Proto != balancer.ProtoTCP || first[0].hdr.TCPFlags != balancer.TCPSyn {
		t.Fatalf("first datagram of a TCP flow: %+v, want one SYN", first[0].hdr)
	}
	second := g.datagram(2, nil)
	if len(second) != 2 || second[0].hdr.TCPFlags != balancer.TCPAck || second[1].hdr.TCPFlags != 0 {
		t.Fatalf("second datagram: %d packets, flags %#x", len(second), second[0].hdr.TCPFlags)
	}
}

func TestTrafficReorderNeverInOrder(t *testing.T) {
	g := newCatchAll(&Traffic{Flows: 1, UDPShare: 1, FragmentRate: 1, Reorder: 1, MTU: 576, LargeSize: 1200}, 3)
	for range 200 {
		ps := g.datagram(0, nil)
		inOrder := true
		seen := map[uint16]bool{}
		for i, p := range ps {
			inOrder = inOrder && int(p.frag) == i
			seen[p.frag] = true
		}
		if inOrder || len(seen) != len(ps) {
			t.Fatalf("reordered datagram arrives %v", ps)
		}
	}
}

func TestTrafficZipf(t *testing.T) {
	g := newCatchAll(&Traffic{Flows: 1000, Zipf: 1.1}, 5)
	counts := make([]int, 1000)
	const n = 200000
	for range n {
		counts[g.pick()]++
	}
	// P(0) = 1/H with H = sum 1/k^1.1 over 1000 flows.
	h := 0.0
	for k := 1; k <= 1000; k++ {
		h += math.Pow(float64(k), -1.1)
	}
	want := n / h
	if got := float64(counts[0]); math.Abs(got-want) > 0.05*want {
		t.Errorf("most popular flow picked %v times, want about %.0f", got, want)
	}
	if counts[0] <= counts[10] || counts[10] <= counts[500] {
		t.Errorf("popularity not decreasing: %d, %d, %d", counts[0], counts[10], counts[500])
	}
	u := newCatchAll(&Traffic{Flows: 10}, 5)
	uc := make([]int, 10)
	for range 100000 {
		uc[u.pick()]++
	}
	for i, c := range uc {
		if c < 9000 || c > 11000 {
			t.Errorf("uniform: flow %d picked %d of 100000 times", i, c)
		}
	}
}

// newCatchAll is the generator of a catch-all scenario's traffic t.
func newCatchAll(t *Traffic, seed int64) *traffic {
	return newTraffic(t, seed, catchAllSpec(t), make([]flow, t.flows()))
}
