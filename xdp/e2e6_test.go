package xdp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
)

// e2eServices6 are the IPv6 end-to-end test's services: two on one VIP,
// port 9000 served by backends 1 and 2, port 9001 by backends 2 and 3.
func e2eServices6(bs []balancer.Backend) []balancer.Service {
	key := func(port uint16) balancer.ServiceKey {
		return balancer.ServiceKey{VIP: e2eVIP6, Port: port, Proto: balancer.ProtoUDP}
	}
	return []balancer.Service{
		{Key: key(e2ePort), Backends: bs[0:2]},
		{Key: key(e2ePort + 1), Backends: bs[1:3]},
	}
}

// e2eSplit6 builds the UDP datagram carrying payload from sport to
// VIP6:dport (checksum over the whole datagram and the IPv6
// pseudo-header, as a sending kernel computes it) and cuts it into IPv6
// fragments of at most mtu bytes with Identification id, each behind opts
// Destination Options headers (8 bytes, PadN) and a Fragment header, in
// offset order, as Ethernet frames from src to dst (MACs).
func e2eSplit6(payload []byte, sport, dport uint16, id uint32, opts, mtu int, src, dst net.HardwareAddr) []e2eFragment {
	udp := e2eUDP(payload, sport, dport, e2eClientAddr6, e2eVIP6)
	s, d := e2eClientAddr6.As16(), e2eVIP6.As16()

	ext := 8 * (opts + 1)
	per := (mtu - balancer.IPv6Len - ext) &^ 7
	var frags []e2eFragment
	for off := 0; off < len(udp); off += per {
		end := min(off+per, len(udp))
		f := make([]byte, balancer.EthLen+balancer.IPv6Len+ext+end-off)
		copy(f[0:6], dst)
		copy(f[6:12], src)
		f[12], f[13] = 0x86, 0xdd
		ip := f[balancer.EthLen:]
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(ext+end-off))
		ip[7] = 64
		copy(ip[8:24], s[:])
		copy(ip[24:40], d[:])
		next := &ip[6]
		h := ip[balancer.IPv6Len:]
		for range opts {
			*next = balancer.ProtoDestOpts
			h[1], h[2], h[3] = 0, 1, 4 // 8 bytes: a PadN of 4
			next, h = &h[0], h[8:]
		}
		*next = balancer.ProtoFragment
		h[0] = balancer.ProtoUDP
		fo := uint16(off/8) << 3
		if end < len(udp) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(h[2:], fo)
		binary.BigEndian.PutUint32(h[4:], id)
		copy(h[8:], udp[off:end])
		pk, err := balancer.Decode(f)
		if err != nil {
			panic(err) // a bug of this function
		}
		frags = append(frags, e2eFragment{pk, f})
	}
	return frags
}

// e2ePacketSocket opens an AF_PACKET socket on the client's interface, to
// send hand-built IPv6 fragments in an order of the test's choosing, and
// returns it with the address to send to and the MACs to write.
func (tp *e2eTopology) e2ePacketSocket(t *testing.T) (int, *unix.SockaddrLinklayer, net.HardwareAddr, net.HardwareAddr) {
	t.Helper()
	src, index, err := tp.client.ns.Interface(tp.client.ifc)
	if err != nil {
		t.Fatal(err)
	}
	dst, _, err := tp.gw.Interface("c0")
	if err != nil {
		t.Fatal(err)
	}
	proto := uint16(unix.ETH_P_IPV6>>8 | unix.ETH_P_IPV6&0xff<<8) // network order
	fd := -1
	err = tp.client.ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		return err
	})
	if err != nil {
		t.Fatalf("packet socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	to := &unix.SockaddrLinklayer{Ifindex: index, Protocol: proto, Halen: 6}
	copy(to.Addr[:], dst)
	return fd, to, src, dst
}

// TestEndToEndIPv6 runs UDP datagrams larger than the client's MTU over
// IPv6 through the Titan program, serving two services on one VIP with two
// pools (port 9000: backends 1 and 2; port 9001: backends 2 and 3), to
// backends that strip the IPv6-in-IPv6 header with Decap and reassemble
// the datagrams in their own kernels: first datagrams fragmented by the
// client's kernel, in order; then datagrams cut by the test behind 0 to 2
// Destination Options headers, a flow's second datagram sent with its
// fragments out of order (last first, middle first, reversed). Every datagram must arrive whole, once,
// on its service's port, at the backend the Go model (balancer/titan with
// the same services, fed the same packets) decides.
func TestEndToEndIPv6(t *testing.T) {
	tp := e2eBuild(t, e2eConfig{backends: 3, v6: true, services: e2eServices6})
	model, err := titan.New(titan.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := model.SetServices(e2eServices6(tp.bset)); err != nil {
		t.Fatal(err)
	}
	const flows = 12
	total := 2 * flows * e2ePerFlow
	rx := tp.e2eListen(t, total)
	sent := map[[2]int]e2eSent{}

	// 1. The client's kernel fragments, in order: its first fragments
	// pick by the flow, as a whole packet of the flow does in the model.
	var clients []*net.UDPConn
	err = tp.client.ns.Do(func() error {
		for f := range flows {
			c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eClientAddr6, uint16(e2eFirstPort+f))))
			if err != nil {
				return err
			}
			clients = append(clients, c)
		}
		return nil
	})
	for _, c := range clients {
		t.Cleanup(func() { c.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	lbBefore, err := tp.prog.Stats()
	if err != nil {
		t.Fatal(err)
	}
	kernelFrags := 0
	for seq := range e2ePerFlow {
		for f, c := range clients {
			port := uint16(e2ePort + f%2)
			pk := balancer.Packet{Src: e2eClientAddr6, Dst: e2eVIP6, Proto: balancer.ProtoUDP, SrcPort: uint16(e2eFirstPort + f), DstPort: port}
			d := model.Process(nil, &pk)
			if d.Action != balancer.Forward {
				t.Fatalf("model: flow %d: %v %s", f, d.Action, d.Reason)
			}
			size := e2eSize(f, seq)
			if _, err := c.WriteToUDPAddrPort(e2eDatagram(f, seq, size), netip.AddrPortFrom(e2eVIP6, port)); err != nil {
				t.Fatalf("flow %d datagram %d: %v", f, seq, err)
			}
			n := (size + balancer.UDPLen + (e2eClientMTU-balancer.IPv6Len-8)&^7 - 1) / ((e2eClientMTU - balancer.IPv6Len - 8) &^ 7)
			kernelFrags += n
			sent[[2]int{f, seq}] = e2eSent{flow: f, seq: seq, frags: n, want: int(d.Backend) - 101, checkWant: true, port: port}
			time.Sleep(time.Millisecond)
		}
	}
	csnmp, err := e2eSNMP6(tp.client.ns)
	if err != nil {
		t.Fatal(err)
	}
	if csnmp["FragOKs"] != uint64(flows*e2ePerFlow) || csnmp["FragCreates"] != uint64(kernelFrags) {
		t.Errorf("client: FragOKs %d FragCreates %d, want %d and %d", csnmp["FragOKs"], csnmp["FragCreates"], flows*e2ePerFlow, kernelFrags)
	}

	// 2. Fragments out of order behind extension headers; the model sees
	// exactly the packets the program does, in the same order.
	fd, to, src, dst := tp.e2ePacketSocket(t)
	orders := [][]int{{0, 1, 2}, {2, 0, 1}, {1, 0, 2}, {2, 1, 0}}
	var rawFrags, orphans uint64
	ms0 := model.Stats()
	lbMid, err := tp.prog.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// Each flow's first datagram in order, then its second out of order.
	// The two services share backend 2: an orphan goes there (its hint
	// when that names backend 2, else the shared pool's ring), in either
	// service's pool, and its first fragment follows it
	// (docs/services-and-ipv6.md).
	for k := range flows {
		for seq := range e2ePerFlow {
			f := 100 + k
			port := uint16(e2ePort + k%2)
			frags := e2eSplit6(e2eDatagram(f, seq, e2eSize(f, seq)), uint16(e2eFirstPort+f), port, 0x7a000000+uint32(seq*flows+k), k%3, e2eClientMTU, src, dst)
			if len(frags) != 3 {
				t.Fatalf("datagram split into %d fragments, want 3", len(frags))
			}
			order := orders[0]
			if seq > 0 {
				order = orders[1+k%3]
			}
			want, orphan := e2eSendOrdered(t, model, fd, to, frags, order, f, seq)
			if orphan {
				orphans++
			}
			rawFrags += uint64(len(frags))
			sent[[2]int{f, seq}] = e2eSent{flow: f, seq: seq, frags: len(frags), want: want, checkWant: true, port: port}
			time.Sleep(time.Millisecond)
		}
	}
	got := rx.wait(e2eRecvTimeout)
	datagrams, frags := tp.e2eCheck(t, sent, got)
	tp.e2eCheckBackends(t, datagrams, frags)
	// The service decides the pool: port 9000 never reaches backend 3,
	// port 9001 never backend 1.
	for _, g := range got {
		if g.port == e2ePort && g.backend == 2 || g.port == e2ePort+1 && g.backend == 0 {
			t.Errorf("a datagram to port %d reached backend %d, outside its service's pool", g.port, g.backend+1)
		}
	}
	ms := model.Stats()
	t.Logf("model: %+v", ms)
	tp.e2eCheckLB(t, lbMid, e2eModelCounters(ms0, ms, rawFrags, orphans))
	after, err := tp.prog.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if fw := after.Forwarded - lbBefore.Forwarded; fw != uint64(kernelFrags)+rawFrags {
		t.Errorf("lb forwarded %d, want the %d fragments sent", fw, uint64(kernelFrags)+rawFrags)
	}
	t.Logf("%d datagrams (%d kernel-made fragments, %d hand-made, %d datagrams led by an orphan); per backend %v datagrams",
		total, kernelFrags, rawFrags, orphans, datagrams)
}
