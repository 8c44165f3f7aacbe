package cilium

import (
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

// FuzzFragMap drives the model in both modes with random packets over a
// few clients and IP IDs, and random backend health changes. After every
// packet it checks: the decision is one of the three actions (a drop with
// a reason), a Forward names a backend that is in the set and up (the
// agent deletes down backends from the backends map), every LRU stays
// within its bound, a non-first fragment is forwarded only if a first
// fragment of its datagram (same addresses, protocol and IP ID) was
// forwarded before (the fragment map is the only place its ports can come
// from), and the drop counters add up. Each 4-byte group is one packet; a
// group whose first byte is 0xff toggles a backend's health instead.
func FuzzFragMap(f *testing.F) {
	f.Add(uint8(0), []byte{17, 0x01, 0, 0, 17, 0x09, 0, 1, 17, 0x11, 0, 2})
	f.Add(uint8(1), []byte{17, 0x11, 0, 0, 17, 0x01, 0, 1, 0xff, 0, 0, 0, 6, 0x01, 0x02, 2})
	f.Fuzz(func(t *testing.T, mode uint8, ops []byte) {
		cfg := Config{
			Mode: Mode(mode % 2), MaglevTableSize: 13, FragMapSize: 4,
			CTMapSizeTCP: 4, CTMapSizeAny: 4, NATMapSize: 8, NeighMapSize: 2,
		}
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		bs := testutil.SetBackends(t, b, func(*balancer.Backend) {})
		type fk struct {
			src   byte
			proto uint8
			id    uint16
		}
		firsts := map[fk]bool{}
		for len(ops) >= 4 {
			d := ops[:4]
			ops = ops[4:]
			if d[0] == 0xff {
				i := int(d[1] % 3)
				testutil.SetHealth(t, b, bs, i, !bs[i].Up)
				continue
			}
			p := balancer.Packet{
				Src: netip.AddrFrom4([4]byte{10, 0, 0, d[3] & 3}), Dst: testutil.VIP,
				Proto: d[0], SrcPort: 1000 + uint16(d[3]>>2&3), DstPort: 443,
				MoreFragments: d[1]&1 != 0, FragOffset: uint16(d[1]>>3&3) * 64,
				IPID: uint16(d[1] >> 5), Len: 100, TCPFlags: d[2],
			}
			if !p.HasPorts() {
				p.SrcPort, p.DstPort = 0, 0
			}
			dec := b.Process(&balancer.Env{CPU: int(d[2] & 3)}, &p)
			k := fk{d[3] & 3, p.Proto, p.IPID}
			testutil.CheckDecision(t, &p, dec)
			if dec.Action == balancer.Forward {
				if _, ok := b.backend.Get(dec.Backend); !ok || !upInTable(b, dec.Backend) {
					t.Fatalf("forwarded %+v to %d, not an up backend", p, dec.Backend)
				}
				if p.IsFirstFragment() {
					firsts[k] = true
				}
				if p.FragOffset != 0 && !firsts[k] {
					t.Fatalf("forwarded non-first fragment %+v whose first fragment never passed", p)
				}
			}
			for name, l := range map[string][2]int{
				"frag": {b.v4.frag.Len(), b.v4.frag.Cap()}, "ct tcp": {b.v4.ctTCP.Len(), b.v4.ctTCP.Cap()},
				"ct any": {b.v4.ctAny.Len(), b.v4.ctAny.Cap()}, "nat": {b.v4.nat.Len(), b.v4.nat.Cap()},
				"neigh": {b.v4.neigh.Len(), b.v4.neigh.Cap()},
			} {
				if l[0] > l[1] {
					t.Fatalf("%s map holds %d, bound %d", name, l[0], l[1])
				}
			}
			if b.FragMapLen() != b.v4.frag.Len() {
				t.Fatalf("FragMapLen %d, map %d", b.FragMapLen(), b.v4.frag.Len())
			}
		}
		s := b.Stats()
		if s.Packets != s.Forwarded+s.Passed+s.DropMalformed+s.DropFragNotFound+s.DropNoBackend+s.DropNATNoMapping {
			t.Fatalf("counters do not add up to the packets: %+v", s)
		}
	})
}

func TestCTMapLen(t *testing.T) {
	b := newTest(t, Config{CTMapSizeTCP: 4, CTMapSizeAny: 3})
	for i := range 10 {
		p := balancer.Packet{Src: testutil.Client, Dst: testutil.VIP, Proto: balancer.ProtoUDP, SrcPort: uint16(1000 + i), DstPort: 53}
		if i%2 == 0 {
			p.Proto, p.TCPFlags = balancer.ProtoTCP, balancer.TCPSyn
		}
		b.Process(&balancer.Env{}, &p)
	}
	// 5 TCP and 5 UDP flows into maps of 4 and 3 entries.
	if got := b.CTMapLen(); got != 4+3 {
		t.Errorf("CTMapLen %d, want 7", got)
	}
}

// upInTable reports whether the services list backend id as up.
func upInTable(b *Balancer, id balancer.BackendID) bool {
	be, ok := b.table.Backend(id)
	return ok && be.Up
}
