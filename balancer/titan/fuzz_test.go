package titan_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/testutil"
)

// fuzzOp decodes one 6-byte operation of FuzzTables: a packet drawn from
// small domains (2 clients, 3 protocols, 4 source ports, 4 IP IDs, 4
// offsets) so that keys collide often, or, when the first byte's top bits
// are all set, a toggle of one backend's health.
func fuzzOp(d []byte) (p balancer.Packet, toggle int, step time.Duration) {
	if d[0]&0xe0 == 0xe0 {
		return p, int(d[1] % 3), 0
	}
	p = balancer.Packet{
		Src:           netip.AddrFrom4([4]byte{10, 0, 0, 1 + d[0]&1}),
		Dst:           testutil.VIP,
		Proto:         [...]uint8{balancer.ProtoTCP, balancer.ProtoUDP, balancer.ProtoICMP, 47}[d[0]>>1&3],
		SrcPort:       1000 + uint16(d[1]&3),
		DstPort:       443,
		IPID:          uint16(d[2] & 3),
		FragOffset:    [...]uint16{0, 0, 185, 370}[d[2]>>2&3],
		MoreFragments: d[2]&0x10 != 0,
		Len:           uint16(d[3])<<3 + 20,
		TCPFlags:      d[4],
	}
	if !p.HasPorts() {
		p.SrcPort, p.DstPort = 0, 0
	}
	return p, -1, time.Duration(d[5]) * time.Millisecond
}

// FuzzTables drives two Balancers with the same random operations and
// checks, after every packet, the invariants the package doc promises:
// decisions are one of the three actions (a drop with a reason), a Forward
// names a backend that is in the set and up, the three tables stay within
// their bounds, the counters add up, the two balancers decide identically
// (no hidden state, no randomness), while no backend changes and no
// entry is evicted every forwarded fragment that finds its datagram's
// entry goes to the backend the entry's writer chose, and the orphan
// credit stays within its bound. The first argument picks the orphan
// policy and the admission policy.
func FuzzTables(f *testing.F) {
	f.Add(uint8(0), []byte{0, 1, 0x10, 40, 0, 1, 0, 1, 0x08, 40, 0, 1, 0, 1, 0x0c, 10, 0, 1})
	f.Add(uint8(1), []byte{2, 1, 0x08, 40, 0, 1, 2, 3, 0x10, 40, 2, 1, 0xff, 1, 0, 0, 0, 0, 2, 1, 0x0c, 9, 0, 1})
	f.Add(uint8(2), []byte{1, 0, 0x1c, 40, 0, 0, 1, 0, 0x10, 40, 2, 0, 1, 2, 0x10, 40, 2, 0})
	f.Fuzz(func(t *testing.T, policy uint8, ops []byte) {
		const conns, hints = 4, 2
		cfg := titan.Config{
			RingSize: 13, ConnTableSize: conns, FragTableSize: 256, HintTableSize: hints,
			FragTimeout: 100 * time.Millisecond, OrphanPolicy: titan.OrphanPolicy(policy % 3),
			OrphanAdmission: titan.OrphanAdmission(policy / 3 % 3), OrphanCredits: 2,
		}
		a, b := newLB(t, cfg), newLB(t, cfg)
		bs := testutil.Backends(3)
		up := map[balancer.BackendID]bool{101: true, 102: true, 103: true}
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
				bs[toggle].Up = !bs[toggle].Up
				up[bs[toggle].ID] = bs[toggle].Up
				for _, lb := range []*titan.Balancer{a, b} {
					if err := lb.SetBackends(bs); err != nil {
						t.Fatal(err)
					}
				}
				clear(placed) // a re-pick may move a datagram whose backend went down
				continue
			}
			now += step
			env := balancer.Env{Now: now, CPU: int(p.IPID)}
			hits := a.Stats().Frag.Hits
			d := a.Process(&env, &p)
			env.CPU = 3 - env.CPU // another CPU: the tables are global
			if d2 := b.Process(&env, &p); d2 != d {
				t.Fatalf("same packet, same state: %+v then %+v for %+v", d, d2, p)
			}
			testutil.CheckDecision(t, &p, d)
			if d.Action == balancer.Forward && !up[d.Backend] {
				t.Fatalf("forwarded %+v to %d, not an up backend of the set", p, d.Backend)
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
				b, ok := placed[k]
				switch {
				case a.Stats().Frag.Hits == hits || !ok: // a new entry, or the first sighting since placed was cleared
					placed[k] = d.Backend
				case b != d.Backend:
					t.Fatalf("fragment %+v of a datagram placed on %d went to %d", p, b, d.Backend)
				}
			}
			st := a.Stats()
			if st.Credit < 0 || st.Credit > int64(cfg.OrphanCredits) {
				t.Fatalf("orphan credit %d outside [0, %d]", st.Credit, cfg.OrphanCredits)
			}
			// Each table holds whole sets of frag.Ways entries.
			if st.Len.Conn > frag.SetCount(conns)*frag.Ways || st.Len.Frag > cfg.FragTableSize || st.Len.Hint > frag.SetCount(hints)*frag.Ways {
				t.Fatalf("tables beyond their bounds: %+v", st.Len)
			}
			if st.Packets != st.Forwarded+st.Passed+st.DroppedTotal() {
				t.Fatalf("packets %d != forwarded %d + passed %d + dropped %d", st.Packets, st.Forwarded, st.Passed, st.DroppedTotal())
			}
		}
	})
}
