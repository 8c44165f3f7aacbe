package balancer

import (
	"net/netip"
	"slices"
	"testing"
)

func packetTo(dst netip.Addr, port uint16, proto uint8) Packet {
	src := netip.MustParseAddr("10.0.0.1")
	if dst.Is6() {
		src = netip.MustParseAddr("2001:db8:ff::1")
	}
	return Packet{Src: src, Dst: dst, Proto: proto, SrcPort: 40000, DstPort: port}
}

// TestServiceTableCatchAll checks SetBackends: an all-IPv4 set is one
// catch-all whose ring is NewRing's of the whole set, serving every IPv4
// packet; IPv6 packets resolve to nothing until IPv6 backends come.
func TestServiceTableCatchAll(t *testing.T) {
	st := NewServiceTable(251)
	bs := pool(101, 5, false)
	bs[3].Up = false
	if err := st.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	want, err := NewRing(bs, 251)
	if err != nil {
		t.Fatal(err)
	}
	if !st.CatchAll() || st.Len() != 1 {
		t.Fatalf("CatchAll %v, Len %d, want true, 1", st.CatchAll(), st.Len())
	}
	e := st.Services()[0]
	if !slices.Equal(e.Ring.Slots, want.Slots) || !e.CatchAll || e.Key != (ServiceKey{VIP: netip.IPv4Unspecified()}) {
		t.Fatalf("catch-all %v: ring differs from NewRing's of the same set", e.Key)
	}
	for _, p := range []Packet{
		packetTo(vip4, 80, ProtoTCP),
		packetTo(netip.MustParseAddr("198.51.100.7"), 9, ProtoUDP),
		packetTo(vip4, 0, ProtoICMP),
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: vip4, Proto: ProtoUDP, FragOffset: 100},
	} {
		if got, ok := st.Lookup(&p); !ok || got != e {
			t.Errorf("Lookup(%v:%d/%d) = %v, %v; want the IPv4 catch-all", p.Dst, p.DstPort, p.Proto, got, ok)
		}
	}
	p6 := packetTo(vip6, 80, ProtoTCP)
	if _, ok := st.Lookup(&p6); ok {
		t.Error("an IPv6 packet resolved with IPv4 backends only")
	}
	if _, ok := st.Lookup(&Packet{}); ok {
		t.Error("the zero packet resolved")
	}
	if !e.Usable(101) || e.Usable(104) || e.Usable(999) {
		t.Errorf("Usable(101, 104 down, 999 absent) = %v %v %v", e.Usable(101), e.Usable(104), e.Usable(999))
	}

	// Both families: a catch-all each, each ring of its family only.
	mixed := append(pool(201, 3, true), bs...)
	if err := st.SetBackends(mixed); err != nil {
		t.Fatal(err)
	}
	s := st.Services()
	if len(s) != 2 || s[0].Key.VIP != netip.IPv4Unspecified() || s[1].Key.VIP != netip.IPv6Unspecified() || s[0].Index != 0 || s[1].Index != 1 {
		t.Fatalf("catch-alls %v %v", s[0].Key, s[1].Key)
	}
	if !slices.Equal(s[0].Ring.Slots, want.Slots) {
		t.Error("adding IPv6 backends moved the IPv4 ring")
	}
	if got, ok := st.Lookup(&p6); !ok || got != s[1] {
		t.Fatalf("IPv6 packet resolved to %v, %v", got, ok)
	}
	for _, id := range s[1].Ring.Slots {
		if id < 201 || id > 203 {
			t.Fatalf("IPv6 catch-all ring names backend %d", id)
		}
	}
	if b, ok := st.Backend(202); !ok || b.Addr != mixed[1].Addr || b.Weight != 0 {
		t.Errorf("Backend(202) = %+v, %v", b, ok)
	}
}

// TestServiceTableServices checks SetServices: exact resolution, Pass for
// what is no service, the lowest-port fallback, per-service membership
// and weights, and that a refused call leaves the previous set.
func TestServiceTableServices(t *testing.T) {
	st := NewServiceTable(251)
	web := pool(101, 3, false)
	dns := pool(102, 3, false) // 102, 103 shared with web; 104 its own
	dns[0].Weight = 0          // 102 drained in dns only
	ss := []Service{
		{Key: ServiceKey{vip4, 443, ProtoTCP}, Backends: web},
		{Key: ServiceKey{vip4, 53, ProtoUDP}, Backends: dns, RingSize: 13},
		{Key: ServiceKey{vip4, 80, ProtoTCP}, Backends: web[:1]},
		{Key: ServiceKey{vip6, 443, ProtoTCP}, Backends: pool(201, 2, true)},
	}
	if err := st.SetServices(ss); err != nil {
		t.Fatal(err)
	}
	if st.CatchAll() || st.Len() != 4 {
		t.Fatalf("CatchAll %v, Len %d", st.CatchAll(), st.Len())
	}
	es := st.Services()
	for i, e := range es {
		if e.Index != i || e.Key != ss[i].Key || e.CatchAll {
			t.Errorf("Services()[%d] = %v index %d", i, e.Key, e.Index)
		}
		p := packetTo(e.Key.VIP, e.Key.Port, e.Key.Proto)
		if got, ok := st.Lookup(&p); !ok || got != e {
			t.Errorf("Lookup(%v) = %v, %v", e.Key, got, ok)
		}
		if got, ok := st.LookupKey(e.Key); !ok || got != e {
			t.Errorf("LookupKey(%v) = %v, %v", e.Key, got, ok)
		}
	}
	if len(es[1].Ring.Slots) != 13 || len(es[0].Ring.Slots) != 251 {
		t.Errorf("ring sizes %d, %d; want 251 (table default), 13 (service's)", len(es[0].Ring.Slots), len(es[1].Ring.Slots))
	}
	frag := packetTo(vip4, 443, ProtoTCP)
	frag.SrcPort, frag.DstPort, frag.FragOffset = 0, 0, 10
	forged := frag
	forged.DstPort = 443 // a non-first fragment has no ports, whatever the struct says
	for name, p := range map[string]Packet{
		"other port":         packetTo(vip4, 8080, ProtoTCP),
		"other protocol":     packetTo(vip4, 443, ProtoUDP),
		"other address":      packetTo(netip.MustParseAddr("192.0.2.11"), 443, ProtoTCP),
		"icmp":               packetTo(vip4, 0, ProtoICMP),
		"non-first fragment": frag,
		"forged ports":       forged,
		"v6 other port":      packetTo(vip6, 80, ProtoTCP),
	} {
		if e, ok := st.Lookup(&p); ok {
			t.Errorf("%s: resolved to %v", name, e.Key)
		}
	}
	if e, ok := st.Fallback(vip4, ProtoTCP); !ok || e != es[2] {
		t.Errorf("Fallback(vip, tcp) = %v, %v; want the port-80 service", e, ok)
	}
	if e, ok := st.Fallback(vip4, ProtoUDP); !ok || e != es[1] {
		t.Errorf("Fallback(vip, udp) = %v, %v", e, ok)
	}
	if _, ok := st.Fallback(vip6, ProtoUDP); ok {
		t.Error("Fallback found a UDP service on the IPv6 VIP")
	}
	if w, ok := es[1].Member(102); !ok || w != 0 || !es[1].Usable(102) {
		t.Errorf("drained 102 in dns: weight %d member %v usable %v", w, ok, es[1].Usable(102))
	}
	if w, ok := es[0].Member(102); !ok || w != 1 {
		t.Errorf("102 in web: weight %d member %v", w, ok)
	}
	if es[0].Usable(104) || es[2].Usable(102) {
		t.Error("a backend is usable in a service that does not list it")
	}
	for _, id := range es[1].Ring.Slots {
		if id == 102 {
			t.Fatal("the drained backend owns a slot of the dns ring")
		}
	}

	// A refused call leaves everything as it was.
	before := st.Services()
	bad := slices.Clone(ss)
	bad[3].Backends = pool(301, 1, false)
	if err := st.SetServices(bad); err == nil {
		t.Fatal("mixed-family service accepted")
	}
	if err := st.SetBackends(nil); err == nil {
		t.Fatal("empty backend set accepted")
	}
	if huge := []Service{{Key: ss[0].Key, Backends: web, RingSize: 0}}; NewServiceTable(2).SetServices(huge) == nil {
		t.Error("a default ring size too small for the pool accepted")
	}
	if st.CatchAll() || !slices.Equal(st.Services(), before) {
		t.Error("a refused call changed the table")
	}

	// SetBackends restores the catch-all.
	if err := st.SetBackends(web); err != nil || !st.CatchAll() {
		t.Fatalf("SetBackends after SetServices: %v", err)
	}
	if _, ok := st.Fallback(vip4, ProtoUDP); !ok {
		t.Error("no catch-all fallback")
	}
}

func TestServiceTableZero(t *testing.T) {
	var st ServiceTable
	p := packetTo(vip4, 80, ProtoTCP)
	if _, ok := st.Lookup(&p); ok {
		t.Error("the zero table resolved a packet")
	}
	if _, ok := st.Fallback(vip4, ProtoTCP); ok || st.Len() != 0 || st.CatchAll() {
		t.Error("the zero table is not empty")
	}
	if err := st.SetBackends(pool(101, 2, false)); err != nil {
		t.Fatal(err)
	}
	if e, ok := st.Lookup(&p); !ok || len(e.Ring.Slots) != 65537 {
		t.Error("the zero table's default ring size is not 65537")
	}
}

func TestServiceTableNoAlloc(t *testing.T) {
	st := NewServiceTable(251)
	if err := st.SetServices([]Service{
		{Key: ServiceKey{vip4, 80, ProtoTCP}, Backends: pool(101, 3, false)},
		{Key: ServiceKey{vip6, 80, ProtoTCP}, Backends: pool(201, 3, true)},
	}); err != nil {
		t.Fatal(err)
	}
	p4, p6 := packetTo(vip4, 80, ProtoTCP), packetTo(vip6, 80, ProtoTCP)
	k := ServiceKey{vip6, 80, ProtoTCP}
	var sink int
	n := testing.AllocsPerRun(1000, func() {
		e4, _ := st.Lookup(&p4)
		e6, _ := st.Lookup(&p6)
		f, _ := st.Fallback(vip4, ProtoTCP)
		g, _ := st.LookupKey(k)
		id, _ := e6.Pick(Hash5(&p6, 1))
		if e4.Usable(id) || f == g {
			sink++
		}
	})
	if n != 0 {
		t.Errorf("lookups allocate %v per run", n)
	}
}

// FuzzServiceTable applies fuzzed sequences of SetServices and
// SetBackends: an accepted set resolves each of its keys to its entry
// whose ring names only usable members of weight > 0; a refused one
// changes nothing; lookups never panic.
func FuzzServiceTable(f *testing.F) {
	// Two IPv4 services sharing backend 1, then a mixed catch-all.
	f.Add([]byte{0x02, 0x00, 80, 6, 2, 0x41, 0x42, 0x01, 53, 17, 1, 0x41, 0x82, 0x41, 0x53})
	// An IPv6 service, then a refused IPv4 one with an IPv6 backend.
	f.Add([]byte{0x01, 0x10, 1, 6, 2, 0x51, 0x52, 0x01, 0x40, 80, 6, 1, 0x41})
	f.Fuzz(func(t *testing.T, in []byte) {
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		st := NewServiceTable(13)
		sizes := []uint64{0, 7, 13, 12, 2}
		for op := 0; len(in) > 0 && op < 8; op++ {
			before := st.Services()
			wasCatchAll := st.CatchAll()
			var err error
			ctl := next()
			if ctl&0x80 != 0 { // SetBackends of a mixed set
				n := int(ctl & 7)
				var bs []Backend
				for range n {
					b := next()
					bs = append(bs, Backend{ID: BackendID(b & 15), Addr: fuzzAddr(b&0x10 != 0, b&15), Weight: uint32(b >> 6), Up: b&0x20 == 0})
				}
				err = st.SetBackends(bs)
			} else {
				var ss []Service
				for range int(ctl & 3) {
					hdr := next()
					s := Service{
						Key:      ServiceKey{VIP: fuzzAddr(hdr&0x10 != 0, hdr&1), Port: uint16(next()), Proto: next()},
						RingSize: sizes[int(hdr>>5)%len(sizes)],
					}
					for range int(next() & 3) {
						b := next()
						s.Backends = append(s.Backends, Backend{ID: BackendID(b & 15), Addr: fuzzAddr(b&0x10 != 0 != (hdr&0x40 != 0), b&15), Weight: uint32(b >> 6), Up: b&0x20 == 0})
					}
					ss = append(ss, s)
				}
				err = st.SetServices(ss)
				if err == nil {
					for i, s := range ss {
						p := packetTo(s.Key.VIP, s.Key.Port, s.Key.Proto)
						if e, ok := st.Lookup(&p); !ok || e.Index != i {
							t.Fatalf("services[%d] %v does not resolve to itself", i, s.Key)
						}
					}
				}
			}
			if err != nil {
				if st.CatchAll() != wasCatchAll || !slices.Equal(st.Services(), before) {
					t.Fatalf("refused call (%v) changed the table", err)
				}
				continue
			}
			for _, e := range st.Services() {
				for _, id := range e.Ring.Slots {
					if id == RingNone {
						continue
					}
					if w, ok := e.Member(BackendID(id)); !ok || w == 0 || !e.Usable(BackendID(id)) {
						t.Fatalf("%v: ring names %d (member %v, weight %d)", e.Key, id, ok, w)
					}
				}
			}
			for _, a := range []netip.Addr{fuzzAddr(false, 0), fuzzAddr(true, 1), {}} {
				p := packetTo(a, uint16(op), ProtoTCP)
				st.Lookup(&p)
				st.Fallback(a, ProtoUDP)
			}
		}
	})
}

// fuzzAddr returns one of a few IPv4 or IPv6 addresses.
func fuzzAddr(v6 bool, i byte) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: i + 1})
	}
	return netip.AddrFrom4([4]byte{10, 0, 0, i + 1})
}
