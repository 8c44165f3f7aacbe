package xdp

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer/titan"
)

// DefaultMaxBackends bounds backend IDs when [Options].MaxBackends is 0.
const DefaultMaxBackends = 4096

// maxBackendsLimit bounds [Options].MaxBackends.
const maxBackendsLimit = 1 << 24

// DefaultRingSlots is how many RingSize rings [Options].MaxRingSlots holds
// when 0: eight (eight services of the default ring size, 512 KiB each
// way for 65537).
const DefaultRingSlots = 8

// maxRingSlotsLimit bounds [Options].MaxRingSlots: a ring's offset has 27
// bits in the program, and the ring map holds two sets.
const maxRingSlotsLimit = 1 << 26

// MaxServices bounds the services of one [Program.SetServices] set: the
// program keeps each backend's membership as a bitmap of two sets of 256
// (the current set and the one being written).
const MaxServices = 256

// Options configure [Load]. The zero value is valid; every zero field takes
// its default.
type Options struct {
	// Config is Titan's algorithm: the seed, the ring and table sizes, the
	// fragment timeout, the orphan policy and admission, the VIPs. It is
	// the very type balancer/titan is configured with, so Options{} and
	// titan.Config{} (and any Options whose Config equals a titan.Config)
	// decide alike. One difference in effect: the kernel measures
	// FragTimeout in ticks (jiffies), and [Load] rounds it up to whole
	// ticks (4 ms at HZ 250).
	titan.Config

	// MaxBackends bounds backend IDs: every ID given to
	// [Program.SetBackends] must be below it. 0 means
	// [DefaultMaxBackends]; at most 1<<24.
	MaxBackends int
	// SourceAddr is the outer source address of packets encapsulated in
	// IPv4 (IPIP). The zero value means the packet's own destination (the
	// VIP it was sent to), so a backend sees an IPIP packet from the VIP.
	SourceAddr netip.Addr
	// SourceAddr6 is the outer source address of packets encapsulated in
	// IPv6 (IPv6-in-IPv6); the zero value means the packet's own
	// destination.
	SourceAddr6 netip.Addr
	// MaxRingSlots bounds the slots of every ring of a backend set
	// together: the catch-alls' of [Program.SetBackends] (RingSize each
	// family), the services' of [Program.SetServices] (each its RingSize,
	// 0 meaning RingSize). The ring map holds twice as many, a new set
	// being written beside the one in use. 0 means [DefaultRingSlots]
	// times RingSize; at least RingSize, at most 1<<26.
	MaxRingSlots int
	// Stateless loads the stateless variant instead: no connection,
	// fragment or hint table; every fragment is dropped; every other
	// packet goes to the ring slot of its 5-tuple hash.
	Stateless bool
}

// optionsError reports an invalid Options field as
// "xdp: options.<field> <value>: <what>"; it unwraps to the
// *titan.ConfigError that names the field.
type optionsError struct{ ce *titan.ConfigError }

func (e optionsError) Error() string { return "xdp: options." + e.ce.Detail() }
func (e optionsError) Unwrap() error { return e.ce }

// badOption returns the optionsError of field with value v.
func badOption(field string, v any, err error) error {
	return optionsError{&titan.ConfigError{Field: field, Value: fmt.Sprint(v), Err: err}}
}

// resolved returns o with defaults filled in, or an error naming the first
// bad field. The algorithm's fields are resolved by titan.Config.Resolve.
func (o Options) resolved() (Options, error) {
	c, err := o.Config.Resolve()
	if err != nil {
		if ce, ok := errors.AsType[*titan.ConfigError](err); ok {
			return o, optionsError{ce}
		}
		return o, fmt.Errorf("xdp: options: %w", err)
	}
	o.Config = c
	switch {
	case o.MaxBackends < 0:
		return o, badOption("MaxBackends", o.MaxBackends, titan.ErrNegative)
	case o.MaxBackends > maxBackendsLimit:
		return o, badOption("MaxBackends", o.MaxBackends, fmt.Errorf("%w (max %d)", titan.ErrTooLarge, maxBackendsLimit))
	case o.MaxBackends == 0:
		o.MaxBackends = DefaultMaxBackends
	}
	if o.SourceAddr.IsValid() && !o.SourceAddr.Is4() {
		return o, badOption("SourceAddr", o.SourceAddr, titan.ErrNotIPv4)
	}
	if o.SourceAddr6.IsValid() && (!o.SourceAddr6.Is6() || o.SourceAddr6.Is4In6()) {
		return o, badOption("SourceAddr6", o.SourceAddr6, ErrNotIPv6)
	}
	switch {
	case o.MaxRingSlots < 0:
		return o, badOption("MaxRingSlots", o.MaxRingSlots, titan.ErrNegative)
	case o.MaxRingSlots > maxRingSlotsLimit:
		return o, badOption("MaxRingSlots", o.MaxRingSlots, fmt.Errorf("%w (max %d)", titan.ErrTooLarge, maxRingSlotsLimit))
	case o.MaxRingSlots == 0:
		o.MaxRingSlots = min(DefaultRingSlots*int(o.RingSize), maxRingSlotsLimit)
	case o.MaxRingSlots < int(o.RingSize):
		return o, badOption("MaxRingSlots", o.MaxRingSlots, fmt.Errorf("%w: below RingSize %d", ErrRingSlots, o.RingSize))
	}
	return o, nil
}

// ErrNotIPv6 is wrapped when [Options].SourceAddr6 is not an IPv6
// address.
var ErrNotIPv6 = errors.New("not an IPv6 address")

// ErrRingSlots is wrapped when rings do not fit [Options].MaxRingSlots.
var ErrRingSlots = errors.New("rings do not fit")

// be32 returns the network-order bytes of a as the native little-endian
// word the kernel stores in a __u32 field.
func be32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
