package katran

import (
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// Process runs p through the model of Katran's balancer_ingress and
// process_packet, charging env.Meter for each map lookup (by the map's
// kind: ARRAY, HASH or LRU_HASH), LRU insert, clock read, hash and
// encapsulation the XDP program performs on that path (docs/fidelity.md
// lists them, with the upstream functions). It does not allocate.
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
	// balancer_ingress: stats[MAX_VIPS + XDP_TOTAL_CNTR] (PERCPU_ARRAY).
	m.Charge(cost.OpArrayRead)
	d := b.process(m, now, cpu, p)
	// balancer_ingress: stats[XDP_PASS/DROP/TX_CNTR].
	m.Charge(cost.OpArrayRead)
	switch d.Action {
	case balancer.Forward:
		b.stats.Forwarded++
	case balancer.Pass:
		b.stats.Passed++
	}
	return d
}

func drop(reason string) balancer.Decision {
	return balancer.Decision{Action: balancer.Drop, Reason: reason}
}

func (b *Balancer) process(m *cost.Meter, now time.Duration, cpu int, p *balancer.Packet) balancer.Decision {
	// parse_l3_headers (pckt_parsing.h): a header no packet can carry,
	// then, for IPv4, options and fragments; for IPv6, the first Next
	// Header (Katran walks no extension header).
	if p.Malformed() {
		b.stats.DropMalformed++
		return drop(balancer.ReasonMalformed)
	}
	if p.Dst.Is6() {
		if !p.Src.Is6() {
			b.stats.DropMalformed++
			return drop(balancer.ReasonMalformed)
		}
		if p.ExtHeaders > 0 {
			// The view keeps no chain order; it is read as Encode writes
			// it, the Fragment header last: the IPv6 header's Next Header
			// is the Fragment header only when it is the one extension
			// header.
			if p.ExtHeaders != 1 || !p.IsFragment() && p.FragID == 0 {
				return balancer.Decision{Action: balancer.Pass} // nexthdr neither TCP nor UDP
			}
			if !b.cfg.Naive { // nexthdr == IPPROTO_FRAGMENT, atomic fragments too
				b.stats.DropFragment6++
				return drop(ReasonFragment6)
			}
		}
	} else {
		if p.IHL != 0 && p.IHL != 5 {
			b.stats.DropIPOptions++
			return drop(ReasonIPOptions)
		}
		if p.IsFragment() && !b.cfg.Naive {
			b.stats.DropFragment++
			return drop(ReasonFragment)
		}
		if !p.Src.Is4() || !p.Dst.Is4() {
			b.stats.DropMalformed++
			return drop(balancer.ReasonMalformed)
		}
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
	// vip_map lookup with the packet's port, then with port 0: a port-0
	// VIP, without F_HASH_DPORT_ONLY/F_HASH_SRC_DST_PORT, hashes and
	// tracks the flow with destination port 0. vip_map is a HASH.
	m.Charge(cost.OpMapRead)
	svc, ok := b.vipLookup(p.Dst, flow.DstPort, p.Proto)
	if !ok {
		m.Charge(cost.OpMapRead)
		if svc, ok = b.vipLookup(p.Dst, 0, p.Proto); !ok {
			return balancer.Decision{Action: balancer.Pass}
		}
		flow.DstPort = 0
	}
	if int(p.Len)+balancer.EthLen > MaxPacketSize {
		b.stats.DropTooBig++
		return drop(ReasonTooBig)
	}
	// stats[MAX_VIPS + LRU_CNTRS].
	m.Charge(cost.OpArrayRead)
	if b.options(svc).HashNoSrcPort {
		flow.SrcPort = 0 // F_HASH_NO_SRC_PORT
	}
	// lru_mapping[cpu] (an ARRAY_OF_MAPS); on a miss the fallback LRU
	// and FALLBACK_LRU_CNTR.
	m.Charge(cost.OpArrayRead)
	st := &b.fallback
	if cpu >= 0 && cpu < len(b.cpus) {
		st = &b.cpus[cpu]
	} else {
		m.Charge(cost.OpArrayRead)
		b.stats.FallbackLRU++
	}
	key := makeFlowKey(&flow)
	syn := p.Proto == balancer.ProtoTCP && p.TCPFlags&balancer.TCPSyn != 0
	rst := p.Proto == balancer.ProtoTCP && p.TCPFlags&balancer.TCPRst != 0

	var dst balancer.BackendID
	found := false
	if !syn { // connection_table_lookup: the per-CPU LRU_HASH
		m.Charge(cost.OpLRURead)
		if v := st.lru.Ref(key); v != nil {
			ok := true
			if p.Proto == balancer.ProtoUDP {
				// A UDP entry's access time: bpf_ktime_get_ns, then
				// (unless stale) the store of the time into the entry
				// the lookup returned, uncharged as every store into a
				// looked-up value is (the stats' counters too).
				m.Charge(cost.OpClock)
				if now-v.atime > LRUUDPTimeout {
					ok = false // stale UDP entry: treated as a miss
				} else {
					v.atime = now
				}
			}
			if ok {
				m.Charge(cost.OpArrayRead) // reals[pos]
				dst, found = v.backend, true
				b.stats.LRUHits++
			}
		}
	}
	if !found {
		b.stats.LRUMisses++
		if p.Proto == balancer.ProtoTCP {
			m.Charge(cost.OpArrayRead) // stats[LRU_MISS_CNTR]
			if !syn {
				b.stats.TCPNonSYNMisses++
			}
		}
		// get_packet_dst: the VIP's ring (ch_rings[vip_num * M + hash % M]).
		underFlood := b.underFlood(m, st, now)
		m.Charge(cost.OpHash)
		h := balancer.Hash5(&flow, b.cfg.Seed)
		m.Charge(cost.OpRingRead) // ch_rings
		var id balancer.BackendID
		ok := false
		if svc != nil {
			id, ok = svc.Pick(h)
		}
		if !ok {
			m.Charge(cost.OpArrayRead) // increment_ch_drop_real_0
			b.stats.DropNoBackend++
			return drop(ReasonNoBackend)
		}
		m.Charge(cost.OpArrayRead) // reals
		if !underFlood && !rst {
			v := lruValue{backend: id}
			if p.Proto == balancer.ProtoUDP {
				v.atime = now // is_under_flood's clock read
			}
			// bpf_map_update_elem on the LRU_HASH: a new node, which
			// may evict the least recently used.
			m.Charge(cost.OpLRUInsert)
			st.lru.Put(key, v)
		}
		m.Charge(cost.OpArrayRead) // update_vip_lru_miss_stats: vip_miss_stats
		dst = id
	}
	// ctl_array, stats[vip_num], reals_stats, then encap_v4 (IPIP) or, to
	// an IPv6 real (F_IPV6), encap_v6 (IPv6-in-IPv6): one
	// bpf_xdp_adjust_head and a header either way, no map.
	m.Charge(cost.OpArrayRead)
	m.Charge(cost.OpArrayRead)
	m.Charge(cost.OpArrayRead)
	m.Charge(cost.OpEncap)
	return balancer.Decision{Action: balancer.Forward, Backend: dst}
}

// underFlood is is_under_flood: one stats lookup and a clock read
// (bpf_ktime_get_ns), a per-CPU count of new connections in the current
// one-second quantum.
func (b *Balancer) underFlood(m *cost.Meter, st *cpuState, now time.Duration) bool {
	m.Charge(cost.OpArrayRead)
	m.Charge(cost.OpClock)
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
