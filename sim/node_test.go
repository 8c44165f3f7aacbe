package sim

import "testing"

func TestRSS(t *testing.T) {
	for _, v6 := range []float64{0, 1} {
		g := newCatchAll(&Traffic{Flows: 4000, Clients: 1000, UDPShare: 1, IPv6Share: v6}, 1)
		counts := make([]int, 4)
		hosts := make([]int, 4)
		for f := range 4000 {
			h := g.header(f)
			if h.Src.Is6() != (v6 == 1) {
				t.Fatalf("IPv6 share %v: flow from %v", v6, h.Src)
			}
			counts[rss(&h, 4)]++
			frag := h
			frag.MoreFragments = true
			other := g.header((f + 1000) % 4000) // same client, other port
			other.FragOffset = 3
			if rss(&frag, 4) != rss(&other, 4) {
				t.Fatalf("fragments of one host pair on two queues")
			}
			if f < 1000 {
				hosts[rss(&frag, 4)]++
			}
		}
		for i := range counts {
			if counts[i] < 850 || counts[i] > 1150 || hosts[i] < 200 || hosts[i] > 300 {
				t.Errorf("IPv6 share %v: queue %d got %d of 4000 flows, %d of 1000 host pairs", v6, i, counts[i], hosts[i])
			}
		}
	}
}

// A CPU holds the packet in service and up to limit waiting behind it,
// in a ring that grows to that bound and no further.
func TestCPUQueueGrowsToItsBound(t *testing.T) {
	c := cpu{limit: 100}
	next := uint32(0)
	push := func(n int) {
		for range n {
			if !c.push(&packet{flow: next}) {
				t.Fatalf("push of flow %d refused with %d held", next, c.n)
			}
			next++
		}
	}
	push(50)
	for range 10 { // move the head so that the ring wraps before it grows
		c.pop()
	}
	push(61)
	if c.push(&packet{flow: 999}) {
		t.Fatal("push accepted past 1 in service + 100 waiting")
	}
	if len(c.queue) > 101 {
		t.Errorf("ring of %d slots for 1 + 100 packets", len(c.queue))
	}
	for want := uint32(10); want < next; want++ {
		if !c.busy() || c.cur().flow != want {
			t.Fatalf("head is flow %d (busy %v), want %d", c.cur().flow, c.busy(), want)
		}
		c.pop()
	}
	if c.n != 0 || c.busy() {
		t.Errorf("%d left in the queue", c.n)
	}
}
