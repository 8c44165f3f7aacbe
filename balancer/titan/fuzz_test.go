package titan_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/testutil"
)

// fuzzOp decodes one 6-byte operation of FuzzTables: a packet drawn from
// small domains (2 clients, 3 protocols, 4 source ports, 4 IP IDs, 4
// offsets, 2 destination ports; IPv4 or, with bit 3 of the first byte,
// IPv6 behind an extension header) so that keys collide often; or, when
// the first byte's top bits are all set, a toggle of one backend's health
// (toggle 0-2), and when they are 110, a switch between the catch-alls
// and services (toggle 3).
func fuzzOp(d []byte) (p balancer.Packet, toggle int, step time.Duration) {
	switch d[0] & 0xe0 {
	case 0xe0:
		return p, int(d[1] % 3), 0
	case 0xc0:
		return p, 3, 0
	}
	p = balancer.Packet{
		Src:           netip.AddrFrom4([4]byte{10, 0, 0, 1 + d[0]&1}),
		Dst:           testutil.VIP,
		Proto:         [...]uint8{balancer.ProtoTCP, balancer.ProtoUDP, balancer.ProtoICMP, 47}[d[0]>>1&3],
		SrcPort:       1000 + uint16(d[1]&3),
		DstPort:       [...]uint16{443, 53}[d[1]>>2&1],
		IPID:          uint16(d[2] & 3),
		FragOffset:    [...]uint16{0, 0, 185, 370}[d[2]>>2&3],
		MoreFragments: d[2]&0x10 != 0,
		Len:           uint16(d[3])<<3 + 20,
		TCPFlags:      d[4],
	}
	if d[0]&0x08 != 0 {
		p.Src, p.Dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: 1 + d[0]&1}), vip6
		p.FragID, p.IPID, p.ExtHeaders, p.Len = 0x10000|uint32(p.IPID), 0, 1, p.Len+48
		if p.Proto == balancer.ProtoICMP {
			p.Proto = balancer.ProtoICMPv6
		}
	}
	if !p.HasPorts() {
		p.SrcPort, p.DstPort = 0, 0
	}
	return p, -1, time.Duration(d[5]) * time.Millisecond
}

// fuzzServices is FuzzTables' service set over backends bs (three IPv4
// ones, two IPv6 ones): TCP 443 and UDP 53 on the IPv4 VIP with pools
// sharing a backend, UDP 53 on the IPv6 VIP.
func fuzzServices(bs []balancer.Backend) []balancer.Service {
	k := func(vip netip.Addr, port uint16, proto uint8) balancer.ServiceKey {
		return balancer.ServiceKey{VIP: vip, Port: port, Proto: proto}
	}
	return []balancer.Service{
		{Key: k(testutil.VIP, 443, balancer.ProtoTCP), Backends: bs[0:2]},
		{Key: k(testutil.VIP, 53, balancer.ProtoUDP), Backends: bs[1:3]},
		{Key: k(vip6, 53, balancer.ProtoUDP), Backends: bs[3:5]},
	}
}

// FuzzTables drives two Balancers with the same random operations and
// checks, after every packet, the invariants the package doc promises:
// decisions are one of the three actions (a drop with a reason), a Forward
// names a backend that is in the set and up, the three tables stay within
// their bounds, the counters add up, the two balancers decide identically
// (no hidden state, no randomness), while no backend changes and no
// entry is evicted or re-picked (its backend out of the fragment's pool)
// every forwarded fragment that finds its datagram's entry goes to the
// backend the entry's writer chose, and the orphan credit stays within
// its bound. The first argument picks the orphan policy and the
// admission policy.
func FuzzTables(f *testing.F) {
	f.Add(uint8(0), []byte{0, 1, 0x10, 40, 0, 1, 0, 1, 0x08, 40, 0, 1, 0, 1, 0x0c, 10, 0, 1})
	f.Add(uint8(1), []byte{2, 1, 0x08, 40, 0, 1, 2, 3, 0x10, 40, 2, 1, 0xff, 1, 0, 0, 0, 0, 2, 1, 0x0c, 9, 0, 1})
	f.Add(uint8(2), []byte{1, 0, 0x1c, 40, 0, 0, 1, 0, 0x10, 40, 2, 0, 1, 2, 0x10, 40, 2, 0})
	// IPv6 (bit 3) datagrams, then services (0xc0) and the same again.
	f.Add(uint8(4), []byte{0x0a, 4, 0x1c, 40, 0, 1, 0x0a, 4, 0x10, 40, 0, 1, 0x0a, 4, 0x18, 10, 0, 1,
		0xc0, 0, 0, 0, 0, 0, 0x0a, 4, 0x11, 40, 0, 1, 0x02, 4, 0x10, 40, 0, 1, 0x0a, 0, 0x0c, 10, 0, 1, 0x00, 0, 0, 40, 2, 1})
	f.Fuzz(func(t *testing.T, policy uint8, ops []byte) {
		const conns, hints = 4, 2
		cfg := titan.Config{
			RingSize: 13, ConnTableSize: conns, FragTableSize: 256, HintTableSize: hints,
			FragTimeout: 100 * time.Millisecond, OrphanPolicy: titan.OrphanPolicy(policy % 3),
			OrphanAdmission: titan.OrphanAdmission(policy / 3 % 3), OrphanCredits: 2,
		}
		a, b := newLB(t, cfg), newLB(t, cfg)
		bs := append(testutil.Backends(3), backend6(201, 1), backend6(202, 2))
		up := map[balancer.BackendID]bool{101: true, 102: true, 103: true, 201: true, 202: true}
		services := false
		set := func() {
			for _, lb := range []*titan.Balancer{a, b} {
				err := lb.SetBackends(bs)
				if services {
					err = lb.SetServices(fuzzServices(bs))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		set()
		// placed is the backend of each datagram's entry, as the forwarded
		// fragment that wrote it (a fragment-table miss or expiry) chose:
		// a fragment that hits the entry must go there. Time plays no
		// part: whether an entry is live is the table's to say, and an
		// entry may be rewritten (an orphan of a reused IP ID after
		// expiry) at a moment no outside clock marks.
		placed := map[frag.Key]balancer.BackendID{}
		var now time.Duration
		var evictions uint64
		for len(ops) >= 6 {
			p, toggle, step := fuzzOp(ops[:6])
			ops = ops[6:]
			if toggle >= 0 {
				if toggle == 3 {
					services = !services
				} else {
					bs[toggle].Up = !bs[toggle].Up
					up[bs[toggle].ID] = bs[toggle].Up
				}
				set()
				clear(placed) // a re-pick may move a datagram whose backend went down or left its pool
				continue
			}
			now += step
			env := balancer.Env{Now: now, CPU: int(p.IPID)}
			before := a.Stats()
			d := a.Process(&env, &p)
			env.CPU = 3 - env.CPU // another CPU: the tables are global
			if d2 := b.Process(&env, &p); d2 != d {
				t.Fatalf("same packet, same state: %+v then %+v for %+v", d, d2, p)
			}
			testutil.CheckDecision(t, &p, d)
			if d.Action == balancer.Forward && !up[d.Backend] {
				t.Fatalf("forwarded %+v to %d, not an up backend of the set", p, d.Backend)
			}
			// A packet goes to a backend of its family; with services,
			// one that names its service goes to that service's pool.
			if d.Action == balancer.Forward && (d.Backend > 200) != p.Dst.Is6() {
				t.Fatalf("forwarded %+v to %d, of the other family", p, d.Backend)
			}
			if services && d.Action == balancer.Forward && p.HasPorts() {
				for _, s := range fuzzServices(bs) {
					if s.Key == (balancer.ServiceKey{VIP: p.Dst, Port: p.DstPort, Proto: p.Proto}) &&
						!slices.ContainsFunc(s.Backends, func(be balancer.Backend) bool { return be.ID == d.Backend }) {
						t.Fatalf("forwarded %+v to %d, outside its service's pool", p, d.Backend)
					}
				}
			}
			if services && d.Action == balancer.Forward && p.HasPorts() && !slices.ContainsFunc(fuzzServices(bs), func(s balancer.Service) bool {
				return s.Key == balancer.ServiceKey{VIP: p.Dst, Port: p.DstPort, Proto: p.Proto}
			}) {
				t.Fatalf("forwarded %+v, to no service", p)
			}
			// A set of the fragment table may evict while the table as a
			// whole has room (four ways a set): an evicted datagram's
			// later fragments are orphans and may rightly go elsewhere.
			if ev := a.Stats().Frag.Evictions; ev != evictions {
				evictions = ev
				clear(placed)
			}
			if p.IsFragment() && d.Action == balancer.Forward {
				k := frag.MakeKey(p.Src, p.Dst, p.Proto, p.IPID)
				if p.Dst.Is6() {
					k = frag.MakeKey6(p.Src, p.Dst, p.Proto, p.FragID)
				}
				b, ok := placed[k]
				switch {
				case a.Stats().Frag.Hits == before.Frag.Hits || !ok: // a new entry, or the first sighting since placed was cleared
					placed[k] = d.Backend
				case a.Stats().FragRepicks != before.FragRepicks:
					// The entry's backend has left this fragment's pool
					// since it was written (a first fragment finding an
					// orphan's entry from before a switch to services):
					// the re-pick moves the datagram.
					placed[k] = d.Backend
				case b != d.Backend:
					t.Fatalf("fragment %+v of a datagram placed on %d went to %d", p, b, d.Backend)
				}
			}
			st := a.Stats()
			if st.Credit < 0 || st.Credit > int64(cfg.OrphanCredits) {
				t.Fatalf("orphan credit %d outside [0, %d]", st.Credit, cfg.OrphanCredits)
			}
			// Each table holds whole sets of frag.Ways entries, one
			// table per family.
			if st.Len.Conn > 2*frag.SetCount(conns)*frag.Ways || st.Len.Frag > 2*cfg.FragTableSize || st.Len.Hint > 2*frag.SetCount(hints)*frag.Ways {
				t.Fatalf("tables beyond their bounds: %+v", st.Len)
			}
			if st.Packets != st.Forwarded+st.Passed+st.DroppedTotal() {
				t.Fatalf("packets %d != forwarded %d + passed %d + dropped %d", st.Packets, st.Forwarded, st.Passed, st.DroppedTotal())
			}
		}
	})
}
