package cilium

import (
	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/lru"
)

// ipv6MaxHeaders is IPV6_MAX_HEADERS (bpf/lib/ipv6.h): ipv6_hdrlen_offset
// makes that many steps and must meet the upper layer within them, so a
// chain of that many extension headers is DROP_INVALID_EXTHDR.
const ipv6MaxHeaders = 4

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
		case ReasonInvalidExtHdr:
			b.stats.DropInvalidExtHdr++
		}
	}
	return d
}

func (b *Balancer) process(m *cost.Meter, p *balancer.Packet) balancer.Decision {
	if p == nil || p.Malformed() {
		return drop(balancer.ReasonMalformed)
	}
	if p.Dst.Is6() {
		if !p.Src.Is6() {
			return drop(balancer.ReasonMalformed)
		}
		// check_v6 -> check_v6_lb: ep_tail_call(CILIUM_CALL_IPV6_FROM_NETDEV)
		// -> tail_lb_ipv6 -> nodeport_lb6.
		m.Charge(cost.OpTailCall)
		// ipv6_hdrlen_offset: the walk meets the upper layer within
		// IPV6_MAX_HEADERS steps; No Next Header is invalid too.
		if p.ExtHeaders >= ipv6MaxHeaders || p.Proto == balancer.ProtoNoNext {
			return drop(ReasonInvalidExtHdr)
		}
		return nodeport(b, b.v6, m, p, addr6(p.Src), addr6(p.Dst))
	}
	if !p.Src.Is4() || !p.Dst.Is4() {
		return drop(balancer.ReasonMalformed)
	}
	// cil_xdp_entry -> check_filters -> check_v4 -> check_v4_lb:
	// ep_tail_call(CILIUM_CALL_IPV4_FROM_NETDEV) -> tail_lb_ipv4 -> nodeport_lb4.
	m.Charge(cost.OpTailCall)
	return nodeport(b, b.v4, m, p, addr4(p.Src), addr4(p.Dst))
}

// nodeport is nodeport_lb4 (nodeport_lb6 for the IPv6 family's maps),
// after the tail call that reaches it; src and dst are p's addresses as
// the family's keys hold them.
func nodeport[T, F, A comparable](b *Balancer, f *family[T, F, A], m *cost.Meter, p *balancer.Packet, src, dst A) balancer.Decision {
	// lb{4,6}_extract_tuple: only TCP/UDP are service protocols.
	if p.Proto != balancer.ProtoTCP && p.Proto != balancer.ProtoUDP {
		return balancer.Decision{Action: balancer.Pass}
	}
	// The tuple is p's addresses and protocol with pt's ports: p's, or a
	// non-first fragment's from the fragment map.
	pt := ports{p.SrcPort, p.DstPort}
	// ipv{4,6}_load_l4_ports -> ipv{4,6}_handle_fragmentation (1st time).
	if d, ok := l4Ports(b, f, m, p, src, dst, &pt, false); !ok {
		return d
	}
	// lb{4,6}_lookup_service on cilium_lb{4,6}_services_v2 with the
	// ports, recovered from the fragment map for a non-first fragment
	// (then the wildcard entry, which the model never holds).
	m.Charge(cost.OpMapRead)
	svc, ok := b.lookupService(p.Dst, pt.dport, p.Proto)
	if !ok {
		m.Charge(cost.OpMapRead)
		return balancer.Decision{Action: balancer.Pass}
	}
	syn := p.Proto == balancer.ProtoTCP && p.TCPFlags&balancer.TCPSyn != 0 && p.FragOffset == 0
	ct := f.ctAny
	if p.Proto == balancer.ProtoTCP {
		ct = f.ctTCP
	}
	// lb{4,6}_local: ct_lazy_lookup{4,6}(CT_SERVICE, SCOPE_REVERSE).
	frag := p.IsFragment()
	svcKey := f.tuple(src, dst, pt.sport, pt.dport, p.Proto, tupleService)
	b.ctMetrics(m, frag)
	m.Charge(cost.OpMapRead)
	var id balancer.BackendID
	var be backendEntry // id's, from the backends map
	// e stays valid until the next Put on ct: it is nil after the CT_NEW
	// branch's.
	e := ct.Ref(svcKey)
	if e != nil { // CT_REPLY
		b.stats.CTServiceHit++
		id = e.backend
		m.Charge(cost.OpMapRead) // lb{4,6}_lookup_backend
		var present bool
		be, present = b.backend.Get(id)
		if !(present && active(svc, id, be)) && (!present || syn) {
			nid, nbe, ok := b.selectBackend(m, svc, p, pt)
			if !ok {
				return drop(ReasonNoBackend)
			}
			m.Charge(cost.OpMapRead) // ct_update_svc_entry: lookup, update in place
			e.backend = nid
			id, be = nid, nbe
			b.stats.Reselected++
		}
	} else { // CT_NEW
		b.stats.CTServiceNew++
		if svc == nil || svc.Ring.Table == nil { // svc->count == 0
			return drop(ReasonNoBackend)
		}
		nid, nbe, ok := b.selectBackend(m, svc, p, pt)
		if !ok {
			return drop(ReasonNoBackend)
		}
		id, be = nid, nbe
		m.Charge(cost.OpMapWrite) // ct_create{4,6}(CT_SERVICE)
		ct.Put(svcKey, ctEntry{backend: id})
	}
	if b.cfg.Mode == ModeSNAT {
		m.Charge(cost.OpRewrite) // lb{4,6}_dnat_request / lb{4,6}_xlate: daddr, dport, checksums
	}
	// __lookup_ip{4,6}_endpoint(tuple.daddr): is the backend local? (never here)
	m.Charge(cost.OpMapRead)
	if b.cfg.Mode == ModeDSR {
		return b.dsr(m, id)
	}
	// SNAT: ct_lazy_lookup{4,6}(CT_EGRESS, SCOPE_BIDIR): reverse, then forward.
	bk := f.addr(be.addr)
	egKey := f.tuple(src, bk, pt.sport, pt.dport, p.Proto, tupleEgress) // after DNAT
	b.ctMetrics(m, frag)
	m.Charge(cost.OpMapRead)
	m.Charge(cost.OpMapRead)
	var hint lru.Handle // the CT_SERVICE entry's handle of this one (ctEntry.next)
	if e != nil {
		hint = e.next
	}
	eg, h := ct.RefAt(egKey, hint)
	if eg == nil {
		m.Charge(cost.OpMapWrite) // ct_create{4,6}(CT_EGRESS)
		ct.Put(egKey, ctEntry{backend: id})
	} else if e != nil {
		e.next = h
	}
	// neigh_record_ip{4,6}: lookup the client's MAC, update if missing.
	m.Charge(cost.OpMapRead)
	if _, ok := f.neigh.Get(src); !ok {
		m.Charge(cost.OpMapWrite)
		f.neigh.Put(src, struct{}{})
	}
	// ep_tail_call(CILIUM_CALL_IPV{4,6}_NODEPORT_NAT_EGRESS) ->
	// tail_nodeport_nat_egress_ipv{4,6} -> snat_v{4,6}_nat.
	m.Charge(cost.OpTailCall)
	// ipv{4,6}_load_l4_ports -> ipv{4,6}_handle_fragmentation (2nd time).
	if d, ok := l4Ports(b, f, m, p, src, dst, &pt, true); !ok {
		return d
	}
	if d, ok := snat(b, f, m, bk, pt, p.Proto, egKey, eg); !ok {
		return d
	}
	m.Charge(cost.OpRewrite) // snat_v{4,6}_rewrite_headers
	// fib_redirect: bpf_fib_lookup, a helper without a map; not charged.
	return balancer.Decision{Action: balancer.Forward, Backend: id}
}

// ctMetrics models __ct_lookup4's update_metrics(REASON_FRAG_PACKET) for a
// fragment: a cilium_metrics lookup (charged alike for __ct_lookup6).
func (b *Balancer) ctMetrics(m *cost.Meter, frag bool) {
	if frag {
		m.Charge(cost.OpMapRead)
	}
}

// selectBackend is lb{4,6}_select_backend_id_maglev +
// lb{4,6}_lookup_backend on service svc: the outer HASH_OF_MAPS (keyed
// by the service's rev_nat_index) and inner ARRAY lookups, the tuple
// hash, the backend (its ID and entry). The tuple is p's with pt's ports.
func (b *Balancer) selectBackend(m *cost.Meter, svc *balancer.ServiceEntry, p *balancer.Packet, pt ports) (balancer.BackendID, backendEntry, bool) {
	m.Charge(cost.OpMapRead) // cilium_lb{4,6}_maglev (outer)
	m.Charge(cost.OpMapRead) // inner LUT array
	m.Charge(cost.OpHash)
	var id balancer.BackendID
	ok := false
	if svc != nil {
		t := *p
		t.SrcPort, t.DstPort = pt.sport, pt.dport
		id, ok = svc.Pick(balancer.Hash5(&t, b.cfg.Seed))
	}
	m.Charge(cost.OpMapRead) // lb{4,6}_lookup_backend
	if !ok {
		return 0, backendEntry{}, false
	}
	be, ok := b.backend.Get(id)
	return id, be, ok
}
