package sim

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
)

// backend is a simulated real server: it receives what the balancer
// forwards to it, reassembles fragments with a [frag.Reassembler] and
// counts what it got.
type backend struct {
	b       balancer.Backend // current state: events change Up and Weight
	name    string
	reasm   *frag.Reassembler
	packets uint64 // packets delivered
	whole   uint64 // datagrams received whole
}

// dgram is a fragmented datagram in flight: where each of its fragments
// ended up, to compute FragmentAccuracy when the last one is resolved.
type dgram struct {
	id   uint64  // datagram number: the reassembler's Tag
	left int     // fragments not resolved yet
	dest []int32 // by fragment index: backend index, or -1 when lost; capacity reused
	live bool
}

// dgrams is a ring of the fragmented datagrams in flight, indexed by
// number mod its size; it doubles when the oldest in-flight datagram would
// be overwritten, so it never allocates once it has reached the working
// size (bounded by the packets the node can hold).
type dgrams struct {
	ring   []dgram
	oldest uint64 // number of the oldest datagram that may be in flight
	next   uint64 // number of the next datagram
}

func (d *dgrams) slot(id uint64) *dgram { return &d.ring[id&uint64(len(d.ring)-1)] }

// open starts tracking a datagram of n fragments and returns its number.
func (d *dgrams) open(n int) uint64 {
	for d.oldest < d.next && !d.slot(d.oldest).live {
		d.oldest++
	}
	if len(d.ring) == 0 || d.next-d.oldest >= uint64(len(d.ring)) {
		d.grow()
	}
	id := d.next
	d.next++
	g := d.slot(id)
	g.id, g.left, g.live = id, n, true
	g.dest = g.dest[:0]
	for range n {
		g.dest = append(g.dest, -1)
	}
	return id
}

func (d *dgrams) grow() {
	old := d.ring
	d.ring = make([]dgram, max(64, 2*len(old)))
	for i := range old {
		if old[i].live {
			*d.slot(old[i].id) = old[i]
		}
	}
	// Reuse the fragment lists of retired records too.
	j := 0
	for i := range old {
		if old[i].live {
			continue
		}
		for j < len(d.ring) && (d.ring[j].live || d.ring[j].dest != nil) {
			j++
		}
		if j == len(d.ring) {
			break
		}
		d.ring[j].dest = old[i].dest[:0]
	}
}
