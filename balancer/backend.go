package balancer

import (
	"errors"
	"fmt"
)

// Errors from [ValidateBackends], wrapped with the offending field.
var (
	ErrNoBackends       = errors.New("no backends")
	ErrDuplicateBackend = errors.New("duplicate")
	ErrBadAddr          = errors.New("not an IPv4 or IPv6 address")
)

// ValidateBackends checks a backend set as every implementation's
// SetBackends does: at least one backend, IDs unique, names unique (an empty
// name stands for the decimal ID), addresses valid IPv4 or IPv6 ones
// without a zone (an IPv4-mapped IPv6 address is refused: write the IPv4
// form). The error names the field, e.g. "backends[2].ID 103: duplicate
// (backends[0])".
//
// A set may mix families: [Balancer.SetBackends] then means one catch-all
// service per family ([ServiceTable.SetBackends]). Whether an
// implementation serves IPv6 backends is its own: the kernel program
// refuses them until it does.
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
		switch a := b.Addr; {
		case !a.IsValid() || a.Zone() != "":
			return fmt.Errorf("backends[%d].Addr %v: %w", i, a, ErrBadAddr)
		case a.Is4In6():
			return fmt.Errorf("backends[%d].Addr %v: %w (IPv4-mapped: use the IPv4 form)", i, a, ErrBadAddr)
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
