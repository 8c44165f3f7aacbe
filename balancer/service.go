package balancer

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/titanlb/titanlb/maglev"
)

// ServiceKey identifies a service: the destination address, port and
// protocol a client connects to. It is a small comparable value, usable as
// a map key; it does not allocate.
type ServiceKey struct {
	VIP   netip.Addr // IPv4 or IPv6
	Port  uint16     // destination port, non-zero
	Proto uint8      // ProtoTCP or ProtoUDP
}

// String returns the key as "192.0.2.10:80/tcp" or "[2001:db8::1]:443/udp";
// a protocol other than TCP and UDP is written as its number.
func (k ServiceKey) String() string {
	p := strconv.Itoa(int(k.Proto))
	switch k.Proto {
	case ProtoTCP:
		p = "tcp"
	case ProtoUDP:
		p = "udp"
	}
	return netip.AddrPortFrom(k.VIP, k.Port).String() + "/" + p
}

// Service is one service: its key, its pool and its Maglev ring size.
//
// One backend ID is one server: a backend listed by several services has
// the same Name, Addr and Up in each; its Weight is per service. A
// service's backends are of its VIP's family: an IPv4 VIP is served by
// IPv4 backends (IPIP), an IPv6 VIP by IPv6 backends (IPv6-in-IPv6).
type Service struct {
	Key      ServiceKey
	Backends []Backend // this service's pool
	RingSize uint64    // Maglev M for this service; 0: the balancer's default
}

// ServiceSetter is implemented by balancers that serve several services.
//
// SetServices replaces every service with ss, the full desired set, and
// replaces the catch-all of [Balancer.SetBackends] (which, called later,
// restores it). A packet to no service (an address, port or protocol that
// is none of ss's keys, ICMP to a VIP) is passed. A refused call (an error
// naming the field, see [ValidateServices]) leaves the previous set in
// effect.
type ServiceSetter interface {
	SetServices(ss []Service) error
}

// Errors from [ValidateServices] (and [ValidateBackends] for the pools),
// wrapped with the offending field.
var (
	ErrBadVIP           = errors.New("not a unicast IPv4 or IPv6 address")
	ErrBadPort          = errors.New("must not be 0")
	ErrBadProto         = errors.New("must be TCP (6) or UDP (17)")
	ErrDuplicateService = errors.New("duplicate service")
	ErrFamily           = errors.New("not the VIP's family")
	ErrBackendConflict  = errors.New("differs from another listing of the same ID")
)

// ValidateServices checks a service set as [ServiceSetter.SetServices]
// does. An empty set is valid (every packet is passed). Each service needs
// a VIP that is a valid, specified address without zone and not
// IPv4-mapped, a non-zero port, protocol TCP or UDP, a key no other service
// has, a pool that [ValidateBackends] accepts whose addresses are all of
// the VIP's family, and a RingSize that is 0 or a prime no larger than
// [maglev.MaxSize] and no smaller than the pool's eligible backends (Up,
// Weight > 0). A backend ID listed by several services must have the same
// Name, Addr and Up in each, and two IDs may not share a Name. The error
// names the field, e.g. "services[1].backends[0].Addr 2001:db8::5: not the
// VIP's family".
func ValidateServices(ss []Service) error {
	keys := make(map[ServiceKey]int, len(ss))
	type listing struct {
		b    Backend
		s, i int
	}
	ids := make(map[BackendID]listing)
	names := make(map[string]listing)
	for si, s := range ss {
		f := func(field string) string { return fmt.Sprintf("services[%d].%s", si, field) }
		k := s.Key
		if !k.VIP.IsValid() || k.VIP.IsUnspecified() || k.VIP.Zone() != "" || k.VIP.Is4In6() || k.VIP.IsMulticast() {
			return fmt.Errorf("%s %v: %w", f("Key.VIP"), k.VIP, ErrBadVIP)
		}
		if k.Proto != ProtoTCP && k.Proto != ProtoUDP {
			return fmt.Errorf("%s %d: %w", f("Key.Proto"), k.Proto, ErrBadProto)
		}
		if k.Port == 0 {
			return fmt.Errorf("%s %d: %w", f("Key.Port"), k.Port, ErrBadPort)
		}
		if j, ok := keys[k]; ok {
			return fmt.Errorf("%s %v: %w (services[%d])", f("Key"), k, ErrDuplicateService, j)
		}
		keys[k] = si
		if err := ValidateBackends(s.Backends); err != nil {
			return fmt.Errorf("services[%d].%w", si, err)
		}
		live := 0
		for bi, b := range s.Backends {
			bf := func(field string) string { return fmt.Sprintf("services[%d].backends[%d].%s", si, bi, field) }
			if b.Addr.Is4() != k.VIP.Is4() {
				return fmt.Errorf("%s %v: %w", bf("Addr"), b.Addr, ErrFamily)
			}
			if b.Up && b.Weight > 0 {
				live++
			}
			if o, ok := ids[b.ID]; ok {
				switch {
				case o.b.RingName() != b.RingName():
					return fmt.Errorf("%s %q: %w (services[%d].backends[%d]: %q)", bf("Name"), b.RingName(), ErrBackendConflict, o.s, o.i, o.b.RingName())
				case o.b.Addr != b.Addr:
					return fmt.Errorf("%s %v: %w (services[%d].backends[%d]: %v)", bf("Addr"), b.Addr, ErrBackendConflict, o.s, o.i, o.b.Addr)
				case o.b.Up != b.Up:
					return fmt.Errorf("%s %v: %w (services[%d].backends[%d]: %v)", bf("Up"), b.Up, ErrBackendConflict, o.s, o.i, o.b.Up)
				}
				continue
			}
			if o, ok := names[b.RingName()]; ok {
				return fmt.Errorf("%s %q: %w (services[%d].backends[%d], ID %d)", bf("Name"), b.RingName(), ErrDuplicateBackend, o.s, o.i, o.b.ID)
			}
			ids[b.ID] = listing{b, si, bi}
			names[b.RingName()] = listing{b, si, bi}
		}
		if err := checkRingSize(s.RingSize, live); err != nil {
			return fmt.Errorf("%s %d: %w", f("RingSize"), s.RingSize, err)
		}
	}
	return nil
}

// checkRingSize applies maglev.New's size rules to a ring of size slots
// (0: the default, always valid) for live eligible backends, as [NewRing]
// builds it (one placeholder entry when none is eligible).
func checkRingSize(size uint64, live int) error {
	switch {
	case size == 0:
		return nil
	case size > maglev.MaxSize:
		return maglev.ErrSizeTooLarge
	case size < uint64(max(live, 1)):
		return fmt.Errorf("%w (%d)", maglev.ErrSizeTooSmall, max(live, 1))
	case !maglev.IsPrime(size):
		return maglev.ErrSizeNotPrime
	}
	return nil
}
