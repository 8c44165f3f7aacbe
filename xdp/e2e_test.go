package xdp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/netns"
	"github.com/titanlb/titanlb/internal/ring"
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
}

// e2eMAC returns the hardware address of ifc inside ns.
func e2eMAC(ns *netns.NS, ifc string) (net.HardwareAddr, int, error) {
	var mac net.HardwareAddr
	var index int
	err := ns.Do(func() error {
		i, err := net.InterfaceByName(ifc)
		if err != nil {
			return err
		}
		mac, index = i.HardwareAddr, i.Index
		return nil
	})
	return mac, index, err
}

// e2eLink joins a (interface ifA, address addrA) to the router (interface
// ifGw, address addrGw) with a /24 veth pair of the given MTU and writes
// static neighbour entries on both ends, so no packet waits for ARP.
func e2eLink(t *testing.T, a *netns.NS, ifA string, addrA netip.Addr, gw *netns.NS, ifGw string, addrGw netip.Addr, mtu int, sameMAC bool) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(netns.Veth(a, ifA, gw, ifGw, mtu))
	macA, _, err := e2eMAC(a, ifA)
	must(err)
	if sameMAC {
		// The router's end takes the load balancer's MAC: the frame the
		// Titan program sends back keeps the Ethernet addresses it came
		// with (destination: the load balancer's MAC), and the router
		// must accept it as addressed to itself.
		must(gw.IP("link", "set", ifGw, "address", macA.String()))
	}
	macGw, _, err := e2eMAC(gw, ifGw)
	must(err)
	must(a.IP("addr", "add", addrA.String()+"/24", "dev", ifA))
	must(gw.IP("addr", "add", addrGw.String()+"/24", "dev", ifGw))
	must(a.IP("neigh", "replace", addrGw.String(), "lladdr", macGw.String(), "dev", ifA, "nud", "permanent"))
	must(gw.IP("neigh", "replace", addrA.String(), "lladdr", macA.String(), "dev", ifGw, "nud", "permanent"))
	must(a.IP("route", "add", "default", "via", addrGw.String()))
}

// e2eBuild creates the namespaces and links, loads the Titan program on
// lb (generic mode) and a Decap on each backend.
func e2eBuild(t *testing.T, nBackends int) *e2eTopology {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBPF(t)
	if err := netns.Available(); err != nil {
		testutil.SkipOrFail(t, err.Error())
	}
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
		// IPv4 only, no router solicitations or DAD on the links; no
		// reverse-path filter (the router sees the VIP as a source).
		for _, kv := range [][2]string{
			{"net.ipv6.conf.all.disable_ipv6", "1"},
			{"net.ipv6.conf.default.disable_ipv6", "1"},
			{"net.ipv4.conf.all.rp_filter", "0"},
			{"net.ipv4.conf.default.rp_filter", "0"},
		} {
			must(ns.Sysctl(kv[0], kv[1]))
		}
		return ns
	}
	tp := &e2eTopology{gw: newNS("gw")}
	must(tp.gw.Sysctl("net.ipv4.ip_forward", "1"))
	tp.client = e2eNode{newNS("client"), "eth0", e2eClientAddr}
	tp.lb = e2eNode{newNS("lb"), "eth0", e2eLBAddr}
	e2eLink(t, tp.client.ns, "eth0", e2eClientAddr, tp.gw, "c0", e2eGwClient, e2eClientMTU, false)
	e2eLink(t, tp.lb.ns, "eth0", e2eLBAddr, tp.gw, "lb0", e2eGwLB, e2eBackendMTU, true)
	must(tp.gw.IP("route", "add", e2eVIP.String()+"/32", "via", e2eLBAddr.String()))
	for i := range nBackends {
		b := e2eNode{newNS(fmt.Sprintf("b%d", i+1)), "eth0", e2eBackendAddr(i)}
		e2eLink(t, b.ns, "eth0", b.addr, tp.gw, fmt.Sprintf("b%d", i+1), e2eGwBackend(i), e2eBackendMTU, false)
		must(b.ns.IP("addr", "add", e2eVIP.String()+"/32", "dev", "lo"))
		tp.backends = append(tp.backends, b)
		id := balancer.BackendID(101 + i)
		tp.bset = append(tp.bset, balancer.Backend{ID: id, Name: id.String(), Addr: b.addr, Weight: 1, Up: true})
	}

	tp.prog = mustLoad(t, Options{VIPs: []netip.Addr{e2eVIP}, AttachMode: AttachGeneric})
	must(tp.prog.SetBackends(tp.bset))
	must(tp.lb.ns.Do(func() error {
		i, err := net.InterfaceByName(tp.lb.ifc)
		if err != nil {
			return err
		}
		l, err := tp.prog.Attach(i.Index)
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
	from    netip.AddrPort
	data    []byte
}

// TestEndToEndFragmentedUDP sends real UDP datagrams larger than the
// client's MTU through the Titan program to three backends that
// decapsulate with Decap, and checks with the backends' own reassembly
// that every datagram arrived whole at exactly one backend: the one the
// Go ring picks for its flow.
func TestEndToEndFragmentedUDP(t *testing.T) {
	tp := e2eBuild(t, 3)

	// The flows: fixed client ports, so the expected backends are fixed
	// too; the Go ring (the one SetBackends wrote) predicts each.
	r, err := ring.Build(tp.bset, 0)
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
			t.Fatalf("flow set sends nothing to backend %d (%v): choose other ports", i, perBackend)
		}
	}

	// Backends listen on VIP:port inside their namespaces.
	conns := make([]*net.UDPConn, len(tp.backends))
	for i, b := range tp.backends {
		err := b.ns.Do(func() error {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eVIP, e2ePort)))
			if err != nil {
				return err
			}
			conns[i] = c
			return c.SetReadBuffer(4 << 20)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conns[i].Close() })
	}
	total := e2eFlows * e2ePerFlow
	var (
		mu   sync.Mutex
		got  []e2eReceived
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	for i, c := range conns {
		wg.Go(func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return // deadline set below, or closed
				}
				mu.Lock()
				got = append(got, e2eReceived{i, from, bytes.Clone(buf[:n])})
				if len(got) == total {
					close(done)
				}
				mu.Unlock()
			}
		})
	}

	// The client: one socket per flow, fragmentation by its own kernel
	// (path MTU discovery off: DF clear, fragment locally).
	var clients []*net.UDPConn
	err = tp.client.ns.Do(func() error {
		for f := range e2eFlows {
			c, err := net.DialUDP("udp4",
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eClientAddr, uint16(e2eFirstPort+f))),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eVIP, e2ePort)))
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
				serr = syscall.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
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
	lbBefore, err := tp.prog.Stats()
	if err != nil {
		t.Fatal(err)
	}
	sentFrags := 0
	for seq := range e2ePerFlow {
		for f, c := range clients {
			size := e2eSize(f, seq)
			if _, err := c.Write(e2eDatagram(f, seq, size)); err != nil {
				t.Fatalf("flow %d datagram %d: %v", f, seq, err)
			}
			sentFrags += e2eFragments(size, e2eClientMTU)
			time.Sleep(time.Millisecond) // pace: no queue on the way should overflow
		}
	}

	select {
	case <-done:
	case <-time.After(e2eRecvTimeout):
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now())
	}
	wg.Wait()

	// 1. Every datagram whole, exactly once, at the backend the ring
	//    picks for its flow (both datagrams of a flow at the same one).
	seen := map[[2]int]int{} // (flow, seq) -> backend
	recvAt := make([]int, len(tp.backends))
	fragsAt := make([]uint64, len(tp.backends))
	for _, g := range got {
		d := g.data
		if len(d) < 10 || string(d[:4]) != "TLB1" {
			t.Errorf("backend %d: foreign %d-byte datagram from %v", g.backend, len(d), g.from)
			continue
		}
		f, seq := int(binary.BigEndian.Uint16(d[4:])), int(binary.BigEndian.Uint16(d[6:]))
		if f >= e2eFlows || seq >= e2ePerFlow {
			t.Errorf("backend %d: datagram names flow %d seq %d", g.backend, f, seq)
			continue
		}
		if !bytes.Equal(d, e2eDatagram(f, seq, e2eSize(f, seq))) {
			t.Errorf("backend %d: flow %d datagram %d: %d bytes, content differs from what was sent", g.backend, f, seq, len(d))
		}
		if g.from != netip.AddrPortFrom(e2eClientAddr, uint16(e2eFirstPort+f)) {
			t.Errorf("backend %d: flow %d datagram %d from %v", g.backend, f, seq, g.from)
		}
		if prev, dup := seen[[2]int{f, seq}]; dup {
			t.Errorf("flow %d datagram %d received twice (backends %d and %d)", f, seq, prev, g.backend)
		}
		seen[[2]int{f, seq}] = g.backend
		if g.backend != want[f] {
			t.Errorf("flow %d datagram %d at backend %d, the ring picks %d", f, seq, g.backend, want[f])
		}
		recvAt[g.backend]++
		fragsAt[g.backend] += uint64(e2eFragments(len(d), e2eClientMTU))
	}
	if len(seen) != total {
		t.Errorf("received %d of %d datagrams whole (%d deliveries)", len(seen), total, len(got))
	}

	// 2. The client's kernel really fragmented them.
	csnmp, err := e2eSNMP(tp.client.ns)
	if err != nil {
		t.Fatal(err)
	}
	if csnmp["FragOKs"] != uint64(total) || csnmp["FragCreates"] != uint64(sentFrags) {
		t.Errorf("client: FragOKs %d FragCreates %d, want %d and %d", csnmp["FragOKs"], csnmp["FragCreates"], total, sentFrags)
	}

	// 3. Each backend's Decap saw exactly the fragments of the datagrams
	//    its kernel reassembled: no fragment strayed to another backend.
	for i, b := range tp.backends {
		st, err := tp.decaps[i].Stats()
		if err != nil {
			t.Fatal(err)
		}
		snmp, err := e2eSNMP(b.ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("backend %d (%v): %d datagrams whole (ReasmOKs %d, ReasmReqds %d, ReasmFails %d); decap %+v",
			i+1, b.addr, recvAt[i], snmp["ReasmOKs"], snmp["ReasmReqds"], snmp["ReasmFails"], st)
		if st.InnerFragments != fragsAt[i] || st.Decapsulated != fragsAt[i] {
			t.Errorf("backend %d: decapsulated %d (fragments %d), want the %d fragments of its %d datagrams",
				i+1, st.Decapsulated, st.InnerFragments, fragsAt[i], recvAt[i])
		}
		if st.Malformed != 0 || st.OuterFragment != 0 {
			t.Errorf("backend %d: decap dropped %d malformed, %d outer fragments", i+1, st.Malformed, st.OuterFragment)
		}
		if snmp["ReasmOKs"] != uint64(recvAt[i]) || snmp["ReasmReqds"] != fragsAt[i] || snmp["ReasmFails"] != 0 {
			t.Errorf("backend %d: ReasmOKs %d ReasmReqds %d ReasmFails %d, want %d, %d, 0",
				i+1, snmp["ReasmOKs"], snmp["ReasmReqds"], snmp["ReasmFails"], recvAt[i], fragsAt[i])
		}
	}

	// 4. The load balancer forwarded every fragment: first fragments by
	//    the flow (a connection-table miss for a flow's first datagram, a
	//    hit for its second), the others by the fragment table.
	lb, err := tp.prog.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lb: %+v", lb)
	d := func(after, before uint64) uint64 { return after - before }
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"Forwarded", d(lb.Forwarded, lbBefore.Forwarded), uint64(sentFrags)},
		{"drops", d(lb.Drops(), lbBefore.Drops()), 0},
		{"ConnMisses", d(lb.ConnMisses, lbBefore.ConnMisses), e2eFlows},
		{"ConnHits", d(lb.ConnHits, lbBefore.ConnHits), uint64(total - e2eFlows)},
		{"FragMisses", d(lb.FragMisses, lbBefore.FragMisses), uint64(total)},
		{"FragHits", d(lb.FragHits, lbBefore.FragHits), uint64(sentFrags - total)},
		{"Orphans", d(lb.Orphans, lbBefore.Orphans), 0},
	} {
		if c.got != c.want {
			t.Errorf("lb %s: %d, want %d", c.name, c.got, c.want)
		}
	}
	t.Logf("%d datagrams (%d fragments) from %d flows; per backend %v datagrams", total, sentFrags, e2eFlows, recvAt)
}
