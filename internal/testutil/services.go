package testutil

import (
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
)

// IPv6 addresses of the IPv6 packet builders and of [Services].
var (
	Client6 = client6 // the one client of TCP6, UDP6 and the IPv6 fragments
	VIP6    = vip6    // every IPv6 builder's destination
)

// TCP6 returns a 80-byte TCP segment [Client6]:sport -> [VIP6]:443 with
// the given flags.
func TCP6(sport uint16, flags uint8) balancer.Packet {
	return balancer.Packet{Src: Client6, Dst: VIP6, Proto: balancer.ProtoTCP, SrcPort: sport, DstPort: 443, Len: 80, TCPFlags: flags}
}

// UDP6 returns a 1000-byte UDP datagram [Client6]:sport -> [VIP6]:53.
func UDP6(sport uint16) balancer.Packet {
	return balancer.Packet{Src: Client6, Dst: VIP6, Proto: balancer.ProtoUDP, SrcPort: sport, DstPort: 53, Len: 1000}
}

// Fragments6 returns the first and the last fragment of the IPv6 UDP
// datagram id from sport ([UDP6]'s flow), as an IPv6 host fragments it
// for an MTU of 1280: a Fragment header (the one extension header) in
// each, 1232 bytes of the fragmentable part in the first, 600 in the last
// at offset 154 (1232 / 8).
func Fragments6(sport uint16, id uint32) (first, last balancer.Packet) {
	first = balancer.Packet{Src: Client6, Dst: VIP6, Proto: balancer.ProtoUDP, SrcPort: sport, DstPort: 53,
		FragID: id, MoreFragments: true, ExtHeaders: 1, Len: 1280}
	last = balancer.Packet{Src: Client6, Dst: VIP6, Proto: balancer.ProtoUDP,
		FragID: id, FragOffset: 154, ExtHeaders: 1, Len: 40 + 8 + 600}
	return first, last
}

// Atomic6 returns [UDP6](sport) as an atomic fragment (RFC 6946): a
// Fragment header with offset 0 and M clear, Identification id.
func Atomic6(sport uint16, id uint32) balancer.Packet {
	p := UDP6(sport)
	p.FragID, p.ExtHeaders = id, 1
	return p
}

// Backends6 returns n IPv6 backends with IDs 201.. at 2001:db8:1::1..,
// all up, weight 1.
func Backends6(n int) []balancer.Backend {
	bs := make([]balancer.Backend, n)
	for i := range bs {
		id := balancer.BackendID(201 + i)
		bs[i] = balancer.Backend{ID: id, Name: id.String(), Addr: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(1 + i)}), Weight: 1, Up: true}
	}
	return bs
}

// ReadyDual returns lb, made by a constructor that returned err, after
// handing it [Backends](3) and [Backends6](2): a catch-all per family. It
// fails tb when err or SetBackends is not nil.
func ReadyDual[B balancer.Balancer](tb testing.TB, lb B, err error) B {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	if err := lb.SetBackends(append(Backends(3), Backends6(2)...)); err != nil {
		tb.Fatal(err)
	}
	return lb
}

// ReadyServices returns lb, made by a constructor that returned err,
// serving [Services]; it fails tb when err or SetServices is not nil.
func ReadyServices[B ServiceBalancer](tb testing.TB, lb B, err error) B {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	if err := lb.SetServices(Services(func(int, *balancer.Backend) {})); err != nil {
		tb.Fatal(err)
	}
	return lb
}

// ServiceBalancer is a balancer that serves services.
type ServiceBalancer interface {
	balancer.Balancer
	balancer.ServiceSetter
}

// Services returns the service set of [CheckServices]: on [VIP], TCP 80
// served by 101 and 102, TCP 443 by 102 and 103 (102 serves both), UDP
// 53 by 104; on [VIP6], TCP 443 by 201 and 202. f changes each backend
// listing (service index, backend).
func Services(f func(svc int, b *balancer.Backend)) []balancer.Service {
	v4 := Backends(4)
	v6 := Backends6(2)
	ss := []balancer.Service{
		{Key: balancer.ServiceKey{VIP: VIP, Port: 80, Proto: balancer.ProtoTCP}, Backends: []balancer.Backend{v4[0], v4[1]}},
		{Key: balancer.ServiceKey{VIP: VIP, Port: 443, Proto: balancer.ProtoTCP}, Backends: []balancer.Backend{v4[1], v4[2]}},
		{Key: balancer.ServiceKey{VIP: VIP, Port: 53, Proto: balancer.ProtoUDP}, Backends: []balancer.Backend{v4[3]}},
		{Key: balancer.ServiceKey{VIP: VIP6, Port: 443, Proto: balancer.ProtoTCP}, Backends: v6},
	}
	for i := range ss {
		for j := range ss[i].Backends {
			f(i, &ss[i].Backends[j])
		}
	}
	return ss
}

// CheckServices holds a [ServiceBalancer] to the contract of
// [balancer.ServiceSetter] on new flows (a new source port each), which
// every model decides alike whatever it tracks: lb is made by mk with
// no backends. With [Services]: each service's flows go to its own pool
// only, every member of it in use; a packet to a port, protocol or
// address that is no service, or ICMP to the VIP, is passed. A backend
// two services share going down leaves both, and a weight 0 in one
// service leaves that service only. A refused call (a duplicate key)
// leaves the previous set. SetBackends then restores the catch-all.
func CheckServices(t *testing.T, mk func() ServiceBalancer) {
	t.Helper()
	lb := mk()
	set := func(f func(svc int, b *balancer.Backend)) []balancer.Service {
		t.Helper()
		ss := Services(f)
		if err := lb.SetServices(ss); err != nil {
			t.Fatal(err)
		}
		return ss
	}
	sport := uint16(20000)
	// flows sends n new flows to the service and returns the backends
	// they went to (forwarded) with their counts; it fails t on another
	// action.
	flows := func(s balancer.Service, n int) map[balancer.BackendID]int {
		t.Helper()
		got := map[balancer.BackendID]int{}
		for range n {
			sport++
			p := balancer.Packet{Src: ClientN(int(sport)), Dst: s.Key.VIP, Proto: s.Key.Proto, SrcPort: sport, DstPort: s.Key.Port, Len: 100, TCPFlags: balancer.TCPSyn}
			if s.Key.VIP.Is6() {
				p.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 14: byte(sport >> 8), 15: byte(sport)})
			}
			if s.Key.Proto == balancer.ProtoUDP {
				p.TCPFlags = 0
			}
			d := lb.Process(&balancer.Env{}, &p)
			if d.Action != balancer.Forward {
				t.Fatalf("%s: new flow to %v: %+v, want forward", lb.Name(), s.Key, d)
			}
			got[d.Backend]++
		}
		return got
	}
	// want fails t unless the flows went exactly to the backends ids.
	want := func(what string, s balancer.Service, got map[balancer.BackendID]int, ids ...balancer.BackendID) {
		t.Helper()
		if len(got) != len(ids) {
			t.Errorf("%s: %s: flows to %v went to %v, want each of %v", lb.Name(), what, s.Key, got, ids)
			return
		}
		for _, id := range ids {
			if got[id] == 0 {
				t.Errorf("%s: %s: flows to %v went to %v, want each of %v", lb.Name(), what, s.Key, got, ids)
				return
			}
		}
	}
	ss := set(func(int, *balancer.Backend) {})
	want("two pools", ss[0], flows(ss[0], 200), 101, 102)
	want("two pools", ss[1], flows(ss[1], 200), 102, 103)
	want("one backend", ss[2], flows(ss[2], 20), 104)
	want("IPv6", ss[3], flows(ss[3], 200), 201, 202)

	for _, p := range []Named{
		{"a port that is no service", balancer.Packet{Src: Client, Dst: VIP, Proto: balancer.ProtoTCP, SrcPort: 1, DstPort: 8080, Len: 100, TCPFlags: balancer.TCPSyn}},
		{"UDP to a TCP service's port", balancer.Packet{Src: Client, Dst: VIP, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 80, Len: 100}},
		{"another address", balancer.Packet{Src: Client, Dst: netip.MustParseAddr("203.0.113.9"), Proto: balancer.ProtoTCP, SrcPort: 1, DstPort: 80, Len: 100, TCPFlags: balancer.TCPSyn}},
		{"ICMP to the VIP", balancer.Packet{Src: Client, Dst: VIP, Proto: balancer.ProtoICMP, Len: 84}},
		{"ICMPv6 to the IPv6 VIP", balancer.Packet{Src: Client6, Dst: VIP6, Proto: balancer.ProtoICMPv6, Len: 104}},
		{"IPv6 to an IPv4 service's port", balancer.Packet{Src: Client6, Dst: VIP6, Proto: balancer.ProtoUDP, SrcPort: 1, DstPort: 53, Len: 100}},
	} {
		if d := lb.Process(&balancer.Env{}, &p.P); d.Action != balancer.Pass {
			t.Errorf("%s: %s: %+v, want pass", lb.Name(), p.Name, d)
		}
	}

	// 102, shared, goes down: both services leave it.
	ss = set(func(_ int, b *balancer.Backend) { b.Up = b.ID != 102 })
	want("102 down", ss[0], flows(ss[0], 100), 101)
	want("102 down", ss[1], flows(ss[1], 100), 103)

	// 102 drained in the port-80 service only.
	ss = set(func(svc int, b *balancer.Backend) {
		if svc == 0 && b.ID == 102 {
			b.Weight = 0
		}
	})
	want("102 weight 0 on port 80", ss[0], flows(ss[0], 100), 101)
	want("102 weight 1 on port 443", ss[1], flows(ss[1], 200), 102, 103)

	// A refused call keeps the set: 102 still drained on port 80.
	bad := Services(func(int, *balancer.Backend) {})
	bad = append(bad, bad[0])
	if err := lb.SetServices(bad); err == nil {
		t.Errorf("%s: SetServices with a duplicate key succeeded", lb.Name())
	}
	want("after a refused call", ss[0], flows(ss[0], 100), 101)

	// SetBackends: the catch-all again, every port of every VIP.
	if err := lb.SetBackends(Backends(3)); err != nil {
		t.Fatal(err)
	}
	catchAll := balancer.Service{Key: balancer.ServiceKey{VIP: VIP, Port: 8080, Proto: balancer.ProtoTCP}}
	want("catch-all", catchAll, flows(catchAll, 200), 101, 102, 103)
}

// FuzzServices drives lb with the operations encoded in in: service sets
// and backend sets drawn from a fixed universe (IDs 101 to 104 IPv4, 201
// to 203 IPv6, each ID one server; keys on [VIP], 198.51.100.2, [VIP6]
// and 2001:db8:100::2, ports 80, 443 or 0, protocols TCP, UDP or ICMP,
// ring sizes 0, 13, 12 or 2, so that some calls are refused), and packets
// of either family to those addresses with free header fields (extension
// headers, fragment fields, lengths, malformed values included). It checks
// every decision with [CheckDecision] and that a forward goes to a
// backend of the universe of the packet's family, then calls check when
// not nil.
func FuzzServices(tb testing.TB, lb ServiceBalancer, in []byte, check func(p *balancer.Packet, d balancer.Decision)) {
	tb.Helper()
	next := func() byte {
		if len(in) == 0 {
			return 0
		}
		b := in[0]
		in = in[1:]
		return b
	}
	v4, v6 := Backends(4), Backends6(3)
	vips := [4]netip.Addr{VIP, netip.MustParseAddr("198.51.100.2"), VIP6, netip.MustParseAddr("2001:db8:100::2")}
	pool := func(six bool, members byte) []balancer.Backend {
		var bs []balancer.Backend
		u := v4
		if six {
			u = v6
		}
		for i, b := range u {
			if members&(1<<i) != 0 {
				b.Weight = 1 - uint32(members>>5&1) // 0 drains
				b.Up = members&0x10 == 0 || i != 0
				bs = append(bs, b)
			}
		}
		return bs
	}
	for ops := 0; len(in) > 0 && ops < 64; ops++ {
		switch ctl := next(); ctl % 4 {
		case 0:
			var ss []balancer.Service
			for range int(ctl>>2) % 4 {
				h := next()
				vip := vips[h&3]
				ss = append(ss, balancer.Service{
					Key:      balancer.ServiceKey{VIP: vip, Port: [4]uint16{80, 443, 0, 80}[h>>2&3], Proto: [4]uint8{balancer.ProtoTCP, balancer.ProtoUDP, balancer.ProtoICMP, balancer.ProtoTCP}[h>>4&3]},
					Backends: pool(vip.Is6() != (h&0x80 != 0 && h&0x40 != 0), next()),
					RingSize: [4]uint64{0, 13, 12, 2}[h>>6&3],
				})
			}
			_ = lb.SetServices(ss) // refused calls are part of the input
		case 1:
			m := next()
			_ = lb.SetBackends(append(pool(false, m&0x3f), pool(true, m>>3&0x37)...))
		default:
			h, f, l := next(), next(), next()
			dst := vips[h&3]
			src := ClientN(int(f & 7))
			if dst.Is6() {
				src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: f & 7})
			}
			if h&0x80 != 0 { // the other family: malformed
				src = ClientN(1)
				if !dst.Is6() {
					src = Client6
				}
			}
			p := balancer.Packet{
				Src: src, Dst: dst, Proto: [8]uint8{6, 17, 6, 17, 1, 58, 59, 60}[h>>2&7],
				SrcPort: 1000 + uint16(f>>3&3), DstPort: [4]uint16{80, 443, 53, 0}[h>>5&3],
				FragOffset: uint16(f>>5&3) * 77, MoreFragments: l&1 != 0, Len: uint16(l>>1) * 12,
				TCPFlags: ctl >> 2,
			}
			if dst.Is6() {
				p.ExtHeaders = l >> 5 % 6
				p.FragID = uint32(ctl >> 4)
			} else {
				p.IPID = uint16(ctl >> 4)
				p.IHL = [4]uint8{0, 5, 6, 4}[l>>5&3]
			}
			if !p.HasPorts() && h&0x40 == 0 {
				p.SrcPort, p.DstPort = 0, 0
			}
			d := lb.Process(&balancer.Env{CPU: int(f & 3)}, &p)
			CheckDecision(tb, &p, d)
			if d.Action == balancer.Forward {
				six := d.Backend >= 201 && d.Backend <= 203
				if !six && (d.Backend < 101 || d.Backend > 104) || six != p.Dst.Is6() {
					tb.Fatalf("%s forwarded %+v to backend %d: not of the packet's family", lb.Name(), p, d.Backend)
				}
			}
			if check != nil {
				check(&p, d)
			}
		}
	}
}
