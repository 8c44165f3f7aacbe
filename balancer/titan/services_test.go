package titan_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
)

var (
	vip6     = netip.MustParseAddr("2001:db8::10")
	client6  = netip.MustParseAddr("2001:db8:1::7")
	backend6 = func(id balancer.BackendID, last byte) balancer.Backend {
		return balancer.Backend{ID: id, Name: id.String(), Addr: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 2, 15: last}), Weight: 1, Up: true}
	}
)

// key is a service key on the test VIP.
func key(port uint16, proto uint8) balancer.ServiceKey {
	return balancer.ServiceKey{VIP: testutil.VIP, Port: port, Proto: proto}
}

// TestServices checks how a packet finds its service and which backends
// its flow may stay on: the service of its (destination, port, protocol)
// with that service's pool and ring; a packet to no service, ICMP
// included, passed; a backend usable by a service's flows while it is Up
// and in that service's pool, weight 0 keeping them.
func TestServices(t *testing.T) {
	b := newLB(t, titan.Config{})
	bs := testutil.Backends(4)
	web, dns := key(443, balancer.ProtoTCP), key(53, balancer.ProtoUDP)
	set := func(ss ...balancer.Service) {
		t.Helper()
		if err := b.SetServices(ss); err != nil {
			t.Fatal(err)
		}
	}
	set(balancer.Service{Key: web, Backends: bs[0:2]}, balancer.Service{Key: dns, Backends: bs[2:4]})
	in := func(id balancer.BackendID, pool ...balancer.Backend) bool {
		for _, p := range pool {
			if p.ID == id {
				return true
			}
		}
		return false
	}
	webFlows := map[uint16]balancer.BackendID{}
	for port := uint16(1000); port < 1100; port++ {
		w := testutil.Whole(testutil.ClientN(1), balancer.ProtoTCP, port)
		w.DstPort = 443
		id := forwardTo(t, process(b, 0, w))
		if !in(id, bs[0:2]...) {
			t.Fatalf("web flow to %d, outside its pool", id)
		}
		webFlows[port] = id
		d := testutil.Whole(testutil.ClientN(1), balancer.ProtoUDP, port)
		d.DstPort = 53
		if id := forwardTo(t, process(b, 0, d)); !in(id, bs[2:4]...) {
			t.Fatalf("dns flow to %d, outside its pool", id)
		}
	}
	// No service: another port, ICMP, an IPv6 packet.
	for _, p := range []balancer.Packet{
		func() balancer.Packet {
			p := testutil.Whole(testutil.ClientN(1), balancer.ProtoTCP, 1)
			p.DstPort = 80
			return p
		}(),
		{Src: testutil.ClientN(1), Dst: testutil.VIP, Proto: balancer.ProtoICMP},
		{Src: client6, Dst: vip6, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 53},
	} {
		m := cost.NewMeter(cost.Default())
		if d := b.Process(&balancer.Env{Meter: m}, &p); d.Action != balancer.Pass {
			t.Errorf("%+v: %+v, want pass", p, d)
		}
		// Only a TCP or UDP packet of a family with services costs a
		// services lookup.
		want := uint64(1)
		if p.Proto == balancer.ProtoTCP {
			want = 2
		}
		if got := m.Count(cost.OpArrayRead) + m.Count(cost.OpMapRead); got != want {
			t.Errorf("%+v: %d reads, want %d", p, got, want)
		}
	}
	// Backend 101 drained in web (weight 0): its flows stay; 102 removed
	// from web: its flows re-pick, onto 101? No: 101 takes no new flow,
	// so onto 103, which joins web.
	drained := bs[0]
	drained.Weight = 0
	set(balancer.Service{Key: web, Backends: []balancer.Backend{drained, bs[2]}}, balancer.Service{Key: dns, Backends: bs[2:4]})
	for port, was := range webFlows {
		w := testutil.Whole(testutil.ClientN(1), balancer.ProtoTCP, port)
		w.DstPort = 443
		id := forwardTo(t, process(b, 0, w))
		switch {
		case was == 101 && id != 101:
			t.Errorf("flow %d on drained 101 moved to %d", port, id)
		case was == 102 && id != 103:
			t.Errorf("flow %d of 102, which left the pool, went to %d, want 103", port, id)
		}
	}
	// A backend down is down in every service.
	down := bs[2]
	down.Up = false
	set(balancer.Service{Key: web, Backends: []balancer.Backend{drained, down}}, balancer.Service{Key: dns, Backends: []balancer.Backend{down, bs[3]}})
	for port := uint16(1000); port < 1100; port++ {
		d := testutil.Whole(testutil.ClientN(1), balancer.ProtoUDP, port)
		d.DstPort = 53
		if id := forwardTo(t, process(b, 0, d)); id != 104 {
			t.Fatalf("dns flow to %d with 103 down", id)
		}
	}
}

// TestServicesErrors: a refused set names the field and leaves the
// previous set in effect.
func TestServicesErrors(t *testing.T) {
	b := newLB(t, titan.Config{})
	bs := testutil.Backends(2)
	if err := b.SetServices([]balancer.Service{{Key: key(53, balancer.ProtoUDP), Backends: bs}}); err != nil {
		t.Fatal(err)
	}
	err := b.SetServices([]balancer.Service{{Key: key(53, balancer.ProtoUDP), Backends: []balancer.Backend{bs[0], backend6(120, 2)}}})
	if !errors.Is(err, balancer.ErrFamily) || !strings.Contains(err.Error(), "titan: services[0].backends[1].Addr 2001:db8:2::2") {
		t.Errorf("mixed family: %v", err)
	}
	p := testutil.Whole(testutil.ClientN(1), balancer.ProtoUDP, 9)
	p.DstPort = 53
	if d := process(b, 0, p); d.Action != balancer.Forward {
		t.Errorf("after a refused set: %+v", d)
	}
}

// TestIPv6 checks the IPv6 catch-all beside the IPv4 one, IPv6 fragments
// tracked like IPv4 ones (a reordered datagram kept whole behind
// extension headers), and an atomic fragment taken as a whole packet.
func TestIPv6(t *testing.T) {
	b := newLB(t, titan.Config{})
	if d := process(b, 0, balancer.Packet{Src: client6, Dst: vip6, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 53}); d.Action != balancer.Pass {
		t.Errorf("IPv6 before any backend: %+v, want pass", d)
	}
	b6 := []balancer.Backend{backend6(201, 1), backend6(202, 2), backend6(203, 3)}
	if err := b.SetBackends(append(testutil.Backends(2), b6...)); err != nil {
		t.Fatal(err)
	}
	for src := range byte(50) {
		c := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: src})
		base := balancer.Packet{Src: c, Dst: vip6, Proto: balancer.ProtoUDP, SrcPort: 4000, DstPort: 53, FragID: 0x10000 + uint32(src), ExtHeaders: 2}
		first, mid, last := base, base, base
		first.MoreFragments, first.Len = true, 1280
		mid.MoreFragments, mid.FragOffset, mid.SrcPort, mid.DstPort, mid.Len = true, 152, 0, 0, 1280
		last.FragOffset, last.SrcPort, last.DstPort, last.Len = 304, 0, 0, 600
		ids := map[balancer.BackendID]bool{}
		for _, p := range []balancer.Packet{last, first, mid} { // the last fragment first: an orphan
			id := forwardTo(t, process(b, 0, p))
			ids[id] = true
			if id < 201 {
				t.Fatalf("IPv6 fragment to IPv4 backend %d", id)
			}
		}
		if len(ids) != 1 {
			t.Fatalf("datagram of %v split across %v", c, ids)
		}
		// An atomic fragment (Fragment header, offset 0, M clear) goes
		// by its flow, as a whole packet does, and leaves the fragment
		// table alone.
		atomic := base
		atomic.Len = 200
		whole := atomic
		whole.FragID, whole.ExtHeaders = 0, 0
		if a, w := forwardTo(t, process(b, 0, atomic)), forwardTo(t, process(b, 0, whole)); a != w {
			t.Fatalf("atomic fragment to %d, its flow to %d", a, w)
		}
	}
	if st := b.Stats(); st.Orphans != 50 || st.Fragments != 150 || st.Dropped[balancer.ReasonMalformed] != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestTwoServiceVIP measures what an orphan does when its VIP has two
// services of its protocol with different pools: UDP port 4789 served by
// backends 101 and 102, UDP port 5000 by 103 and 104, each with its own
// traffic (2,000 flows, 25,000 datagrams/s for 1 s, half of the datagrams
// fragmented, a fifth of those reordered so that a non-first fragment
// arrives first), against the same two services on two VIPs, and with
// pools that share backends (101-103 and 102-104). A client host has
// flows to both services, so its host-pair hint names the backend of its
// latest new flow, of either service. docs/services-and-ipv6.md quotes the
// figures (go test -run TestTwoServiceVIP -v prints them).
//
// What it found, and asserts: on their own VIPs every datagram stays
// whole; sharing a VIP with pools that share nothing, the lower port's
// service (the orphans' fallback ring) keeps every datagram whole under
// the 3-tuple hash, and the other loses the reordered datagrams whose
// orphan guessed outside its pool (the first fragment re-picks from its
// flow and the datagram is split); with pools that share backends, the
// orphans go to those and both services keep every datagram whole.
func TestTwoServiceVIP(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: twelve simulations")
	}
	bs := testutil.Backends(4)
	other := netip.MustParseAddr("192.0.2.11")
	sc := func(sameVIP, shared bool, clients int) sim.Scenario {
		vipB := testutil.VIP
		if !sameVIP {
			vipB = other
		}
		poolA, poolB := bs[0:2], bs[2:4]
		if shared {
			poolA, poolB = bs[0:3], bs[1:4]
		}
		tr := sim.Traffic{Flows: 2000, Clients: clients, Rate: 25_000, FragmentRate: 0.5, Reorder: 0.2}
		return sim.Scenario{
			Seed:     3,
			Duration: time.Second,
			Services: []sim.ServiceTraffic{
				{Service: balancer.Service{Key: key(4789, balancer.ProtoUDP), Backends: poolA}, Traffic: tr},
				{Service: balancer.Service{Key: balancer.ServiceKey{VIP: vipB, Port: 5000, Proto: balancer.ProtoUDP}, Backends: poolB}, Traffic: tr},
			},
		}
	}
	type row struct {
		sameVIP, shared bool
		clients         int
		policy          titan.OrphanPolicy
	}
	res := map[row][2]sim.ServiceResult{}
	for _, clients := range []int{0, 500} {
		for _, layout := range []struct{ same, shared bool }{{false, false}, {true, false}, {true, true}} {
			same, shared := layout.same, layout.shared
			for _, pol := range []titan.OrphanPolicy{titan.OrphanHostHint, titan.OrphanHash3} {
				r, err := sim.Run(sc(same, shared, clients), func() (balancer.Balancer, error) {
					return titan.New(titan.Config{OrphanPolicy: pol, OrphanAdmission: titan.AdmitAll})
				})
				if err != nil {
					t.Fatal(err)
				}
				var pair [2]sim.ServiceResult
				for _, s := range r.Services {
					pair[s.Index] = s
				}
				res[row{same, shared, clients, pol}] = pair
				name := "two VIPs        "
				switch {
				case same && shared:
					name = "one VIP, sharing"
				case same:
					name = "one VIP         "
				}
				for i, s := range pair {
					t.Logf("%s clients %4d %-8s port %d: reliability %.5f fragment accuracy %.5f affinity %.5f (%d datagrams, %d fragments)",
						name, clients, pol, []int{4789, 5000}[i], s.Reliability, s.FragmentAccuracy, s.Affinity, s.Datagrams, s.Fragments)
				}
			}
		}
	}
	for r, pair := range res {
		if !r.sameVIP || r.shared {
			for i, s := range pair {
				if s.Reliability != 1 {
					t.Errorf("%+v service %d: reliability %v, want 1", r, i, s.Reliability)
				}
			}
			continue
		}
		if r.policy == titan.OrphanHash3 && pair[0].Reliability != 1 {
			t.Errorf("%+v: the fallback service's reliability %v, want 1", r, pair[0].Reliability)
		}
		if pair[1].Reliability >= 1 {
			t.Errorf("%+v: the other service kept every datagram whole: orphans guessing outside its pool are not measured", r)
		}
	}
}

// TestOrphanServices: one orphans' service per (VIP, protocol) of several
// services whose pools share backends, with the lowest port's key, ring
// size and weights; none for a lone service, another protocol or another
// VIP, or pools that share nothing.
func TestOrphanServices(t *testing.T) {
	bs := testutil.Backends(4)
	drained := bs[2]
	drained.Weight = 0
	other := netip.MustParseAddr("192.0.2.99")
	ss := []balancer.Service{
		{Key: key(5000, balancer.ProtoUDP), Backends: []balancer.Backend{bs[1], bs[2], bs[3]}},
		{Key: key(53, balancer.ProtoUDP), Backends: []balancer.Backend{bs[0], bs[1], drained}, RingSize: 13},
		{Key: key(53, balancer.ProtoTCP), Backends: bs[0:1]},                                                                     // another protocol
		{Key: balancer.ServiceKey{VIP: other, Port: 1, Proto: balancer.ProtoUDP}, Backends: bs[0:1]},                             // another VIP
		{Key: balancer.ServiceKey{VIP: other, Port: 2, Proto: balancer.ProtoUDP}, Backends: bs[1:2]},                             // shares nothing with port 1
		{Key: balancer.ServiceKey{VIP: vip6, Port: 9, Proto: balancer.ProtoUDP}, Backends: []balancer.Backend{backend6(201, 1)}}, // alone
	}
	got := titan.OrphanServices(ss)
	if len(got) != 1 {
		t.Fatalf("%d orphans' services: %+v", len(got), got)
	}
	o := got[0]
	if o.Key != key(53, balancer.ProtoUDP) || o.RingSize != 13 || len(o.Backends) != 2 ||
		o.Backends[0].ID != 102 || o.Backends[1] != drained {
		t.Errorf("orphans' service %+v, want port 53's key and ring size, backends 102 and 103 with port 53's weights", o)
	}
}
