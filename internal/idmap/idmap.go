// Package idmap holds [Map], a map from small integer IDs (backend IDs)
// to values that the balancers read per packet: a slice indexed by ID
// while every ID is below [DenseLimit], so that a lookup is an index, not
// a hash; a Go map otherwise. It imports nothing of TitanLB's.
package idmap

// DenseLimit bounds the IDs a [Map] keeps in its slice.
const DenseLimit = 1 << 12

// Map maps IDs to values. The zero Map is empty and ready to use; a Map
// is not safe for concurrent use. Get does not allocate.
type Map[K ~uint32, V any] struct {
	dense []slot[V]
	m     map[K]V // when an ID at or above DenseLimit was set
}

type slot[V any] struct {
	v  V
	ok bool
}

// New returns an empty map with room for the IDs up to maxID.
func New[K ~uint32, V any](maxID K) Map[K, V] {
	if maxID < DenseLimit {
		return Map[K, V]{dense: make([]slot[V], maxID+1)}
	}
	return Map[K, V]{m: make(map[K]V)}
}

// Set maps id to v, replacing its value.
func (m *Map[K, V]) Set(id K, v V) {
	switch {
	case m.m != nil:
		m.m[id] = v
	case id < DenseLimit:
		if int(id) >= len(m.dense) {
			m.dense = append(m.dense, make([]slot[V], int(id)+1-len(m.dense))...)
		}
		m.dense[id] = slot[V]{v, true}
	default:
		m.m = make(map[K]V, len(m.dense)+1)
		for i, s := range m.dense {
			if s.ok {
				m.m[K(i)] = s.v
			}
		}
		m.dense = nil
		m.m[id] = v
	}
}

// Get returns the value of id and whether id was set.
func (m *Map[K, V]) Get(id K) (V, bool) {
	if m.m != nil {
		v, ok := m.m[id]
		return v, ok
	}
	if int(id) < len(m.dense) {
		s := &m.dense[id]
		return s.v, s.ok
	}
	var zero V
	return zero, false
}
