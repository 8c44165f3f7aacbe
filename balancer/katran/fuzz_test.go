package katran

import (
	"net/netip"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

// FuzzBounds drives the model with random packets from a few clients, on
// CPUs with and without their own LRU, and random backend health changes.
// After every packet it checks: the decision is one of the three actions
// (a drop with a reason), a Forward names a backend Katran knows (its reals
// array keeps removed ones, so up or not), every LRU stays within its
// bound, a fragment is dropped unless the model is naive, and, while the
// backend set does not change, a flow first seen under that set always
// reaches the same backend whatever CPU runs it and whatever the LRUs
// evicted (Maglev is consistent; a flow seen before a change may still be
// pinned to its old backend in one CPU's LRU and not in another's). Each 5-byte group is one packet; a group whose first byte
// is 0xff toggles a backend's health instead.
func FuzzBounds(f *testing.F) {
	f.Add(false, []byte{6, 1, 0, 0x02, 0, 6, 1, 0, 0x10, 1, 17, 2, 1, 0, 2})
	f.Add(true, []byte{17, 1, 0x01, 0, 0, 17, 1, 0x21, 0, 1, 0xff, 1, 0, 0, 0, 17, 1, 0x02, 0, 2})
	f.Fuzz(func(t *testing.T, naive bool, ops []byte) {
		const cpus, lru = 2, 4 // 2 entries per CPU
		b, err := New(Config{CPUs: cpus, LRUSize: lru, Naive: naive, RingSize: 13})
		if err != nil {
			t.Fatal(err)
		}
		bs := testutil.SetBackends(t, b, func(*balancer.Backend) {})
		known := map[balancer.BackendID]bool{101: true, 102: true, 103: true}
		type flow struct {
			src   byte
			proto uint8
			sport uint16
		}
		owner := map[flow]balancer.BackendID{}
		// stale are the flows seen before the last health change: a CPU's
		// LRU may still hold their old backend, as upstream Katran's do
		// across a ring change, while another CPU asks the new ring.
		stale, seen := map[flow]bool{}, map[flow]bool{}
		var now time.Duration
		for len(ops) >= 5 {
			d := ops[:5]
			ops = ops[5:]
			if d[0] == 0xff {
				i := int(d[1] % 3)
				testutil.SetHealth(t, b, bs, i, !bs[i].Up)
				clear(owner)
				for k := range seen {
					stale[k] = true
				}
				continue
			}
			p := balancer.Packet{
				Src: netip.AddrFrom4([4]byte{10, 0, 0, d[1] & 7}), Dst: testutil.VIP,
				Proto: d[0], SrcPort: 1000 + uint16(d[2]&1), DstPort: 443,
				IPID: uint16(d[2] >> 1 & 3), FragOffset: uint16(d[2]>>3&3) * 64, MoreFragments: d[2]&0x20 != 0,
				Len: 60 + uint16(d[2]>>6)*600, TCPFlags: d[3], IHL: 5 + d[1]>>7,
			}
			if !p.HasPorts() {
				p.SrcPort, p.DstPort = 0, 0
			}
			now += time.Duration(d[4]) * time.Second
			dec := b.Process(&balancer.Env{Now: now, CPU: int(d[4] % (cpus + 1))}, &p) // CPU 2 has no LRU
			testutil.CheckDecision(t, &p, dec)
			if dec.Action == balancer.Forward {
				if !known[dec.Backend] {
					t.Fatalf("forwarded %+v to unknown backend %d", p, dec.Backend)
				}
				if p.IsFragment() && !naive {
					t.Fatalf("forwarded fragment %+v", p)
				}
				k := flow{d[1] & 7, p.Proto, p.SrcPort}
				seen[k] = true
				if !p.IsFragment() && bs[0].Up && bs[1].Up && bs[2].Up && !stale[k] {
					if o, ok := owner[k]; ok && o != dec.Backend {
						t.Fatalf("flow %+v moved from %d to %d with no backend change", k, o, dec.Backend)
					}
					owner[k] = dec.Backend
				}
			}
			for i := range b.cpus {
				if l := b.cpus[i].lru; l.Len() > l.Cap() {
					t.Fatalf("cpu %d LRU holds %d, bound %d", i, l.Len(), l.Cap())
				}
			}
			if l := b.fallback.lru; l.Len() > l.Cap() {
				t.Fatalf("fallback LRU holds %d, bound %d", l.Len(), l.Cap())
			}
		}
		s := b.Stats()
		drops := s.DropMalformed + s.DropFragment + s.DropIPOptions + s.DropTooBig + s.DropNoBackend
		if s.Packets != s.Forwarded+s.Passed+drops {
			t.Fatalf("packets %d != forwarded %d + passed %d + dropped %d", s.Packets, s.Forwarded, s.Passed, drops)
		}
	})
}

func TestLRULen(t *testing.T) {
	b := newTest(t, Config{CPUs: 2, LRUSize: 4})
	for i := range 10 {
		p := balancer.Packet{Src: testutil.Client, Dst: testutil.VIP, Proto: balancer.ProtoUDP, SrcPort: uint16(1000 + i), DstPort: 53}
		b.Process(&balancer.Env{CPU: i % 3}, &p) // CPU 2 uses the fallback LRU
	}
	// CPUs 0 and 1 hold 2 entries each (full); the fallback LRU got 3.
	if got := b.LRULen(); got != 2+2+3 {
		t.Errorf("LRULen %d, want 7", got)
	}
}
