package cilium

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/maglev"
)

// Cilium's defaults (agent option defaults and the node_config.h the agent
// writes) that the model uses.
const (
	// DefaultMaglevTableSize is LB_MAGLEV_LUT_SIZE (--bpf-lb-maglev-table-size).
	DefaultMaglevTableSize = 16381
	// DefaultFragMapSize is CILIUM_IPV4_FRAG_MAP_MAX_ENTRIES and
	// CILIUM_IPV6_FRAG_MAP_MAX_ENTRIES (--bpf-fragments-map-max).
	DefaultFragMapSize = 8192
	// DefaultCTMapSizeTCP and DefaultCTMapSizeAny are the conntrack map
	// sizes (--bpf-ct-global-tcp-max, --bpf-ct-global-any-max).
	DefaultCTMapSizeTCP = 524288
	DefaultCTMapSizeAny = 262144
	// DefaultNATMapSize is SNAT_MAPPING_IPV4_SIZE (--bpf-nat-global-max).
	DefaultNATMapSize = 524288
	// DefaultNeighMapSize is NODEPORT_NEIGH4_SIZE.
	DefaultNeighMapSize = 524288
	// SNATCollisionRetries is SNAT_COLLISION_RETRIES.
	SNATCollisionRetries = 32
	// NATPortMin and NATPortMax are NODEPORT_PORT_MIN_NAT and
	// NODEPORT_PORT_MAX_NAT, the source ports SNAT allocates from.
	NATPortMin = 32768
	NATPortMax = 65535
)

// Mode is how the node forwards a request to a remote backend.
type Mode uint8

// The forwarding modes.
const (
	// ModeSNAT (Cilium's default, --bpf-lb-mode=snat): DNAT to the backend
	// and SNAT to the node's address; replies come back through the node.
	ModeSNAT Mode = iota
	// ModeDSR (--bpf-lb-mode=dsr, --bpf-lb-dsr-dispatch=ipip): the request
	// is IPIP-encapsulated to the backend, which replies directly.
	ModeDSR
)

// String returns "snat" or "dsr".
func (m Mode) String() string {
	switch m {
	case ModeSNAT:
		return "snat"
	case ModeDSR:
		return "dsr"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Config configures the model. The zero Config is valid: SNAT mode, Maglev
// table 16381, fragment map 8192, conntrack 524288 (TCP) and 262144 (other),
// NAT 524288, neighbour 524288 entries (each map per address family, as
// Cilium keeps them), the shared flow-hash seed, every destination of the
// backends' families a service frontend.
type Config struct {
	// Seed is the flow-hash seed; 0 means [balancer.DefaultSeed]. Cilium
	// selects the Maglev slot with jhash (__hash_from_tuple_v4); the model
	// uses the shared murmur3 [balancer.Hash5].
	Seed uint32
	// MaglevTableSize is the Maglev table size M (a prime) of every
	// service whose [balancer.Service] leaves RingSize 0; 0 means 16381.
	// Cilium's LB_MAGLEV_LUT_SIZE is one size for every service; a
	// service's own RingSize is honoured as a what-if.
	MaglevTableSize uint64
	// FragMapSize bounds each family's fragment map (an LRU); 0 means
	// 8192.
	FragMapSize int
	// CTMapSizeTCP and CTMapSizeAny bound the conntrack LRUs for TCP and
	// for other protocols; 0 means the defaults.
	CTMapSizeTCP, CTMapSizeAny int
	// NATMapSize bounds the SNAT LRU (forward and reverse entries); 0 means
	// 524288.
	NATMapSize int
	// NeighMapSize bounds the neighbour LRU; 0 means 524288.
	NeighMapSize int
	// Mode is SNAT (the default) or DSR with IPIP dispatch.
	Mode Mode
	// VIPs are the service frontends (IPv4 or IPv6) of the backend set
	// of [Balancer.SetBackends]; empty means every destination of a family
	// with backends is one. Packets to other destinations pass to the
	// stack. [Balancer.SetServices] makes its services' keys the
	// frontends instead.
	VIPs []netip.Addr
}

// Errors from [New], wrapped with the field.
var (
	ErrNegative = errors.New("must not be negative")
	ErrTooLarge = errors.New("above frag.MaxCapacity")
	ErrMode     = errors.New("unknown mode")
	// ErrNotIPv4 refused IPv6 VIPs and backends before the model served
	// IPv6; nothing returns it now.
	//
	// Deprecated: a bad VIP is [balancer.ErrBadVIP], a bad backend
	// address [balancer.ErrBadAddr].
	ErrNotIPv4 = errors.New("not an IPv4 address")
)

// resolved returns cfg with every default filled in, or an error naming
// the bad field.
func (cfg Config) resolved() (Config, error) {
	c := cfg
	c.Seed, c.MaglevTableSize = cmp.Or(c.Seed, balancer.DefaultSeed), cmp.Or(c.MaglevTableSize, DefaultMaglevTableSize)
	if _, err := maglev.New([]maglev.Entry{{Name: "check", Weight: 1}}, c.MaglevTableSize); err != nil {
		return Config{}, fmt.Errorf("cilium: config.MaglevTableSize %d: %w", cfg.MaglevTableSize, err)
	}
	if c.Mode > ModeDSR {
		return Config{}, fmt.Errorf("cilium: config.Mode %d: %w", c.Mode, ErrMode)
	}
	for _, s := range []struct {
		name string
		v    *int
		def  int
	}{
		{"FragMapSize", &c.FragMapSize, DefaultFragMapSize},
		{"CTMapSizeTCP", &c.CTMapSizeTCP, DefaultCTMapSizeTCP},
		{"CTMapSizeAny", &c.CTMapSizeAny, DefaultCTMapSizeAny},
		{"NATMapSize", &c.NATMapSize, DefaultNATMapSize},
		{"NeighMapSize", &c.NeighMapSize, DefaultNeighMapSize},
	} {
		switch {
		case *s.v < 0:
			return Config{}, fmt.Errorf("cilium: config.%s %d: %w", s.name, *s.v, ErrNegative)
		case *s.v == 0:
			*s.v = s.def
		case *s.v > frag.MaxCapacity:
			return Config{}, fmt.Errorf("cilium: config.%s %d: %w", s.name, *s.v, ErrTooLarge)
		}
	}
	for i, v := range c.VIPs {
		if !v.IsValid() || v.IsUnspecified() || v.Zone() != "" || v.Is4In6() || v.IsMulticast() {
			return Config{}, fmt.Errorf("cilium: config.VIPs[%d] %v: %w", i, v, balancer.ErrBadVIP)
		}
	}
	c.VIPs = append(c.VIPs[:0:0], c.VIPs...)
	return c, nil
}
