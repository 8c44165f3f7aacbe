package balancer

import (
	"errors"
	"fmt"
)

// Errors from [ValidateBackends], wrapped with the offending field.
var (
	ErrNoBackends       = errors.New("no backends")
	ErrDuplicateBackend = errors.New("duplicate")
	ErrBadAddr          = errors.New("not an IPv4 address")
)

// ValidateBackends checks a backend set as every implementation's
// SetBackends does: at least one backend, IDs unique, names unique (an empty
// name stands for the decimal ID), addresses IPv4. The error names the field,
// e.g. "backends[2].ID 103: duplicate (backends[0])".
func ValidateBackends(bs []Backend) error {
	if len(bs) == 0 {
		return fmt.Errorf("backends: %w", ErrNoBackends)
	}
	ids := make(map[BackendID]int, len(bs))
	names := make(map[string]int, len(bs))
	for i, b := range bs {
		if j, ok := ids[b.ID]; ok {
			return fmt.Errorf("backends[%d].ID %d: %w (backends[%d])", i, b.ID, ErrDuplicateBackend, j)
		}
		ids[b.ID] = i
		n := b.RingName()
		if j, ok := names[n]; ok {
			return fmt.Errorf("backends[%d].Name %q: %w (backends[%d])", i, n, ErrDuplicateBackend, j)
		}
		names[n] = i
		if !b.Addr.Is4() {
			return fmt.Errorf("backends[%d].Addr %v: %w", i, b.Addr, ErrBadAddr)
		}
	}
	return nil
}

// RingName is the name that seeds b's Maglev permutation: Name, or the
// decimal ID when Name is empty.
func (b Backend) RingName() string {
	if b.Name != "" {
		return b.Name
	}
	return b.ID.String()
}
