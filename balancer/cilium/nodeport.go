package cilium

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// Process runs p through the model of Cilium's XDP NodePort load balancer
// (docs/fidelity.md gives the path and what each step is charged). It does
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
		return b.dsr(m, id)
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

// selectBackend is lb4_select_backend_id_maglev + lb4_lookup_backend: the
// outer HASH_OF_MAPS and inner ARRAY lookups, the tuple hash, the backend.
func (b *Balancer) selectBackend(m *cost.Meter, t *balancer.Packet) (balancer.BackendID, bool) {
	m.Charge(cost.OpMapRead) // cilium_lb4_maglev (outer)
	m.Charge(cost.OpMapRead) // inner LUT array
	m.Charge(cost.OpHash)
	var id balancer.BackendID
	ok := false
	if b.ring != nil {
		id, ok = b.ring.Lookup(balancer.Hash5(t, b.cfg.Seed))
	}
	m.Charge(cost.OpMapRead) // lb4_lookup_backend
	if !ok {
		return 0, false
	}
	_, ok = b.backend[id]
	return id, ok
}
