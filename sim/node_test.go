package sim

import "testing"

func TestRSS(t *testing.T) {
	g := newTraffic(&Traffic{Flows: 4000, Clients: 1000, UDPShare: 1}, 1)
	counts := make([]int, 4)
	for f := range 4000 {
		h := g.header(f)
		counts[rss(&h, 4)]++
		frag := h
		frag.MoreFragments = true
		other := g.header((f + 1000) % 4000) // same client, other port
		other.FragOffset = 3
		if rss(&frag, 4) != rss(&other, 4) {
			t.Fatalf("fragments of one host pair on two queues")
		}
	}
	for i, c := range counts {
		if c < 850 || c > 1150 {
			t.Errorf("queue %d got %d of 4000 flows", i, c)
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
