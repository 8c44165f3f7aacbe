package katran

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/maglev"
)

// Katran's compile-time and library defaults (balancer_consts.h,
// KatranLbStructs.h, KatranLb.h) that the model uses.
const (
	// DefaultRingSize is RING_SIZE, the Maglev ring of every VIP.
	DefaultRingSize = 65537
	// DefaultLRUSize is KatranConfig.LruSize (kDefaultLruSize): the total
	// connection-table size, split evenly over the forwarding cores.
	DefaultLRUSize = 8_000_000
	// MaxSupportedCPUs is MAX_SUPPORTED_CPUS, the size of lru_mapping.
	MaxSupportedCPUs = 128
	// FallbackLRUSize is DEFAULT_LRU_SIZE, the fallback_cache used by a CPU
	// that has no LRU of its own.
	FallbackLRUSize = 1000
	// MaxPacketSize is MAX_PCKT_SIZE: frames longer than this (Ethernet
	// header included) are dropped (ICMP_TOOBIG_GENERATION is off by default).
	MaxPacketSize = 1514
	// LRUUDPTimeout is LRU_UDP_TIMEOUT: a UDP connection-table entry older
	// than this is ignored by connection_table_lookup.
	LRUUDPTimeout = 30 * time.Second
	// MaxConnRate is MAX_CONN_RATE: new connections per second per CPU above
	// which is_under_flood stops writing the connection table.
	MaxConnRate = 125000
)

// Config configures the model. The zero Config is valid: ring of 65537,
// 128 forwarding cores sharing an 8,000,000-entry connection table (62,500
// per CPU), the shared flow-hash seed, every destination a VIP of the
// backends' family, fragments dropped.
type Config struct {
	// Seed is the flow-hash seed; 0 means [balancer.DefaultSeed]. Katran
	// hashes with jhash (get_packet_hash, seeded with CH_RINGS_SIZE); the
	// model uses the shared murmur3 [balancer.Hash5], so its backend choices
	// match the other TitanLB balancers, not a real Katran's.
	Seed uint32
	// RingSize is the Maglev ring size M (a prime) of every VIP whose
	// [balancer.Service] leaves RingSize 0; 0 means 65537. Katran's
	// RING_SIZE is one compile-time size for every VIP; a service's own
	// RingSize is honoured as a what-if.
	RingSize uint64
	// CPUs is the number of forwarding cores (KatranConfig.forwardingCores),
	// CPU 0 to CPUs-1, each with its own LRU; 0 means [MaxSupportedCPUs].
	// A packet run on another CPU uses the shared fallback LRU of
	// [FallbackLRUSize] entries, as Katran does when lru_mapping has no map
	// for the CPU.
	CPUs int
	// LRUSize is the total connection-table size (KatranConfig.LruSize);
	// each forwarding core gets LRUSize/CPUs entries (KatranLb::initLrus).
	// 0 means [DefaultLRUSize].
	LRUSize int
	// VIPs are the virtual IPs (IPv4 or IPv6) of the backend set of
	// [Balancer.SetBackends], each registered as a Katran VIP with port 0
	// (all ports) for TCP and UDP; empty means every destination of a
	// family with backends is a VIP registered with its own port. Packets
	// to other destinations are passed to the stack. [Balancer.SetServices]
	// registers its services' keys instead.
	VIPs []netip.Addr
	// ServiceOptions sets Katran's per-VIP options (vip_meta.flags and
	// the port-0 registration, which [balancer.Service] has no field for)
	// of the service of each key, each time [Balancer.SetServices]
	// installs it. A key may appear once; one that names no service has no
	// effect.
	ServiceOptions []ServiceOption
	// Naive turns off the fragment drop, reproducing the naive stateless
	// balancer that the TitanLB proposal describes: every fragment is
	// balanced like a whole packet, so a non-first fragment (which carries
	// no ports) hashes its 5-tuple with ports 0 and lands on another backend
	// than its first fragment about (N-1)/N of the time.
	Naive bool
}

// VIPOptions are the options of one Katran VIP that a [balancer.Service]
// has no field for (balancer.bpf.c, process_packet and get_packet_dst).
// The zero VIPOptions is a VIP registered with its own port, hashing the
// whole 5-tuple.
type VIPOptions struct {
	// AllPorts registers the service in vip_map with port 0 instead of its
	// own: Katran's port-0 VIP, which serves every destination port of its
	// address and protocol that no other service names (its Key.Port
	// included), found by process_packet's second vip_map lookup. As
	// upstream without F_HASH_DPORT_ONLY or F_HASH_SRC_DST_PORT, its flows
	// are hashed and tracked with destination port 0, so a client's
	// connections to different ports share a backend and a
	// connection-table entry. At most one service per address and protocol
	// may set it.
	AllPorts bool
	// HashNoSrcPort is F_HASH_NO_SRC_PORT: the source port is zeroed in
	// the flow before the connection table and the hash, so every
	// connection of a client address to the service goes to one backend.
	HashNoSrcPort bool
}

// ServiceOption is the [VIPOptions] of the service of one key.
type ServiceOption struct {
	Key balancer.ServiceKey
	VIPOptions
}

// Errors from [New] and the setters, wrapped with the field.
var (
	ErrNegative = errors.New("must not be negative")
	ErrTooMany  = errors.New("more than MaxSupportedCPUs")
	ErrTooSmall = errors.New("smaller than CPUs: a per-CPU LRU would be empty")
	ErrTooLarge = errors.New("per-CPU share above frag.MaxCapacity")
	ErrAllPorts = errors.New("a second all-ports VIP of one address and protocol")
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
	c.Seed, c.RingSize = cmp.Or(c.Seed, balancer.DefaultSeed), cmp.Or(c.RingSize, DefaultRingSize)
	if _, err := maglev.New([]maglev.Entry{{Name: "check", Weight: 1}}, c.RingSize); err != nil {
		return Config{}, fmt.Errorf("katran: config.RingSize %d: %w", cfg.RingSize, err)
	}
	switch {
	case c.CPUs < 0:
		return Config{}, fmt.Errorf("katran: config.CPUs %d: %w", cfg.CPUs, ErrNegative)
	case c.CPUs > MaxSupportedCPUs:
		return Config{}, fmt.Errorf("katran: config.CPUs %d: %w (%d)", cfg.CPUs, ErrTooMany, MaxSupportedCPUs)
	case c.CPUs == 0:
		c.CPUs = MaxSupportedCPUs
	}
	switch {
	case c.LRUSize < 0:
		return Config{}, fmt.Errorf("katran: config.LRUSize %d: %w", cfg.LRUSize, ErrNegative)
	case c.LRUSize == 0:
		c.LRUSize = DefaultLRUSize
	case c.LRUSize < c.CPUs:
		return Config{}, fmt.Errorf("katran: config.LRUSize %d: %w (%d)", cfg.LRUSize, ErrTooSmall, c.CPUs)
	case c.LRUSize/c.CPUs > frag.MaxCapacity:
		return Config{}, fmt.Errorf("katran: config.LRUSize %d: %w (%d CPUs)", cfg.LRUSize, ErrTooLarge, c.CPUs)
	}
	for i, v := range c.VIPs {
		if !v.IsValid() || v.IsUnspecified() || v.Zone() != "" || v.Is4In6() || v.IsMulticast() {
			return Config{}, fmt.Errorf("katran: config.VIPs[%d] %v: %w", i, v, balancer.ErrBadVIP)
		}
	}
	c.VIPs = append(c.VIPs[:0:0], c.VIPs...)
	seen := make(map[balancer.ServiceKey]int, len(c.ServiceOptions))
	for i, o := range c.ServiceOptions {
		if j, ok := seen[o.Key]; ok {
			return Config{}, fmt.Errorf("katran: config.ServiceOptions[%d].Key %v: %w (config.ServiceOptions[%d])", i, o.Key, balancer.ErrDuplicateService, j)
		}
		seen[o.Key] = i
	}
	c.ServiceOptions = append(c.ServiceOptions[:0:0], c.ServiceOptions...)
	return c, nil
}
