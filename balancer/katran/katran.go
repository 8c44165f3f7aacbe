package katran

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/murmur"
	"github.com/titanlb/titanlb/lru"
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

// Drop reasons counted by the model (see [Stats]).
const (
	ReasonFragment  = "katran: ipv4 fragment"
	ReasonIPOptions = "katran: ipv4 options"
	ReasonTooBig    = "katran: packet too big"
	ReasonNoBackend = balancer.ReasonNoBackend
)

// Config configures the model. The zero Config is valid: ring of 65537,
// 128 forwarding cores sharing an 8,000,000-entry connection table (62,500
// per CPU), the shared flow-hash seed, every IPv4 destination a VIP, fragments
// dropped.
type Config struct {
	// Seed is the flow-hash seed; 0 means [balancer.DefaultSeed]. Katran
	// hashes with jhash (get_packet_hash, seeded with CH_RINGS_SIZE); the
	// model uses the shared murmur3 [balancer.Hash5], so its backend choices
	// match the other TitanLB balancers, not a real Katran's.
	Seed uint32
	// RingSize is the Maglev ring size M (a prime); 0 means 65537.
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
	// VIPs are the virtual IPs, each registered as Katran VIP with port 0
	// (all ports) for TCP and UDP; empty means every IPv4 destination is a
	// VIP registered with its own port. Packets to other destinations are
	// passed to the stack.
	VIPs []netip.Addr
	// Naive turns off the fragment drop, reproducing the naive stateless
	// balancer that the TitanLB proposal describes: every fragment is
	// balanced like a whole packet, so a non-first fragment (which carries
	// no ports) hashes its 5-tuple with ports 0 and lands on another backend
	// than its first fragment about (N-1)/N of the time.
	Naive bool
}

// Errors from [New], wrapped with the field.
var (
	ErrNegative = errors.New("must not be negative")
	ErrTooMany  = errors.New("more than MaxSupportedCPUs")
	ErrTooSmall = errors.New("smaller than CPUs: a per-CPU LRU would be empty")
	ErrTooLarge = errors.New("per-CPU share above frag.MaxCapacity")
	ErrNotIPv4  = errors.New("not an IPv4 address")
)

// Stats counts what the model did. Drops are by reason.
type Stats struct {
	Packets, Forwarded, Passed uint64
	DropMalformed              uint64 // nil, addresses not IPv4, or [balancer.Packet.Malformed]
	DropFragment               uint64 // IPv4 fragments (the default, non-naive model)
	DropIPOptions              uint64 // IHL != 5
	DropTooBig                 uint64 // frame above MaxPacketSize
	DropNoBackend              uint64 // ring slot empty (ch_drop_real_0)
	LRUHits, LRUMisses         uint64 // connection_table_lookup outcomes
	TCPNonSYNMisses            uint64 // LRU_MISS_CNTR v2: a non-SYN TCP packet missed its CPU's LRU
	LRUEvictions               uint64 // entries pushed out of full LRUs
	FallbackLRU                uint64 // packets on a CPU without its own LRU
	UnderFlood                 uint64 // new connections not recorded: MAX_CONN_RATE exceeded
}

// flowKey is Katran's struct flow_key for IPv4: addresses, ports, protocol.
type flowKey [16]byte

func hashFlowKey(k flowKey) uint64 {
	return murmur.Fmix64(binary.LittleEndian.Uint64(k[:8]) ^ murmur.Fmix64(binary.LittleEndian.Uint64(k[8:])))
}

// lruReserve is the storage each per-CPU LRU reserves up front; it doubles
// toward the per-CPU bound on demand (see the package doc, # Allocation).
const lruReserve = 256

type lruValue struct {
	backend balancer.BackendID
	atime   time.Duration // UDP only, as real_pos_lru.atime
}

type cpuState struct {
	lru         *lru.Map[flowKey, lruValue]
	rateStart   time.Duration // conn_rate_stats v2
	rateCount   uint64        // conn_rate_stats v1
	rateStarted bool
}

// Balancer is the Katran model. It is not safe for concurrent use.
type Balancer struct {
	cfg      Config
	seed     uint32
	ringSize uint64
	perCPU   int
	vips     map[netip.Addr]struct{}
	ring     *balancer.Ring
	reals    map[balancer.BackendID]balancer.Backend
	cpus     []cpuState // lazily given an LRU; index = CPU
	fallback cpuState
	stats    Stats
}

var _ balancer.Balancer = (*Balancer)(nil)

// New returns a Katran model for cfg, or an error naming the bad field.
// Call [Balancer.SetBackends] before Process.
func New(cfg Config) (*Balancer, error) {
	b := &Balancer{cfg: cfg, seed: cfg.Seed, ringSize: cfg.RingSize}
	if b.seed == 0 {
		b.seed = balancer.DefaultSeed
	}
	if b.ringSize == 0 {
		b.ringSize = DefaultRingSize
	}
	if _, err := maglev.New([]maglev.Entry{{Name: "check", Weight: 1}}, b.ringSize); err != nil {
		return nil, fmt.Errorf("katran: config.RingSize %d: %w", cfg.RingSize, err)
	}
	cpus := cfg.CPUs
	switch {
	case cpus < 0:
		return nil, fmt.Errorf("katran: config.CPUs %d: %w", cfg.CPUs, ErrNegative)
	case cpus > MaxSupportedCPUs:
		return nil, fmt.Errorf("katran: config.CPUs %d: %w (%d)", cfg.CPUs, ErrTooMany, MaxSupportedCPUs)
	case cpus == 0:
		cpus = MaxSupportedCPUs
	}
	size := cfg.LRUSize
	switch {
	case size < 0:
		return nil, fmt.Errorf("katran: config.LRUSize %d: %w", cfg.LRUSize, ErrNegative)
	case size == 0:
		size = DefaultLRUSize
	case size < cpus:
		return nil, fmt.Errorf("katran: config.LRUSize %d: %w (%d)", cfg.LRUSize, ErrTooSmall, cpus)
	case size/cpus > frag.MaxCapacity:
		return nil, fmt.Errorf("katran: config.LRUSize %d: %w (%d CPUs)", cfg.LRUSize, ErrTooLarge, cpus)
	}
	b.perCPU = size / cpus
	if len(cfg.VIPs) > 0 {
		b.vips = make(map[netip.Addr]struct{}, len(cfg.VIPs))
		for i, v := range cfg.VIPs {
			if !v.Is4() {
				return nil, fmt.Errorf("katran: config.VIPs[%d] %v: %w", i, v, ErrNotIPv4)
			}
			b.vips[v] = struct{}{}
		}
	}
	b.cpus = make([]cpuState, cpus)
	opts := lru.Options[flowKey]{Hash: hashFlowKey, Reserve: lruReserve}
	for i := range b.cpus {
		l, err := lru.NewWith[flowKey, lruValue](b.perCPU, opts)
		if err != nil { // not reached: perCPU is within 1..frag.MaxCapacity
			return nil, fmt.Errorf("katran: config.LRUSize %d: %w", cfg.LRUSize, err)
		}
		b.cpus[i].lru = l
	}
	l, err := lru.NewFunc[flowKey, lruValue](FallbackLRUSize, hashFlowKey)
	if err != nil {
		return nil, fmt.Errorf("katran: fallback LRU: %w", err)
	}
	b.fallback.lru = l
	return b, nil
}

// Name returns "katran".
func (b *Balancer) Name() string { return "katran" }

// PerCPULRUSize returns the capacity of each forwarding core's LRU.
func (b *Balancer) PerCPULRUSize() int { return b.perCPU }

// LRULen returns the connection-table entries held by every per-CPU LRU
// and the fallback LRU together: the memory a flood fills.
func (b *Balancer) LRULen() int {
	n := b.fallback.lru.Len()
	for i := range b.cpus {
		n += b.cpus[i].lru.Len()
	}
	return n
}

// SetBackends replaces the backend set and rebuilds the Maglev ring with
// [ring.Build] (Up backends of weight > 0). Connection-table entries are kept,
// as Katran keeps them: a flow whose entry points at a backend that went down
// or was removed keeps going there until its entry is evicted (or, for UDP,
// is older than [LRUUDPTimeout]); Katran's reals array is not cleared, and its
// UDP flow-migration feature (F_UDP_FLOW_MIGRATION) is off by default.
func (b *Balancer) SetBackends(bs []balancer.Backend) error {
	for i, be := range bs {
		if be.Addr.IsValid() && !be.Addr.Is4() { // IPv6 backends: not modelled yet
			return fmt.Errorf("katran: backends[%d].Addr %v: %w", i, be.Addr, ErrNotIPv4)
		}
	}
	r, err := balancer.NewRing(bs, b.ringSize)
	if err != nil {
		return fmt.Errorf("katran: %w", err)
	}
	reals := make(map[balancer.BackendID]balancer.Backend, len(bs)+len(b.reals))
	for id, be := range b.reals { // the reals array keeps what it held
		reals[id] = be
	}
	for _, be := range bs {
		reals[be.ID] = be
	}
	b.ring, b.reals = r, reals
	return nil
}

// Stats returns the counters so far.
func (b *Balancer) Stats() Stats {
	s := b.stats
	for i := range b.cpus {
		s.LRUEvictions += b.cpus[i].lru.Stats().Evictions
	}
	s.LRUEvictions += b.fallback.lru.Stats().Evictions
	return s
}

// Process runs p through the model of Katran's balancer_ingress and
// process_packet, charging env.Meter for each map lookup, update, hash and
// encapsulation the XDP program performs on that path (see the package doc).
// It does not allocate.
func (b *Balancer) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	var m *cost.Meter
	var now time.Duration
	cpu := 0
	if env != nil {
		m, now, cpu = env.Meter, env.Now, env.CPU
	}
	b.stats.Packets++
	if p == nil {
		b.stats.DropMalformed++
		return drop(balancer.ReasonMalformed)
	}
	// balancer_ingress: stats[MAX_VIPS + XDP_TOTAL_CNTR].
	m.Charge(cost.OpMapRead)
	d := b.process(m, now, cpu, p)
	// balancer_ingress: stats[XDP_PASS/DROP/TX_CNTR].
	m.Charge(cost.OpMapRead)
	switch d.Action {
	case balancer.Forward:
		b.stats.Forwarded++
	case balancer.Pass:
		b.stats.Passed++
	case balancer.Drop:
		if d.Reason == balancer.ReasonMalformed {
			b.stats.DropMalformed++
		}
	}
	return d
}

func drop(reason string) balancer.Decision {
	return balancer.Decision{Action: balancer.Drop, Reason: reason}
}

func (b *Balancer) process(m *cost.Meter, now time.Duration, cpu int, p *balancer.Packet) balancer.Decision {
	// parse_l3_headers (pckt_parsing.h): a header no IPv4 packet can
	// carry, options, then fragments.
	if p.Malformed() {
		return drop(balancer.ReasonMalformed)
	}
	if p.IHL != 0 && p.IHL != 5 {
		b.stats.DropIPOptions++
		return drop(ReasonIPOptions)
	}
	if p.IsFragment() && !b.cfg.Naive {
		b.stats.DropFragment++
		return drop(ReasonFragment)
	}
	if !p.Src.Is4() || !p.Dst.Is4() {
		return drop(balancer.ReasonMalformed)
	}
	// process_packet: only TCP and UDP are balanced (ICMP handling,
	// handle_if_icmp, is not modelled: the packet view has no ICMP header).
	if p.Proto != balancer.ProtoTCP && p.Proto != balancer.ProtoUDP {
		return balancer.Decision{Action: balancer.Pass}
	}
	flow := *p // pckt.flow: the fields Katran hashes and keys the LRU on
	if flow.FragOffset != 0 {
		flow.SrcPort, flow.DstPort = 0, 0 // no L4 header (naive model only)
	}
	// vip_map lookup with the packet's port, then with port 0.
	m.Charge(cost.OpMapRead)
	if b.vips != nil {
		m.Charge(cost.OpMapRead)
		if _, ok := b.vips[p.Dst]; !ok {
			return balancer.Decision{Action: balancer.Pass}
		}
		flow.DstPort = 0 // port-0 VIP without F_HASH_DPORT_ONLY/F_HASH_SRC_DST_PORT
	}
	if int(p.Len)+balancer.EthLen > MaxPacketSize {
		b.stats.DropTooBig++
		return drop(ReasonTooBig)
	}
	// stats[MAX_VIPS + LRU_CNTRS].
	m.Charge(cost.OpMapRead)
	// lru_mapping[cpu]; on a miss the fallback LRU and FALLBACK_LRU_CNTR.
	m.Charge(cost.OpMapRead)
	st := &b.fallback
	if cpu >= 0 && cpu < len(b.cpus) {
		st = &b.cpus[cpu]
	} else {
		m.Charge(cost.OpMapRead)
		b.stats.FallbackLRU++
	}
	key := flowKey(balancer.Key5(&flow))
	syn := p.Proto == balancer.ProtoTCP && p.TCPFlags&balancer.TCPSyn != 0
	rst := p.Proto == balancer.ProtoTCP && p.TCPFlags&balancer.TCPRst != 0

	var dst balancer.BackendID
	found := false
	if !syn { // connection_table_lookup
		m.Charge(cost.OpMapRead)
		if v := st.lru.Ref(key); v != nil {
			ok := true
			if p.Proto == balancer.ProtoUDP && now-v.atime > LRUUDPTimeout {
				ok = false // stale UDP entry: treated as a miss
			} else if p.Proto == balancer.ProtoUDP {
				v.atime = now
			}
			if ok {
				m.Charge(cost.OpMapRead) // reals[pos]
				dst, found = v.backend, true
				b.stats.LRUHits++
			}
		}
	}
	if !found {
		b.stats.LRUMisses++
		if p.Proto == balancer.ProtoTCP {
			m.Charge(cost.OpMapRead) // stats[LRU_MISS_CNTR]
			if !syn {
				b.stats.TCPNonSYNMisses++
			}
		}
		// get_packet_dst
		underFlood := b.underFlood(m, st, now)
		m.Charge(cost.OpHash)
		h := balancer.Hash5(&flow, b.seed)
		m.Charge(cost.OpMapRead) // ch_rings
		var id balancer.BackendID
		ok := false
		if b.ring != nil {
			id, ok = b.ring.Lookup(h)
		}
		if !ok {
			m.Charge(cost.OpMapRead) // increment_ch_drop_real_0
			b.stats.DropNoBackend++
			return drop(ReasonNoBackend)
		}
		m.Charge(cost.OpMapRead) // reals
		if !underFlood && !rst {
			v := lruValue{backend: id}
			if p.Proto == balancer.ProtoUDP {
				v.atime = now
			}
			m.Charge(cost.OpMapWrite)
			st.lru.Put(key, v)
		}
		m.Charge(cost.OpMapRead) // update_vip_lru_miss_stats: vip_miss_stats
		dst = id
	}
	// ctl_array, stats[vip_num], reals_stats, then encap_v4 (IPIP).
	m.Charge(cost.OpMapRead)
	m.Charge(cost.OpMapRead)
	m.Charge(cost.OpMapRead)
	m.Charge(cost.OpEncap)
	return balancer.Decision{Action: balancer.Forward, Backend: dst}
}

// underFlood is is_under_flood: one stats lookup, a per-CPU count of new
// connections in the current one-second quantum.
func (b *Balancer) underFlood(m *cost.Meter, st *cpuState, now time.Duration) bool {
	m.Charge(cost.OpMapRead)
	if !st.rateStarted || now-st.rateStart > time.Second {
		st.rateStarted, st.rateStart, st.rateCount = true, now, 1
		return false
	}
	st.rateCount++
	if st.rateCount > MaxConnRate {
		b.stats.UnderFlood++
		return true
	}
	return false
}
