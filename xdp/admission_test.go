package xdp

import (
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/testutil"
)

// TestAdmissionParity runs the orphan-credit walk of balancer/titan's
// TestAdmitEarned through the kernel program (via NewBalancer) and the Go
// model side by side with a credit of 2: unknown orphans spend it and are
// then refused, orphans of a known host pass, new flows earn credit back
// up to the bound. Every decision, drop reasons included, must agree, and
// the kernel's counter must count the refusals.
func TestAdmissionParity(t *testing.T) {
	for _, adm := range []titan.OrphanAdmission{titan.AdmitEarned, titan.AdmitAll} {
		t.Run(adm.String(), func(t *testing.T) {
			cfg := titan.Config{OrphanCredits: 2, OrphanAdmission: adm}
			p := mustLoad(t, Options{Config: cfg})
			k := NewBalancer(p)
			g, err := titan.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			bs := testutil.Backends(3)
			for _, lb := range []balancer.Balancer{k, g} {
				if err := lb.SetBackends(bs); err != nil {
					t.Fatal(err)
				}
			}
			host := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
			orphan := func(h, id int) balancer.Packet {
				return balancer.Packet{Src: host(h), Dst: testVIP, Proto: balancer.ProtoUDP, IPID: uint16(id), FragOffset: 185, MoreFragments: true, Len: 1500}
			}
			flow := func(h int) balancer.Packet {
				return balancer.Packet{Src: host(h), Dst: testVIP, Proto: balancer.ProtoUDP, SrcPort: 5000, DstPort: 53, Len: 100}
			}
			trace := []balancer.Packet{orphan(1, 1), orphan(2, 2), orphan(3, 3), orphan(4, 4), flow(7), orphan(7, 5), orphan(7, 6), orphan(5, 7), orphan(6, 8)}
			for i := range 5 {
				trace = append(trace, flow(20+i))
			}
			trace = append(trace, orphan(8, 9), orphan(9, 10), orphan(10, 11))
			refused := 0
			for i, pk := range trace {
				want := g.Process(&balancer.Env{}, &pk)
				got := k.Process(&balancer.Env{}, &pk)
				if got != want {
					t.Fatalf("packet %d %+v: kernel %+v, Go %+v", i, pk, got, want)
				}
				if got.Action == balancer.Drop {
					refused++
				}
			}
			s, err := p.Stats()
			if err != nil {
				t.Fatal(err)
			}
			// Earned: orphans 3, 4 (credit spent), 6 (one earned credit
			// used by 5), 10 (two credits after five flows, used by 8
			// and 9) are refused.
			want := 0
			if adm == titan.AdmitEarned {
				want = 4
			}
			if refused != want || s.DropUnknownOrphan != uint64(want) || g.Stats().UnknownOrphans != uint64(want) {
				t.Errorf("refused %d (kernel counter %d, Go %d), want %d", refused, s.DropUnknownOrphan, g.Stats().UnknownOrphans, want)
			}
		})
	}
}
