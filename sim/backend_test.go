package sim

import "testing"

func TestDgramsRing(t *testing.T) {
	var d dgrams
	var open []uint64
	for i := range 1000 {
		open = append(open, d.open(3))
		if i%3 == 0 { // retire the oldest sometimes, out of order otherwise
			g := d.slot(open[0])
			g.live = false
			open = open[1:]
		}
	}
	for _, id := range open {
		if g := d.slot(id); !g.live || g.id != id || len(g.dest) != 3 {
			t.Fatalf("datagram %d lost after growth: %+v", id, *g)
		}
	}
}
