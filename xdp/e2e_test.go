package xdp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/netns"
	"github.com/titanlb/titanlb/internal/testutil"
)

// The end-to-end topology (see the Decap documentation for the picture).
// Every address lives on veths inside the test's namespaces only.
var (
	e2eVIP        = netip.MustParseAddr("10.77.100.1")
	e2eClientAddr = netip.MustParseAddr("10.77.1.2")
	e2eGwClient   = netip.MustParseAddr("10.77.1.1")
	e2eLBAddr     = netip.MustParseAddr("10.77.0.2")
	e2eGwLB       = netip.MustParseAddr("10.77.0.1")
)

const (
	e2ePort        = 9000 // the service port on the VIP
	e2eFlows       = 25   // client sockets (5-tuples)
	e2ePerFlow     = 2    // datagrams per flow: the second one finds its flow in the connection table
	e2eClientMTU   = 1500 // client link: the client's kernel fragments
	e2eBackendMTU  = 9000 // links behind the router: headroom for the outer header
	e2eFirstPort   = 41000
	e2eRecvTimeout = 10 * time.Second
)

// e2eBackendAddr is backend i's (0-based) address; the router's end of its
// link is .1 of the same /24.
func e2eBackendAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 77, byte(10 + i), 2}) }
func e2eGwBackend(i int) netip.Addr   { return netip.AddrFrom4([4]byte{10, 77, byte(10 + i), 1}) }

// e2eNode is one namespace and the interface it uses.
type e2eNode struct {
	ns   *netns.NS
	ifc  string
	addr netip.Addr
}

// e2eTopology is a built topology: the client, the router gw, the load
// balancer lb and the backends, with the programs attached.
type e2eTopology struct {
	client, lb e2eNode
	gw         *netns.NS
	backends   []e2eNode
	bset       []balancer.Backend
	prog       *Program
	decaps     []*Decap
	v6         bool // an IPv6 topology (e2eBuild's cfg.v6)
	vip        netip.Addr
	ports      []uint16 // the ports the backends listen on, at vip
}

// e2eConfig varies the topology between tests.
type e2eConfig struct {
	backends   int     // number of backends, IDs 101..
	backendMTU int     // MTU behind the router (0: e2eBackendMTU)
	opts       Options // the Titan program's (VIPs are set by e2eBuild; it attaches in generic mode)
	// v6 builds the topology over IPv6 (e2eVIP6, fd77::/16 addresses);
	// services, when set, gives the Titan program its services instead
	// of the backend set as a catch-all (IPv4: the VIP list as well).
	v6       bool
	services func(bs []balancer.Backend) []balancer.Service
}

// The IPv6 topology's addresses: fd77:<link>::1 the router's end, ::2 the
// other's; the VIP on every backend's loopback.
var (
	e2eVIP6        = netip.MustParseAddr("fd77:100::1")
	e2eClientAddr6 = netip.MustParseAddr("fd77:1::2")
	e2eGwClient6   = netip.MustParseAddr("fd77:1::1")
	e2eLBAddr6     = netip.MustParseAddr("fd77::2")
	e2eGwLB6       = netip.MustParseAddr("fd77::1")
)

func e2eBackendAddr6(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0x77, 0, byte(0x10 + i), 15: 2})
}

func e2eGwBackend6(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0x77, 0, byte(0x10 + i), 15: 1})
}

// e2eBuild creates the namespaces and links, loads the Titan program on
// lb (generic mode) and a Decap on each backend (generic mode too: veth
// refuses native XDP on an MTU of 9000, ERANGE, without multi-buffer
// support).
func e2eBuild(t *testing.T, cfg e2eConfig) *e2eTopology {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBPF(t)
	netns.Require(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tok := netns.Token()
	newNS := func(role string) *netns.NS {
		t.Helper()
		ns, err := netns.New(t, "titanlb-"+tok+"-"+role)
		must(err)
		// One family: the other off (IPv6) or unused (IPv4); no
		// router solicitations or DAD on the links; no reverse-path
		// filter (the router sees the VIP as a source).
		v6off := "1"
		if cfg.v6 {
			v6off = "0"
		}
		for _, kv := range [][2]string{
			{"net.ipv6.conf.all.disable_ipv6", v6off},
			{"net.ipv6.conf.default.disable_ipv6", v6off},
			{"net.ipv6.conf.all.accept_dad", "0"},
			{"net.ipv6.conf.default.accept_dad", "0"},
			{"net.ipv6.conf.default.router_solicitations", "0"},
			{"net.ipv4.conf.all.rp_filter", "0"},
			{"net.ipv4.conf.default.rp_filter", "0"},
		} {
			must(ns.Sysctl(kv[0], kv[1]))
		}
		return ns
	}
	tp := &e2eTopology{gw: newNS("gw"), v6: cfg.v6, vip: e2eVIP, ports: []uint16{e2ePort}}
	client, gwClient, lb, gwLB, fam, host := e2eClientAddr, e2eGwClient, e2eLBAddr, e2eGwLB, "-4", "/32"
	backendAddr, gwBackend := e2eBackendAddr, e2eGwBackend
	must(tp.gw.Sysctl("net.ipv4.ip_forward", "1"))
	if cfg.v6 {
		must(tp.gw.Sysctl("net.ipv6.conf.all.forwarding", "1"))
		tp.vip = e2eVIP6
		client, gwClient, lb, gwLB, fam, host = e2eClientAddr6, e2eGwClient6, e2eLBAddr6, e2eGwLB6, "-6", "/128"
		backendAddr, gwBackend = e2eBackendAddr6, e2eGwBackend6
	}
	tp.client = e2eNode{newNS("client"), "eth0", client}
	tp.lb = e2eNode{newNS("lb"), "eth0", lb}
	if err := netns.Link(tp.client.ns, "eth0", client, tp.gw, "c0", gwClient, e2eClientMTU, false); err != nil {
		t.Fatal(err)
	}
	if err := netns.Link(tp.lb.ns, "eth0", lb, tp.gw, "lb0", gwLB, e2eBackendMTU, true); err != nil {
		t.Fatal(err)
	}
	must(tp.gw.IP(fam, "route", "add", tp.vip.String()+host, "via", lb.String()))
	mtu := cfg.backendMTU
	if mtu == 0 {
		mtu = e2eBackendMTU
	}
	for i := range cfg.backends {
		b := e2eNode{newNS(fmt.Sprintf("b%d", i+1)), "eth0", backendAddr(i)}
		if err := netns.Link(b.ns, "eth0", b.addr, tp.gw, fmt.Sprintf("b%d", i+1), gwBackend(i), mtu, false); err != nil {
			t.Fatal(err)
		}
		must(b.ns.IP(fam, "addr", "add", tp.vip.String()+host, "dev", "lo"))
		tp.backends = append(tp.backends, b)
		id := balancer.BackendID(101 + i)
		tp.bset = append(tp.bset, balancer.Backend{ID: id, Name: id.String(), Addr: b.addr, Weight: 1, Up: true})
	}

	opts := cfg.opts
	if !cfg.v6 {
		opts.VIPs = []netip.Addr{e2eVIP} // the VIP list is IPv4's
	}
	tp.prog = mustLoad(t, opts)
	if cfg.services != nil {
		ss := cfg.services(tp.bset)
		tp.ports = nil
		for _, s := range ss {
			if !slices.Contains(tp.ports, s.Key.Port) {
				tp.ports = append(tp.ports, s.Key.Port)
			}
		}
		must(tp.prog.SetServices(ss))
	} else {
		must(tp.prog.SetBackends(tp.bset))
	}
	must(tp.lb.ns.Do(func() error {
		i, err := net.InterfaceByName(tp.lb.ifc)
		if err != nil {
			return err
		}
		l, err := tp.prog.Attach(i.Index, AttachGeneric)
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		return nil
	}))
	for _, b := range tp.backends {
		d, err := LoadDecap()
		must(err)
		t.Cleanup(func() { d.Close() })
		must(b.ns.Do(func() error {
			i, err := net.InterfaceByName(b.ifc)
			if err != nil {
				return err
			}
			l, err := d.Attach(i.Index, AttachGeneric)
			if err != nil {
				return err
			}
			t.Cleanup(func() { l.Close() })
			return nil
		}))
		tp.decaps = append(tp.decaps, d)
	}
	return tp
}

// e2eSNMP6 reads the Ip6 counters of /proc/net/snmp6 inside ns, without
// their "Ip6" prefix (ReasmOKs, FragCreates, ...), as e2eSNMP names
// IPv4's.
func e2eSNMP6(ns *netns.NS) (map[string]uint64, error) {
	out, err := ns.Exec("cat", "/proc/net/snmp6")
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || !strings.HasPrefix(f[0], "Ip6") {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("netns %s: /proc/net/snmp6 %s: %w", ns.Name(), f[0], err)
		}
		m[strings.TrimPrefix(f[0], "Ip6")] = v
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("netns %s: /proc/net/snmp6: no Ip6 counters", ns.Name())
	}
	return m, nil
}

// snmp reads ns's IP counters of the topology's family.
func (tp *e2eTopology) snmp(ns *netns.NS) (map[string]uint64, error) {
	if tp.v6 {
		return e2eSNMP6(ns)
	}
	return e2eSNMP(ns)
}

// e2eSNMP reads the Ip: counters of /proc/net/snmp inside ns.
func e2eSNMP(ns *netns.NS) (map[string]uint64, error) {
	out, err := ns.Exec("cat", "/proc/net/snmp")
	if err != nil {
		return nil, err
	}
	var names, values []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "Ip:" {
			continue
		}
		if names == nil {
			names = f[1:]
		} else {
			values = f[1:]
		}
	}
	if len(names) == 0 || len(names) != len(values) {
		return nil, fmt.Errorf("netns %s: /proc/net/snmp: no Ip: counters", ns.Name())
	}
	m := make(map[string]uint64, len(names))
	for i, n := range names {
		v, err := strconv.ParseUint(values[i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("netns %s: /proc/net/snmp Ip %s: %w", ns.Name(), n, err)
		}
		m[n] = v
	}
	return m, nil
}

// e2eDatagram is the payload of datagram seq of flow f: a header naming it
// and its length, then bytes that depend on all three, so a datagram put
// together from the wrong pieces fails the check.
func e2eDatagram(f, seq, size int) []byte {
	b := make([]byte, size)
	copy(b, "TLB1")
	binary.BigEndian.PutUint16(b[4:], uint16(f))
	binary.BigEndian.PutUint16(b[6:], uint16(seq))
	binary.BigEndian.PutUint16(b[8:], uint16(size))
	for i := 10; i < size; i++ {
		b[i] = byte(i*7 + f*31 + seq*13)
	}
	return b
}

// e2eSize is the size of datagram seq of flow f: 3000..4000 bytes, so
// every datagram becomes three fragments on a 1500-byte link.
func e2eSize(f, seq int) int { return 3000 + (f*97+seq*389)%1001 }

// e2eFragments is how many fragments an IPv4 link of MTU mtu cuts a UDP
// datagram of size payload bytes into (header without options).
func e2eFragments(payload, mtu int) int {
	per := (mtu - balancer.IPv4Len) &^ 7
	return (payload + balancer.UDPLen + per - 1) / per
}

// e2eReceived is one datagram a backend's socket returned.
type e2eReceived struct {
	backend int
	port    uint16 // the port it arrived on
	from    netip.AddrPort
	data    []byte
}

// e2eReceiver reads the backends' UDP sockets bound to VIP:port.
type e2eReceiver struct {
	conns []*net.UDPConn
	mu    sync.Mutex
	got   []e2eReceived
	want  int // stop waiting when this many arrived
	done  chan struct{}
	wg    sync.WaitGroup
}

// e2eListen opens a UDP socket on VIP:port, for each of the topology's
// ports, in every backend namespace and reads them until
// [e2eReceiver.wait].
func (tp *e2eTopology) e2eListen(t *testing.T, want int) *e2eReceiver {
	t.Helper()
	r := &e2eReceiver{want: want, done: make(chan struct{})}
	network := "udp4"
	if tp.v6 {
		network = "udp6"
	}
	var owner []int
	var ports []uint16
	for i, b := range tp.backends {
		for _, port := range tp.ports {
			err := b.ns.Do(func() error {
				c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(tp.vip, port)))
				if err != nil {
					return err
				}
				r.conns = append(r.conns, c)
				owner, ports = append(owner, i), append(ports, port)
				return c.SetReadBuffer(4 << 20)
			})
			if err != nil {
				t.Fatal(err)
			}
			c := r.conns[len(r.conns)-1]
			t.Cleanup(func() { c.Close() })
		}
	}
	for k, c := range r.conns {
		r.wg.Go(func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return // the deadline wait sets, or closed
				}
				r.mu.Lock()
				r.got = append(r.got, e2eReceived{owner[k], ports[k], from, bytes.Clone(buf[:n])})
				if len(r.got) == r.want {
					close(r.done)
				}
				r.mu.Unlock()
			}
		})
	}
	return r
}

// wait returns what arrived once want datagrams did, or after timeout.
func (r *e2eReceiver) wait(timeout time.Duration) []e2eReceived {
	select {
	case <-r.done:
	case <-time.After(timeout):
	}
	for _, c := range r.conns {
		_ = c.SetReadDeadline(time.Now())
	}
	r.wg.Wait()
	return r.got
}

// e2eKernelClients opens one UDP socket per flow in the client namespace,
// bound to port e2eFirstPort+f, with path MTU discovery off: the client's
// kernel clears DF and fragments what exceeds its MTU. e2eSend sends to
// VIP:port. The sockets are not connected: Linux gives a connected
// socket's datagrams IP IDs from a counter of its own that starts at
// random (ip_select_ident_segs in include/net/ip.h), so two flows' IDs may coincide (about 1 run in 70 with 25 flows
// of 2 datagrams), and two datagrams of one host pair with one IP ID are
// one key to the fragment table, as to any reassembler (RFC 4963): the
// second's first fragment is dropped as a conflict. An unconnected
// socket's IDs come from the host's counter for the address pair and
// protocol (__ip_select_ident in net/ipv4/route.c), which all flows
// share, so they differ.
func (tp *e2eTopology) e2eKernelClients(t *testing.T, flows int) []*net.UDPConn {
	t.Helper()
	var clients []*net.UDPConn
	err := tp.client.ns.Do(func() error {
		for f := range flows {
			c, err := net.ListenUDP("udp4",
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eClientAddr, uint16(e2eFirstPort+f))))
			if err != nil {
				return err
			}
			clients = append(clients, c)
			raw, err := c.SyscallConn()
			if err != nil {
				return err
			}
			var serr error
			if err := raw.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
			}); err != nil {
				return err
			}
			if serr != nil {
				return serr
			}
		}
		return nil
	})
	for _, c := range clients {
		t.Cleanup(func() { c.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	return clients
}

// e2eSend sends b from a socket of e2eKernelClients to VIP:port.
func e2eSend(c *net.UDPConn, b []byte) error {
	_, err := c.WriteToUDPAddrPort(b, netip.AddrPortFrom(e2eVIP, e2ePort))
	return err
}

// e2eRawSocket opens a raw IPv4 socket (IPPROTO_RAW: the caller writes
// the IPv4 header) in the client namespace, to send fragments in an order
// of the test's choosing.
func (tp *e2eTopology) e2eRawSocket(t *testing.T) int {
	t.Helper()
	fd := -1
	err := tp.client.ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		t.Fatalf("raw socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// e2eFragment is one IPv4 fragment the raw client sends: its header view
// (for the Go model) and its bytes from the IPv4 header on.
type e2eFragment struct {
	pkt balancer.Packet
	ip  []byte
}

// e2eSplit builds the UDP datagram carrying payload from sport to VIP:port
// (checksum over the whole datagram, as a sending kernel computes it) and
// cuts it into IPv4 fragments of at most mtu bytes with IP ID id, in
// offset order.
func e2eSplit(payload []byte, sport, id uint16, mtu int) []e2eFragment {
	udp := e2eUDP(payload, sport, e2ePort, e2eClientAddr, e2eVIP)
	src, dst := e2eClientAddr.As4(), e2eVIP.As4()
	per := (mtu - balancer.IPv4Len) &^ 7
	var frags []e2eFragment
	for off := 0; off < len(udp); off += per {
		end := min(off+per, len(udp))
		p := balancer.Packet{Src: e2eClientAddr, Dst: e2eVIP, Proto: balancer.ProtoUDP, IPID: id,
			FragOffset: uint16(off / 8), MoreFragments: end < len(udp), Len: uint16(balancer.IPv4Len + end - off)}
		if off == 0 {
			p.SrcPort, p.DstPort = sport, e2ePort
		}
		ip := make([]byte, int(p.Len))
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], p.Len)
		binary.BigEndian.PutUint16(ip[4:], id)
		fo := p.FragOffset
		if p.MoreFragments {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		ip[8], ip[9] = 64, balancer.ProtoUDP
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		binary.BigEndian.PutUint16(ip[10:], balancer.Checksum(ip[:balancer.IPv4Len], 0))
		copy(ip[balancer.IPv4Len:], udp[off:end])
		frags = append(frags, e2eFragment{p, ip})
	}
	return frags
}

// e2eSendOrdered sends frags, the fragments of datagram seq of flow f, from
// the socket fd to to in the given order (indexes into frags), each fed to
// the model first. It returns the backend index the model sends them all
// to, failing t if it forwards one of them not or splits them, and
// whether a non-first fragment led (an orphan).
func e2eSendOrdered(t *testing.T, model *titan.Balancer, fd int, to unix.Sockaddr, frags []e2eFragment, order []int, f, seq int) (want int, orphan bool) {
	t.Helper()
	want = -1
	for k, j := range order {
		fr := frags[j]
		if k == 0 && j != 0 {
			orphan = true
		}
		d := model.Process(nil, &fr.pkt)
		if d.Action != balancer.Forward {
			t.Fatalf("model: flow %d datagram %d fragment %d: %v %s", f, seq, j, d.Action, d.Reason)
		}
		b := int(d.Backend) - 101
		if want == -1 {
			want = b
		} else if want != b {
			t.Fatalf("model splits flow %d datagram %d across backends %d and %d", f, seq, want+1, b+1)
		}
		if err := unix.Sendto(fd, fr.ip, 0, to); err != nil {
			t.Fatalf("send fragment: %v", err)
		}
	}
	return want, orphan
}

// e2eUDP builds the UDP datagram carrying payload from src:sport to
// dst:dport (IPv4 or IPv6), its checksum over the whole datagram and the
// pseudo-header, as a sending kernel computes it.
func e2eUDP(payload []byte, sport, dport uint16, src, dst netip.Addr) []byte {
	udp := make([]byte, balancer.UDPLen+len(payload))
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[balancer.UDPLen:], payload)
	// The pseudo-header: both addresses, the protocol, the UDP length.
	sum := uint32(balancer.ProtoUDP) + uint32(len(udp))
	for _, a := range [][]byte{src.AsSlice(), dst.AsSlice()} {
		for i := 0; i < len(a); i += 2 {
			sum += uint32(a[i])<<8 | uint32(a[i+1])
		}
	}
	c := balancer.Checksum(udp, sum)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return udp
}

// e2eModelCounters is what [e2eTopology.e2eCheckLB] should find the
// program counted while the model, fed the same packets, went from stats
// ms0 to ms: forwarded packets (orphans of them led their datagram), no
// drop, and the model's table hits and misses.
func e2eModelCounters(ms0, ms titan.Stats, forwarded, orphans uint64) map[string]uint64 {
	return map[string]uint64{
		"Forwarded":  forwarded,
		"Drops":      0,
		"Orphans":    orphans,
		"HintHits":   ms.HintHits - ms0.HintHits,
		"ConnHits":   ms.ConnHits - ms0.ConnHits,
		"ConnMisses": ms.Conn.Misses - ms0.Conn.Misses,
		"FragMisses": ms.Frag.Misses - ms0.Frag.Misses,
		"FragHits":   ms.Frag.Hits - ms0.Frag.Hits,
	}
}

// e2eSent is what the test knows about a datagram it sent.
type e2eSent struct {
	flow, seq int
	frags     int    // fragments on the wire
	want      int    // backend index expected to receive it whole; -1: none
	checkWant bool   // want was predicted (by the ring or the Go model)
	port      uint16 // the port it was sent to; 0: not checked
}

// e2eCheck compares what the backends received with what was sent: every
// datagram byte-exact, at most once, from its flow's address and port, and
// at the predicted backend. It returns per-backend datagram and fragment
// counts of what arrived.
func (tp *e2eTopology) e2eCheck(t *testing.T, sent map[[2]int]e2eSent, got []e2eReceived) (datagrams []int, frags []uint64) {
	t.Helper()
	datagrams = make([]int, len(tp.backends))
	frags = make([]uint64, len(tp.backends))
	seen := map[[2]int]int{}
	for _, g := range got {
		d := g.data
		if len(d) < 10 || string(d[:4]) != "TLB1" {
			t.Errorf("backend %d: foreign %d-byte datagram from %v", g.backend+1, len(d), g.from)
			continue
		}
		key := [2]int{int(binary.BigEndian.Uint16(d[4:])), int(binary.BigEndian.Uint16(d[6:]))}
		s, ok := sent[key]
		if !ok {
			t.Errorf("backend %d: datagram names flow %d seq %d, never sent", g.backend+1, key[0], key[1])
			continue
		}
		if !bytes.Equal(d, e2eDatagram(s.flow, s.seq, e2eSize(s.flow, s.seq))) {
			t.Errorf("backend %d: flow %d datagram %d: %d bytes, content differs from what was sent", g.backend+1, s.flow, s.seq, len(d))
		}
		if g.from != netip.AddrPortFrom(tp.client.addr, uint16(e2eFirstPort+s.flow)) {
			t.Errorf("backend %d: flow %d datagram %d from %v", g.backend+1, s.flow, s.seq, g.from)
		}
		if prev, dup := seen[key]; dup {
			t.Errorf("flow %d datagram %d received twice (backends %d and %d)", s.flow, s.seq, prev+1, g.backend+1)
		}
		seen[key] = g.backend
		if s.port != 0 && g.port != s.port {
			t.Errorf("flow %d datagram %d arrived on port %d, sent to %d", s.flow, s.seq, g.port, s.port)
		}
		if s.checkWant && g.backend != s.want {
			t.Errorf("flow %d datagram %d at backend %d, predicted %d", s.flow, s.seq, g.backend+1, s.want+1)
		}
		datagrams[g.backend]++
		frags[g.backend] += uint64(s.frags)
	}
	for key, s := range sent {
		if _, ok := seen[key]; !ok && s.want >= 0 {
			t.Errorf("flow %d datagram %d (%d fragments) never arrived whole", s.flow, s.seq, s.frags)
		}
	}
	return datagrams, frags
}

// e2eCheckBackends checks each backend's Decap counters and its kernel's
// reassembly counters against the datagrams it received: Decap saw exactly
// their fragments (none strayed to another backend), and the kernel
// reassembled each of them with no failure.
func (tp *e2eTopology) e2eCheckBackends(t *testing.T, datagrams []int, frags []uint64) {
	t.Helper()
	for i, b := range tp.backends {
		st, err := tp.decaps[i].Stats()
		if err != nil {
			t.Fatal(err)
		}
		snmp, err := tp.snmp(b.ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("backend %d (%v): %d datagrams whole (ReasmOKs %d, ReasmReqds %d, ReasmFails %d); decap %+v",
			i+1, b.addr, datagrams[i], snmp["ReasmOKs"], snmp["ReasmReqds"], snmp["ReasmFails"], st)
		if st.InnerFragments != frags[i] || st.Decapsulated != frags[i] {
			t.Errorf("backend %d: decapsulated %d (fragments %d), want the %d fragments of its %d datagrams",
				i+1, st.Decapsulated, st.InnerFragments, frags[i], datagrams[i])
		}
		if st.Malformed != 0 || st.OuterFragment != 0 {
			t.Errorf("backend %d: decap dropped %d malformed, %d outer fragments", i+1, st.Malformed, st.OuterFragment)
		}
		if snmp["ReasmOKs"] != uint64(datagrams[i]) || snmp["ReasmReqds"] != frags[i] || snmp["ReasmFails"] != 0 {
			t.Errorf("backend %d: ReasmOKs %d ReasmReqds %d ReasmFails %d, want %d, %d, 0",
				i+1, snmp["ReasmOKs"], snmp["ReasmReqds"], snmp["ReasmFails"], datagrams[i], frags[i])
		}
	}
}

// e2eCheckLB compares the deltas of the load balancer's counters with want
// (counter name -> value).
func (tp *e2eTopology) e2eCheckLB(t *testing.T, before Stats, want map[string]uint64) {
	t.Helper()
	after, err := tp.prog.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lb: %+v", after)
	got := map[string]uint64{
		"Forwarded":  after.Forwarded - before.Forwarded,
		"Drops":      after.Drops() - before.Drops(),
		"ConnMisses": after.ConnMisses - before.ConnMisses,
		"ConnHits":   after.ConnHits - before.ConnHits,
		"FragMisses": after.FragMisses - before.FragMisses,
		"FragHits":   after.FragHits - before.FragHits,
		"Orphans":    after.Orphans - before.Orphans,
		"HintHits":   after.HintHits - before.HintHits,
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Fatalf("e2eCheckLB: unknown counter %s", name)
		}
		if g != w {
			t.Errorf("lb %s: %d, want %d", name, g, w)
		}
	}
}

// TestEndToEndFragmentedUDP sends real UDP datagrams larger than the
// client's MTU, fragmented by the client's own kernel, through the Titan
// program to three backends that decapsulate with Decap, and checks with
// the backends' own reassembly that every datagram arrived whole at
// exactly one backend: the one the Go ring picks for its flow.
func TestEndToEndFragmentedUDP(t *testing.T) {
	tp := e2eBuild(t, e2eConfig{backends: 3})

	// Fixed client ports, so the expected backends are fixed too: the
	// ring SetBackends wrote (the Go ring) predicts each flow's.
	r, err := balancer.NewRing(tp.bset, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, e2eFlows) // flow -> backend index
	perBackend := make([]int, len(tp.backends))
	for f := range e2eFlows {
		p := balancer.Packet{Src: e2eClientAddr, Dst: e2eVIP, Proto: balancer.ProtoUDP, SrcPort: uint16(e2eFirstPort + f), DstPort: e2ePort}
		id, ok := r.Lookup(balancer.Hash5(&p, balancer.DefaultSeed))
		if !ok {
			t.Fatal("ring has no backend")
		}
		want[f] = int(id) - 101
		perBackend[want[f]]++
	}
	for i, n := range perBackend {
		if n == 0 {
			t.Fatalf("flow set sends nothing to backend %d (%v): choose other ports", i+1, perBackend)
		}
	}

	total := e2eFlows * e2ePerFlow
	rx := tp.e2eListen(t, total)
	clients := tp.e2eKernelClients(t, e2eFlows)
	lbBefore, err := tp.prog.Stats()
	if err != nil {
		t.Fatal(err)
	}
	sent := map[[2]int]e2eSent{}
	sentFrags := 0
	for seq := range e2ePerFlow {
		for f, c := range clients {
			size := e2eSize(f, seq)
			if err := e2eSend(c, e2eDatagram(f, seq, size)); err != nil {
				t.Fatalf("flow %d datagram %d: %v", f, seq, err)
			}
			n := e2eFragments(size, e2eClientMTU)
			sent[[2]int{f, seq}] = e2eSent{flow: f, seq: seq, frags: n, want: want[f], checkWant: true}
			sentFrags += n
			time.Sleep(time.Millisecond) // pace: no queue on the way should overflow
		}
	}
	got := rx.wait(e2eRecvTimeout)
	datagrams, frags := tp.e2eCheck(t, sent, got)

	// The client's kernel really fragmented them.
	csnmp, err := e2eSNMP(tp.client.ns)
	if err != nil {
		t.Fatal(err)
	}
	if csnmp["FragOKs"] != uint64(total) || csnmp["FragCreates"] != uint64(sentFrags) {
		t.Errorf("client: FragOKs %d FragCreates %d, want %d and %d", csnmp["FragOKs"], csnmp["FragCreates"], total, sentFrags)
	}
	tp.e2eCheckBackends(t, datagrams, frags)
	// First fragments go by the flow (a connection-table miss for a
	// flow's first datagram, a hit for its second), the others follow
	// the fragment table.
	tp.e2eCheckLB(t, lbBefore, map[string]uint64{
		"Forwarded":  uint64(sentFrags),
		"Drops":      0,
		"ConnMisses": e2eFlows,
		"ConnHits":   uint64(total - e2eFlows),
		"FragMisses": uint64(total),
		"FragHits":   uint64(sentFrags - total),
		"Orphans":    0,
	})
	t.Logf("%d datagrams (%d fragments) from %d flows; per backend %v datagrams", total, sentFrags, e2eFlows, datagrams)
}

// TestEndToEndReorderedFragments sends fragments in orders a network can
// produce — last first, middle first — from a raw socket, so that
// non-first fragments reach the load balancer before their first
// fragment. Titan sends such an orphan by its orphan policy, records it,
// and the rest of the datagram follows: every datagram still arrives
// whole at one backend, the one the Go model (balancer/titan, fed the same
// packets in the same order) decides.
func TestEndToEndReorderedFragments(t *testing.T) {
	for _, pol := range []titan.OrphanPolicy{titan.OrphanHostHint, titan.OrphanHash3} {
		t.Run(pol.String(), func(t *testing.T) {
			tp := e2eBuild(t, e2eConfig{backends: 3, opts: Options{Config: titan.Config{OrphanPolicy: pol}}})
			model, err := titan.New(titan.Config{OrphanPolicy: titan.OrphanPolicy(pol), VIPs: []netip.Addr{e2eVIP}})
			if err != nil {
				t.Fatal(err)
			}
			if err := model.SetBackends(tp.bset); err != nil {
				t.Fatal(err)
			}
			fd := tp.e2eRawSocket(t)
			const flows = 12
			total := flows * e2ePerFlow
			rx := tp.e2eListen(t, total)
			lbBefore, err := tp.prog.Stats()
			if err != nil {
				t.Fatal(err)
			}
			// Orders of a datagram's three fragments: in order, last
			// first, middle first, reversed.
			orders := [][]int{{0, 1, 2}, {2, 0, 1}, {1, 0, 2}, {2, 1, 0}}
			sent := map[[2]int]e2eSent{}
			var sentFrags, orphans uint64
			to := &unix.SockaddrInet4{Addr: e2eVIP.As4()}
			id := uint16(0x4000)
			for seq := range e2ePerFlow {
				for f := range flows {
					frags := e2eSplit(e2eDatagram(f, seq, e2eSize(f, seq)), uint16(e2eFirstPort+f), id, e2eClientMTU)
					id++
					if len(frags) != 3 {
						t.Fatalf("datagram split into %d fragments, want 3", len(frags))
					}
					order := orders[(f+seq)%len(orders)]
					want, orphan := e2eSendOrdered(t, model, fd, to, frags, order, f, seq)
					if orphan {
						orphans++
					}
					sentFrags += uint64(len(frags))
					sent[[2]int{f, seq}] = e2eSent{flow: f, seq: seq, frags: len(frags), want: want, checkWant: true}
					time.Sleep(time.Millisecond)
				}
			}
			got := rx.wait(e2eRecvTimeout)
			datagrams, frags := tp.e2eCheck(t, sent, got)
			tp.e2eCheckBackends(t, datagrams, frags)
			ms := model.Stats()
			t.Logf("model: %+v", ms)
			// The kernel's counters agree with the model's, which saw the
			// same packets in the same order.
			tp.e2eCheckLB(t, lbBefore, e2eModelCounters(titan.Stats{}, ms, sentFrags, orphans))
			if ms.Orphans != orphans || ms.Forwarded != sentFrags {
				t.Errorf("model: %d orphans, %d forwarded; sent %d orphan-led datagrams, %d fragments", ms.Orphans, ms.Forwarded, orphans, sentFrags)
			}
			t.Logf("%d datagrams (%d fragments, %d led by an orphan) from %d flows; per backend %v datagrams",
				total, sentFrags, orphans, flows, datagrams)
		})
	}
}

// TestEndToEndNoHeadroom is the negative control for the MTU headroom:
// with 1500-byte links behind the router, the 1520-byte encapsulated
// fragments are fragmented again by the router, Decap drops the outer
// fragments (it cannot unwrap a piece of an outer packet) and counts them,
// and no datagram arrives.
func TestEndToEndNoHeadroom(t *testing.T) {
	tp := e2eBuild(t, e2eConfig{backends: 3, backendMTU: e2eClientMTU})
	const flows = 6
	rx := tp.e2eListen(t, flows)
	clients := tp.e2eKernelClients(t, flows)
	full := 0 // fragments of a full 1500 bytes: they no longer fit once encapsulated
	for f, c := range clients {
		size := e2eSize(f, 0)
		if err := e2eSend(c, e2eDatagram(f, 0, size)); err != nil {
			t.Fatal(err)
		}
		full += e2eFragments(size, e2eClientMTU) - 1
		time.Sleep(time.Millisecond)
	}
	got := rx.wait(time.Second)
	if len(got) != 0 {
		t.Errorf("%d datagrams arrived without MTU headroom, want 0", len(got))
	}
	var outer uint64
	for _, d := range tp.decaps {
		st, err := d.Stats()
		if err != nil {
			t.Fatal(err)
		}
		outer += st.OuterFragment
	}
	// Each full fragment became two outer fragments at the router.
	if outer != uint64(2*full) {
		t.Errorf("decap counted %d outer fragments, want %d (2 per full-size fragment)", outer, 2*full)
	}
}
