package balancer

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/titanlb/titanlb/maglev"
)

// RingNone is the slot value of a [Ring] when no backend is eligible (all
// down or drained).
const RingNone = ^uint32(0)

// Ring is the Maglev ring of backend IDs that every balancer of this module
// and the eBPF program share, so that all of them hold the very same
// slots: Slots[i] is the BackendID owning slot i, or [RingNone].
//
// Its entries are the backends that are Up with Weight > 0, sorted by ID
// (Maglev's turn order depends on entry order, so the order is fixed here,
// not left to the caller), each named by [Backend.RingName].
type Ring struct {
	Slots []uint32      // the ring, as the eBPF ring map holds it
	Table *maglev.Table // the Maglev table; nil when no backend is eligible
	ids   []BackendID
}

// NewRing validates bs with [ValidateBackends] and builds its ring of size
// slots, a prime (0: [maglev.DefaultSize], 65537). A ring is one service's:
// its backends are of one family ([ErrFamily] names the first of another).
func NewRing(bs []Backend, size uint64) (*Ring, error) {
	if err := ValidateBackends(bs); err != nil {
		return nil, err
	}
	for i, b := range bs {
		if b.Addr.Is4() != bs[0].Addr.Is4() {
			return nil, fmt.Errorf("backends[%d].Addr %v: %w (backends[0] is %v)", i, b.Addr, ErrFamily, bs[0].Addr)
		}
	}
	if size == 0 {
		size = maglev.DefaultSize
	}
	live := make([]Backend, 0, len(bs))
	for _, b := range bs {
		if b.Up && b.Weight > 0 {
			live = append(live, b)
		}
	}
	slices.SortFunc(live, func(a, b Backend) int { return cmp.Compare(a.ID, b.ID) })
	r := &Ring{Slots: make([]uint32, size)}
	if len(live) == 0 {
		if _, err := maglev.New([]maglev.Entry{{Name: "none"}}, size); err != nil {
			return nil, fmt.Errorf("ring: %w", err)
		}
		for i := range r.Slots {
			r.Slots[i] = RingNone
		}
		return r, nil
	}
	es := make([]maglev.Entry, len(live))
	for i, b := range live {
		es[i] = maglev.Entry{Name: b.RingName(), Weight: b.Weight}
	}
	t, err := maglev.New(es, size)
	if err != nil {
		return nil, fmt.Errorf("ring: %w", err)
	}
	r.Table = t
	r.ids = make([]BackendID, len(live))
	for i, b := range live {
		r.ids[i] = b.ID
	}
	for i, s := range t.Slots() {
		r.Slots[i] = uint32(live[s].ID)
	}
	return r, nil
}

// Lookup returns the backend owning hash (Slots[hash % M]) and whether
// there is one. It does not allocate.
func (r *Ring) Lookup(hash uint32) (BackendID, bool) {
	if r.Table == nil {
		return 0, false
	}
	i := r.Table.Lookup(hash)
	if i < 0 {
		return 0, false
	}
	return r.ids[i], true
}
