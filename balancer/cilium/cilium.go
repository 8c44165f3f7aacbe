package cilium

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/murmur"
	"github.com/titanlb/titanlb/lru"
	"github.com/titanlb/titanlb/maglev"
)

// Cilium's defaults (agent option defaults and the node_config.h the agent
// writes) that the model uses.
const (
	// DefaultMaglevTableSize is LB_MAGLEV_LUT_SIZE (--bpf-lb-maglev-table-size).
	DefaultMaglevTableSize = 16381
	// DefaultFragMapSize is CILIUM_IPV4_FRAG_MAP_MAX_ENTRIES (--bpf-fragments-map-max).
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

// Drop reasons counted by the model (see [Stats]).
const (
	// ReasonFragNotFound is Cilium's DROP_FRAG_NOT_FOUND, returned by
	// ipv4_frag_get_l4ports when a non-first fragment finds no entry.
	ReasonFragNotFound = "first logical datagram fragment not found"
	// ReasonNoBackend stands for DROP_NO_SERVICE: no backend to select.
	ReasonNoBackend = balancer.ReasonNoBackend
	// ReasonNATNoMapping is DROP_NAT_NO_MAPPING: no free SNAT port after
	// SNATCollisionRetries attempts.
	ReasonNATNoMapping = "no mapping for nat masquerade"
)

// Config configures the model. The zero Config is valid: SNAT mode, Maglev
// table 16381, fragment map 8192, conntrack 524288 (TCP) and 262144 (other),
// NAT 524288, neighbour 524288 entries, the shared flow-hash seed, every IPv4
// destination a service frontend.
type Config struct {
	// Seed is the flow-hash seed; 0 means [balancer.DefaultSeed]. Cilium
	// selects the Maglev slot with jhash (__hash_from_tuple_v4); the model
	// uses the shared murmur3 [balancer.Hash5].
	Seed uint32
	// MaglevTableSize is the Maglev table size M (a prime); 0 means 16381.
	MaglevTableSize uint64
	// FragMapSize bounds the fragment map (an LRU); 0 means 8192.
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
	// VIPs are the service frontends; empty means every IPv4 destination
	// is one. Packets to other destinations pass to the stack.
	VIPs []netip.Addr
}

// Errors from [New], wrapped with the field.
var (
	ErrNegative = errors.New("must not be negative")
	ErrTooLarge = errors.New("above frag.MaxCapacity")
	ErrMode     = errors.New("unknown mode")
	ErrNotIPv4  = errors.New("not an IPv4 address")
)

// Stats counts what the model did.
type Stats struct {
	Packets, Forwarded, Passed uint64
	DropMalformed              uint64 // nil, addresses not IPv4, or [balancer.Packet.Malformed]
	DropFragNotFound           uint64 // non-first fragment without a fragment-map entry
	DropNoBackend              uint64 // no backend to select (DROP_NO_SERVICE)
	DropNATNoMapping           uint64 // no free SNAT port
	FragWrites, FragHits       uint64 // fragment-map updates and successful lookups
	CTServiceNew, CTServiceHit uint64 // CT_SERVICE lookups that missed / hit
	Reselected                 uint64 // tracked flows moved off a backend that is gone
	NATNew                     uint64 // SNAT mappings created
	Evictions                  uint64 // entries pushed out of full LRUs (all maps)
}

// fragKey is struct ipv4_frag_id: daddr, saddr, IP ID, protocol.
type fragKey struct {
	dst, src [4]byte
	id       uint16
	proto    uint8
}

// ports is struct ipv4_frag_l4ports.
type ports struct{ sport, dport uint16 }

// CT tuple flags (TUPLE_F_*) distinguishing entries in one CT map.
const (
	tupleService uint8 = 1 + iota // CT_SERVICE entry (lb4_local)
	tupleEgress                   // CT_EGRESS entry (nodeport_lb4)
	tupleOut                      // SNAT forward entry
	tupleIn                       // SNAT reverse entry
)

type tupleKey struct {
	t     [16]byte // saddr, daddr, sport, dport, proto as balancer.Key5 lays out
	flags uint8
}

func hashTuple(k tupleKey) uint64 {
	a := binary.LittleEndian.Uint64(k.t[:8])
	b := binary.LittleEndian.Uint64(k.t[8:]) ^ uint64(k.flags)<<56
	return murmur.Fmix64(a ^ murmur.Fmix64(b))
}

func hashFrag(k fragKey) uint64 {
	a := uint64(binary.LittleEndian.Uint32(k.dst[:]))<<32 | uint64(binary.LittleEndian.Uint32(k.src[:]))
	return murmur.Fmix64(a ^ murmur.Fmix64(uint64(k.id)<<8|uint64(k.proto)))
}

func hashAddr(k [4]byte) uint64 { return murmur.Fmix64(uint64(binary.LittleEndian.Uint32(k[:]))) }

type ctEntry struct{ backend balancer.BackendID }

type natEntry struct{ port uint16 }

// Balancer is the Cilium model. It is not safe for concurrent use.
type Balancer struct {
	cfg     Config
	seed    uint32
	m       uint64
	vips    map[netip.Addr]struct{}
	ring    *balancer.Ring
	backend map[balancer.BackendID]balancer.Backend // cilium_lb4_backends_v3
	frag    *lru.Map[fragKey, ports]
	ctTCP   *lru.Map[tupleKey, ctEntry]
	ctAny   *lru.Map[tupleKey, ctEntry]
	nat     *lru.Map[tupleKey, natEntry]
	neigh   *lru.Map[[4]byte, struct{}]
	rnd     uint32 // get_prandom_u32, deterministic
	stats   Stats
}

var _ balancer.Balancer = (*Balancer)(nil)

// nodeAddr is the node's address that SNAT translates to (IPV4_DIRECT_ROUTING).
var nodeAddr = [4]byte{192, 0, 2, 254}

// New returns a Cilium model for cfg, or an error naming the bad field.
func New(cfg Config) (*Balancer, error) {
	b := &Balancer{cfg: cfg, seed: cfg.Seed, m: cfg.MaglevTableSize}
	if b.seed == 0 {
		b.seed = balancer.DefaultSeed
	}
	if b.m == 0 {
		b.m = DefaultMaglevTableSize
	}
	if _, err := maglev.New([]maglev.Entry{{Name: "check", Weight: 1}}, b.m); err != nil {
		return nil, fmt.Errorf("cilium: config.MaglevTableSize %d: %w", cfg.MaglevTableSize, err)
	}
	if cfg.Mode > ModeDSR {
		return nil, fmt.Errorf("cilium: config.Mode %d: %w", cfg.Mode, ErrMode)
	}
	size := func(name string, v, def int) (int, error) {
		switch {
		case v < 0:
			return 0, fmt.Errorf("cilium: config.%s %d: %w", name, v, ErrNegative)
		case v == 0:
			return def, nil
		case v > frag.MaxCapacity:
			return 0, fmt.Errorf("cilium: config.%s %d: %w", name, v, ErrTooLarge)
		}
		return v, nil
	}
	var n [5]int
	var err error
	for i, s := range []struct {
		name   string
		v, def int
	}{
		{"FragMapSize", cfg.FragMapSize, DefaultFragMapSize},
		{"CTMapSizeTCP", cfg.CTMapSizeTCP, DefaultCTMapSizeTCP},
		{"CTMapSizeAny", cfg.CTMapSizeAny, DefaultCTMapSizeAny},
		{"NATMapSize", cfg.NATMapSize, DefaultNATMapSize},
		{"NeighMapSize", cfg.NeighMapSize, DefaultNeighMapSize},
	} {
		if n[i], err = size(s.name, s.v, s.def); err != nil {
			return nil, err
		}
	}
	for i, v := range cfg.VIPs {
		if !v.Is4() {
			return nil, fmt.Errorf("cilium: config.VIPs[%d] %v: %w", i, v, ErrNotIPv4)
		}
		if b.vips == nil {
			b.vips = make(map[netip.Addr]struct{}, len(cfg.VIPs))
		}
		b.vips[v] = struct{}{}
	}
	// The fragment map is allocated whole; the others reserve a few
	// thousand entries and double toward their bound on demand.
	if b.frag, err = lru.NewFunc[fragKey, ports](n[0], hashFrag); err != nil {
		return nil, fmt.Errorf("cilium: config.FragMapSize %d: %w", n[0], err)
	}
	if b.ctTCP, err = lru.NewWith[tupleKey, ctEntry](n[1], lru.Options[tupleKey]{Hash: hashTuple, Reserve: 4096}); err != nil {
		return nil, fmt.Errorf("cilium: config.CTMapSizeTCP %d: %w", n[1], err)
	}
	if b.ctAny, err = lru.NewWith[tupleKey, ctEntry](n[2], lru.Options[tupleKey]{Hash: hashTuple, Reserve: 4096}); err != nil {
		return nil, fmt.Errorf("cilium: config.CTMapSizeAny %d: %w", n[2], err)
	}
	if b.nat, err = lru.NewWith[tupleKey, natEntry](n[3], lru.Options[tupleKey]{Hash: hashTuple, Reserve: 4096}); err != nil {
		return nil, fmt.Errorf("cilium: config.NATMapSize %d: %w", n[3], err)
	}
	if b.neigh, err = lru.NewWith[[4]byte, struct{}](n[4], lru.Options[[4]byte]{Hash: hashAddr, Reserve: 1024}); err != nil {
		return nil, fmt.Errorf("cilium: config.NeighMapSize %d: %w", n[4], err)
	}
	b.rnd = b.seed | 1
	return b, nil
}

// Name returns "cilium".
func (b *Balancer) Name() string { return "cilium" }

// SetBackends replaces the service's backends and rebuilds its Maglev table
// with [ring.Build] (Up backends of weight > 0). As the agent does, a
// backend that is down (Up=false) or absent is deleted from the backends map,
// so a flow tracked to it is re-balanced on its next packet; a backend of
// weight 0 stays in the map in maintenance state: it keeps its tracked flows
// (except a TCP SYN, which is re-balanced) and gets no new ones.
func (b *Balancer) SetBackends(bs []balancer.Backend) error {
	for i, be := range bs {
		if be.Addr.IsValid() && !be.Addr.Is4() { // IPv6 backends: not modelled yet
			return fmt.Errorf("cilium: backends[%d].Addr %v: %w", i, be.Addr, ErrNotIPv4)
		}
	}
	r, err := balancer.NewRing(bs, b.m)
	if err != nil {
		return fmt.Errorf("cilium: %w", err)
	}
	m := make(map[balancer.BackendID]balancer.Backend, len(bs))
	for _, be := range bs {
		if be.Up {
			m[be.ID] = be
		}
	}
	b.ring, b.backend = r, m
	return nil
}

// Stats returns the counters so far.
func (b *Balancer) Stats() Stats {
	s := b.stats
	s.Evictions = b.frag.Stats().Evictions + b.ctTCP.Stats().Evictions + b.ctAny.Stats().Evictions +
		b.nat.Stats().Evictions + b.neigh.Stats().Evictions
	return s
}

// FragMapLen returns the number of entries in the fragment map.
func (b *Balancer) FragMapLen() int { return b.frag.Len() }

// CTMapLen returns the number of entries in the two conntrack maps (TCP
// and other protocols) together: the memory a flood of new flows fills.
func (b *Balancer) CTMapLen() int { return b.ctTCP.Len() + b.ctAny.Len() }

func drop(reason string) balancer.Decision {
	return balancer.Decision{Action: balancer.Drop, Reason: reason}
}

// Process runs p through the model of Cilium's XDP NodePort load balancer
// (see the package doc for the path and what each step is charged). It does
// not allocate.
func (b *Balancer) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	var m *cost.Meter
	if env != nil {
		m = env.Meter
	}
	b.stats.Packets++
	d := b.process(m, p)
	if d.Action == balancer.Drop && d.Reason != balancer.ReasonMalformed {
		// send_drop_notify_error_ext -> update_metrics: cilium_metrics lookup.
		m.Charge(cost.OpMapRead)
	}
	switch d.Action {
	case balancer.Forward:
		b.stats.Forwarded++
	case balancer.Pass:
		b.stats.Passed++
	case balancer.Drop:
		switch d.Reason {
		case balancer.ReasonMalformed:
			b.stats.DropMalformed++
		case ReasonFragNotFound:
			b.stats.DropFragNotFound++
		case ReasonNoBackend:
			b.stats.DropNoBackend++
		case ReasonNATNoMapping:
			b.stats.DropNATNoMapping++
		}
	}
	return d
}

func (b *Balancer) process(m *cost.Meter, p *balancer.Packet) balancer.Decision {
	if p == nil || p.Malformed() || !p.Src.Is4() || !p.Dst.Is4() {
		return drop(balancer.ReasonMalformed)
	}
	// cil_xdp_entry -> check_filters -> check_v4 -> check_v4_lb:
	// ep_tail_call(CILIUM_CALL_IPV4_FROM_NETDEV) -> tail_lb_ipv4 -> nodeport_lb4.
	m.Charge(cost.OpTailCall)
	// lb4_extract_tuple: only TCP/UDP are service protocols.
	if p.Proto != balancer.ProtoTCP && p.Proto != balancer.ProtoUDP {
		return balancer.Decision{Action: balancer.Pass}
	}
	tuple := *p
	// ipv4_load_l4_ports -> ipv4_handle_fragmentation (1st time).
	if d, ok := b.l4Ports(m, p, &tuple); !ok {
		return d
	}
	// lb4_lookup_service on cilium_lb4_services_v2 (then the wildcard entry).
	m.Charge(cost.OpMapRead)
	if b.vips != nil {
		if _, ok := b.vips[p.Dst]; !ok {
			m.Charge(cost.OpMapRead)
			return balancer.Decision{Action: balancer.Pass}
		}
	}
	syn := p.Proto == balancer.ProtoTCP && p.TCPFlags&balancer.TCPSyn != 0 && p.FragOffset == 0
	ct := b.ctAny
	if p.Proto == balancer.ProtoTCP {
		ct = b.ctTCP
	}
	// lb4_local: ct_lazy_lookup4(CT_SERVICE, SCOPE_REVERSE).
	frag := p.IsFragment()
	svcKey := tupleKey{balancer.Key5(&tuple), tupleService}
	b.ctMetrics(m, frag)
	m.Charge(cost.OpMapRead)
	var id balancer.BackendID
	if e := ct.Ref(svcKey); e != nil { // CT_REPLY
		b.stats.CTServiceHit++
		id = e.backend
		m.Charge(cost.OpMapRead) // lb4_lookup_backend
		be, present := b.backend[id]
		active := present && be.Weight > 0
		if !active && (!present || syn) {
			nid, ok := b.selectBackend(m, &tuple)
			if !ok {
				return drop(ReasonNoBackend)
			}
			m.Charge(cost.OpMapRead) // ct_update_svc_entry: lookup, update in place
			e.backend = nid
			id = nid
			b.stats.Reselected++
		}
	} else { // CT_NEW
		b.stats.CTServiceNew++
		if b.ring == nil || b.ring.Table == nil { // svc->count == 0
			return drop(ReasonNoBackend)
		}
		nid, ok := b.selectBackend(m, &tuple)
		if !ok {
			return drop(ReasonNoBackend)
		}
		id = nid
		m.Charge(cost.OpMapWrite) // ct_create4(CT_SERVICE)
		ct.Put(svcKey, ctEntry{backend: id})
	}
	be := b.backend[id]
	if b.cfg.Mode == ModeSNAT {
		m.Charge(cost.OpRewrite) // lb4_dnat_request / lb4_xlate: daddr, dport, checksums
	}
	// __lookup_ip4_endpoint(tuple.daddr): is the backend local? (never here)
	m.Charge(cost.OpMapRead)
	if b.cfg.Mode == ModeDSR {
		// ep_tail_call(CILIUM_CALL_IPV4_NODEPORT_DSR) -> tail_nodeport_ipv4_dsr
		// -> dsr_set_ipip4: rss_gen_src4 (hash_32), adjust room, outer header.
		m.Charge(cost.OpTailCall)
		m.Charge(cost.OpHash)
		m.Charge(cost.OpEncap)
		return balancer.Decision{Action: balancer.Forward, Backend: id}
	}
	// SNAT: ct_lazy_lookup4(CT_EGRESS, SCOPE_BIDIR): reverse, then forward.
	post := tuple
	post.Dst = be.Addr
	egKey := tupleKey{balancer.Key5(&post), tupleEgress}
	b.ctMetrics(m, frag)
	m.Charge(cost.OpMapRead)
	m.Charge(cost.OpMapRead)
	if _, ok := ct.Get(egKey); !ok {
		m.Charge(cost.OpMapWrite) // ct_create4(CT_EGRESS)
		ct.Put(egKey, ctEntry{backend: id})
	}
	// neigh_record_ip4: lookup the client's MAC, update if missing.
	m.Charge(cost.OpMapRead)
	src := p.Src.As4()
	if _, ok := b.neigh.Get(src); !ok {
		m.Charge(cost.OpMapWrite)
		b.neigh.Put(src, struct{}{})
	}
	// ep_tail_call(CILIUM_CALL_IPV4_NODEPORT_NAT_EGRESS) ->
	// tail_nodeport_nat_egress_ipv4 -> snat_v4_nat.
	m.Charge(cost.OpTailCall)
	// ipv4_load_l4_ports -> ipv4_handle_fragmentation (2nd time).
	if d, ok := b.l4Ports(m, p, &tuple); !ok {
		return d
	}
	if d, ok := b.snat(m, &post); !ok {
		return d
	}
	m.Charge(cost.OpRewrite) // snat_v4_rewrite_headers
	// fib_redirect_v4: bpf_fib_lookup, a helper without a map; not charged.
	return balancer.Decision{Action: balancer.Forward, Backend: id}
}

// ctMetrics models __ct_lookup4's update_metrics(REASON_FRAG_PACKET) for a
// fragment: a cilium_metrics lookup.
func (b *Balancer) ctMetrics(m *cost.Meter, frag bool) {
	if frag {
		m.Charge(cost.OpMapRead)
	}
}

// l4Ports models ipv4_handle_fragmentation: a non-first fragment reads its
// ports from the fragment map (dropped when absent); a first fragment writes
// them. It fills t's ports.
func (b *Balancer) l4Ports(m *cost.Meter, p, t *balancer.Packet) (balancer.Decision, bool) {
	if !p.IsFragment() {
		return balancer.Decision{}, true
	}
	k := fragKey{dst: p.Dst.As4(), src: p.Src.As4(), id: p.IPID, proto: p.Proto}
	if p.FragOffset != 0 {
		m.Charge(cost.OpMapRead) // ipv4_frag_get_l4ports
		v, ok := b.frag.Get(k)
		if !ok {
			return drop(ReasonFragNotFound), false
		}
		b.stats.FragHits++
		t.SrcPort, t.DstPort = v.sport, v.dport
		return balancer.Decision{}, true
	}
	m.Charge(cost.OpMapWrite) // map_update_elem(cilium_ipv4_frag_datagrams, BPF_ANY)
	b.stats.FragWrites++
	b.frag.Put(k, ports{p.SrcPort, p.DstPort})
	return balancer.Decision{}, true
}

// selectBackend is lb4_select_backend_id_maglev + lb4_lookup_backend: the
// outer HASH_OF_MAPS and inner ARRAY lookups, the tuple hash, the backend.
func (b *Balancer) selectBackend(m *cost.Meter, t *balancer.Packet) (balancer.BackendID, bool) {
	m.Charge(cost.OpMapRead) // cilium_lb4_maglev (outer)
	m.Charge(cost.OpMapRead) // inner LUT array
	m.Charge(cost.OpHash)
	var id balancer.BackendID
	ok := false
	if b.ring != nil {
		id, ok = b.ring.Lookup(balancer.Hash5(t, b.seed))
	}
	m.Charge(cost.OpMapRead) // lb4_lookup_backend
	if !ok {
		return 0, false
	}
	_, ok = b.backend[id]
	return id, ok
}

// snat models snat_v4_nat_handle_mapping (and snat_v4_new_mapping) for the
// post-DNAT tuple t: client -> backend.
func (b *Balancer) snat(m *cost.Meter, t *balancer.Packet) (balancer.Decision, bool) {
	fwd := tupleKey{balancer.Key5(t), tupleOut}
	m.Charge(cost.OpMapRead) // __snat_lookup(tuple)
	rev := t.Dst.As4()
	if e, ok := b.nat.Get(fwd); ok {
		// Check the reverse entry; restore it when it was evicted.
		m.Charge(cost.OpMapRead)
		rk := revKey(rev, t, e.port)
		if _, ok := b.nat.Get(rk); !ok {
			m.Charge(cost.OpMapWrite)
			b.nat.Put(rk, natEntry{port: t.SrcPort})
		}
		return balancer.Decision{}, true
	}
	// snat_v4_new_mapping: __snat_try_keep_port, then up to
	// SNAT_COLLISION_RETRIES attempts to create the reverse entry
	// (BPF_NOEXIST), then the retries histogram and the forward entry.
	port := t.SrcPort
	if port < NATPortMin {
		port = b.clampPort(uint16(b.random()))
	}
	for retry := 0; retry < SNATCollisionRetries; retry++ {
		rk := revKey(rev, t, port)
		m.Charge(cost.OpMapWrite)
		if _, taken := b.nat.Peek(rk); !taken { // BPF_NOEXIST: fails on a present key without touching it
			b.nat.Put(rk, natEntry{port: t.SrcPort})
			m.Charge(cost.OpMapRead) // cilium_snat_v4_alloc_retries
			m.Charge(cost.OpMapWrite)
			b.nat.Put(fwd, natEntry{port: port})
			b.stats.NATNew++
			return balancer.Decision{}, true
		}
		if retry == 0 {
			port = b.clampPort(uint16(b.random()))
		} else {
			port = b.clampPort(port + 1)
		}
	}
	m.Charge(cost.OpMapRead) // cilium_snat_v4_alloc_retries
	return drop(ReasonNATNoMapping), false
}

// revKey is the reverse SNAT tuple set_v4_rtuple builds: backend -> node,
// backend port -> allocated port.
func revKey(backend [4]byte, t *balancer.Packet, port uint16) tupleKey {
	var k tupleKey
	copy(k.t[0:4], backend[:])
	copy(k.t[4:8], nodeAddr[:])
	k.t[8], k.t[9] = byte(t.DstPort>>8), byte(t.DstPort)
	k.t[10], k.t[11] = byte(port>>8), byte(port)
	k.t[12] = t.Proto
	k.flags = tupleIn
	return k
}

// clampPort is __snat_clamp_port_range over [NATPortMin, NATPortMax].
func (b *Balancer) clampPort(v uint16) uint16 {
	n := uint32(NATPortMax-NATPortMin) + 1
	return uint16(NATPortMin + (uint32(v)*n)>>16)
}

// random is a deterministic stand-in for get_prandom_u32 (xorshift32).
func (b *Balancer) random() uint32 {
	x := b.rnd
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	b.rnd = x
	return x
}
