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

func TestCPUQueueGrowsToItsBound(t *testing.T) {
	c := cpu{limit: 100}
	next := uint32(0)
	push := func(n int) {
		for range n {
			if !c.push(&packet{flow: next}) {
				t.Fatalf("push of flow %d refused with %d queued", next, c.n)
			}
			next++
		}
	}
	push(50)
	for range 10 { // move the head so that the ring wraps before it grows
		c.pop()
	}
	push(60)
	if c.push(&packet{flow: 999}) {
		t.Fatal("push accepted past the bound of 100")
	}
	if len(c.queue) > 100 {
		t.Errorf("ring of %d slots for a bound of 100", len(c.queue))
	}
	for want := uint32(10); want < next; want++ {
		c.pop()
		if c.cur.flow != want {
			t.Fatalf("popped flow %d, want %d", c.cur.flow, want)
		}
	}
	if c.n != 0 {
		t.Errorf("%d left in the queue", c.n)
	}
}
