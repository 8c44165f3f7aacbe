package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/netns"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/xdp"
)

// The end-to-end topology: every address lives on veths inside the test's
// own namespaces.
//
//	client 10.78.1.2 ── c0 ┐
//	                       gw (router) ── lb0 ── eth0 10.78.0.2  lb: Titan program + agent's health checks
//	backend i 10.78.1i.2 ─ bi ┘
//
// The client sends UDP to the VIP; the router routes the VIP to lb; the
// Titan program encapsulates toward a backend and sends the frame back out
// (XDP_TX) to the router, whose lb0 end carries lb's MAC so it takes the
// frame; the router forwards on the outer address; the backend's decap
// program strips the outer header and its UDP socket on VIP:port reads the
// datagram. The agent, in-process, checks each backend's TCP listener from
// inside lb.
var (
	e2eVIP      = netip.MustParseAddr("10.78.100.1")
	e2eClient   = netip.MustParseAddr("10.78.1.2")
	e2eGwClient = netip.MustParseAddr("10.78.1.1")
	e2eLB       = netip.MustParseAddr("10.78.0.2")
	e2eGwLB     = netip.MustParseAddr("10.78.0.1")
)

const (
	e2eUDPPort    = 9000  // the service on the VIP
	e2eHealthPort = 8080  // each backend's health-check listener
	e2eFirstPort  = 42000 // client source ports: one flow each
	e2eWait       = 10 * time.Second
)

func e2eBackend(i int) netip.Addr   { return netip.AddrFrom4([4]byte{10, 78, byte(10 + i), 2}) }
func e2eGwBackend(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 78, byte(10 + i), 1}) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// e2eBackendNode is one backend namespace with its sockets.
type e2eBackendNode struct {
	ns     *netns.NS
	addr   netip.Addr
	udp    *net.UDPConn
	health *nsListener
}

// nsListener is a TCP listener inside a namespace that can stop and start.
type nsListener struct {
	t    *testing.T
	ns   *netns.NS
	addr string
	mu   sync.Mutex
	ln   net.Listener
}

func (l *nsListener) start() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	must(l.t, l.ns.Do(func() error {
		ln, err := net.Listen("tcp4", l.addr)
		l.ln = ln
		return err
	}))
	go accept(l.ln)
}

func (l *nsListener) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
}

// arrival is a datagram a backend read: which backend, from which client
// port.
type arrival struct {
	backend int
	port    uint16
	seq     int64 // of a datagram from seqPayload; -1 for another
}

// seqPrefix starts the payload of a numbered datagram: the prefix, then
// the number in 8 bytes, big-endian.
const seqPrefix = "titanlb-seq:"

func seqPayload(seq int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(seqPrefix), uint64(seq))
}

func payloadSeq(b []byte) int64 {
	if len(b) != len(seqPrefix)+8 || string(b[:len(seqPrefix)]) != seqPrefix {
		return -1
	}
	return int64(binary.BigEndian.Uint64(b[len(seqPrefix):]))
}

type e2eTopo struct {
	client, lb *netns.NS
	backends   []*e2eBackendNode
	arrivals   chan arrival
	onLoss     func() // diagnostics when a datagram is missing
}

func e2eBuild(t *testing.T, n int) *e2eTopo {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBPF(t)
	netns.Require(t)
	tok := netns.Token()
	newNS := func(role string) *netns.NS {
		t.Helper()
		ns, err := netns.New(t, "tlbagent-"+tok+"-"+role)
		must(t, err)
		for _, kv := range [][2]string{
			{"net.ipv6.conf.all.disable_ipv6", "1"},
			{"net.ipv6.conf.default.disable_ipv6", "1"},
			{"net.ipv4.conf.all.rp_filter", "0"},
			{"net.ipv4.conf.default.rp_filter", "0"},
		} {
			must(t, ns.Sysctl(kv[0], kv[1]))
		}
		return ns
	}
	gw := newNS("gw")
	must(t, gw.Sysctl("net.ipv4.ip_forward", "1"))
	tp := &e2eTopo{client: newNS("client"), lb: newNS("lb"), arrivals: make(chan arrival, 4096)}
	must(t, netns.Link(tp.client, "eth0", e2eClient, gw, "c0", e2eGwClient, 1500, false))
	must(t, netns.Link(tp.lb, "eth0", e2eLB, gw, "lb0", e2eGwLB, 9000, true))
	must(t, gw.IP("route", "add", e2eVIP.String()+"/32", "via", e2eLB.String()))
	for i := range n {
		b := &e2eBackendNode{ns: newNS(fmt.Sprintf("b%d", i+1)), addr: e2eBackend(i)}
		must(t, netns.Link(b.ns, "eth0", b.addr, gw, fmt.Sprintf("b%d", i+1), e2eGwBackend(i), 9000, false))
		must(t, b.ns.IP("addr", "add", e2eVIP.String()+"/32", "dev", "lo"))
		d, err := xdp.LoadDecap()
		must(t, err)
		t.Cleanup(func() { d.Close() })
		_, idx, err := b.ns.Interface("eth0")
		must(t, err)
		must(t, b.ns.Do(func() error {
			l, err := d.Attach(idx, xdp.AttachGeneric)
			if err != nil {
				return err
			}
			t.Cleanup(func() { l.Close() })
			b.udp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eVIP, e2eUDPPort)))
			if err != nil {
				return err
			}
			// A round is a burst of up to 180 datagrams: a buffer beyond
			// rmem_max (root may force it) so the socket drops none.
			raw, err := b.udp.SyscallConn()
			if err != nil {
				return err
			}
			var serr error
			if err := raw.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
			}); err != nil {
				return err
			}
			return serr
		}))
		t.Cleanup(func() { b.udp.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := b.udp.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				select {
				case tp.arrivals <- arrival{i, from.Port(), payloadSeq(buf[:n])}:
				default: // the test stopped reading; never block
				}
			}
		}()
		b.health = &nsListener{t: t, ns: b.ns, addr: netip.AddrPortFrom(b.addr, e2eHealthPort).String()}
		b.health.start()
		t.Cleanup(b.health.stop)
		tp.backends = append(tp.backends, b)
	}
	return tp
}

// send sends one datagram on each flow (client source port) and returns
// the backend index each arrived at; it fails the test when one does not
// arrive within e2eWait.
func (tp *e2eTopo) send(t *testing.T, ports []uint16) map[uint16]int {
	t.Helper()
	must(t, tp.client.Do(func() error {
		for _, p := range ports {
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eClient, p)),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eVIP, e2eUDPPort)))
			if err != nil {
				return err
			}
			_, err = c.Write([]byte("titanlb agent e2e"))
			c.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}))
	got := map[uint16]int{}
	want := map[uint16]bool{}
	for _, p := range ports {
		want[p] = true
	}
	deadline := time.After(e2eWait)
	for len(got) < len(ports) {
		select {
		case a := <-tp.arrivals:
			if !want[a.port] {
				t.Fatalf("datagram from port %d that this round did not send", a.port)
			}
			if b, ok := got[a.port]; ok {
				t.Fatalf("flow %d arrived twice (backends %d and %d)", a.port, b, a.backend)
			}
			got[a.port] = a.backend
		case <-deadline:
			var missing []uint16
			for _, p := range ports {
				if _, ok := got[p]; !ok {
					missing = append(missing, p)
				}
			}
			if tp.onLoss != nil {
				tp.onLoss()
			}
			t.Fatalf("%d of %d datagrams arrived within %v; missing flows %v", len(got), len(ports), e2eWait, missing)
		}
	}
	return got
}

func portRange(from, n int) []uint16 {
	ps := make([]uint16, n)
	for i := range ps {
		ps[i] = uint16(from + i)
	}
	return ps
}

// scrape reads /metrics and returns its samples.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	e, err := parseExposition(string(b))
	must(t, err)
	return e.samples
}

func upSeries(i int) string {
	id := 101 + i
	return fmt.Sprintf(`titanlb_agent_backend_up{address="%s",id="%d",name="%d"}`, e2eBackend(i), id, id)
}

// waitMetric polls the metrics until cond holds, for at most e2eWait.
func waitMetric(t *testing.T, url, what string, cond func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		m := scrape(t, url)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; metrics: %v", what, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(m map[uint16]int, backend int) int {
	n := 0
	for _, b := range m {
		if b == backend {
			n++
		}
	}
	return n
}

// TestE2EHealthFailover runs the agent in-process against the real program
// attached to the load balancer's interface: a backend's health listener
// stops, the agent takes it out, its flows move, no new flow reaches it,
// the other backends keep every flow; it comes back; a reload drains a
// backend without moving its tracked flows; shutdown detaches.
func TestE2EHealthFailover(t *testing.T) {
	tp := e2eBuild(t, 3)
	cfg := &Config{
		Interface: "eth0",
		VIPs:      []netip.Addr{e2eVIP},
		Program:   ProgramConfig{AttachMode: xdp.AttachGeneric},
		Health:    HealthConfig{Interval: 250 * time.Millisecond, Timeout: 250 * time.Millisecond, Rise: 2, Fall: 2, Drain: time.Hour},
	}
	for i, b := range tp.backends {
		id := balancer.BackendID(101 + i)
		cfg.Backends = append(cfg.Backends, BackendConfig{ID: id, Name: id.String(), Addr: b.addr, Weight: 1, HealthPort: e2eHealthPort})
	}
	_, idx, err := tp.lb.Interface("eth0")
	must(t, err)
	var dp *XDPDatapath
	must(t, tp.lb.Do(func() error {
		var err error
		dp, err = OpenXDP(cfg, idx)
		return err
	}))
	t.Cleanup(func() { dp.Close() }) // a second Close is a no-op
	attached, err := tp.lb.Exec("ip", "-d", "link", "show", "eth0")
	must(t, err)
	if !strings.Contains(string(attached), "xdpgeneric") {
		t.Fatalf("program attached in generic mode: %q does not contain %q", string(attached), "xdpgeneric")
	}

	// Health checks dial from inside lb, as a daemon running there would.
	dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = tp.lb.Do(func() error {
			var derr error
			c, derr = (&net.Dialer{}).DialContext(ctx, network, addr)
			return derr
		})
		return c, err
	}
	a := NewAgent(cfg, dp, AgentOptions{Dial: dial, Logger: testLogger(t)})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	tp.onLoss = func() {
		st, err := dp.Stats()
		t.Logf("program stats: %+v (err %v)", st, err)
		for i, b := range tp.backends {
			out, _ := b.ns.Exec("sh", "-c", "grep -A1 Udp: /proc/net/snmp; ip -s link show eth0")
			t.Logf("backend %d:\n%s", i, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(cancel)

	waitMetric(t, srv.URL, "all backends up", func(m map[string]float64) bool {
		return m[upSeries(0)] == 1 && m[upSeries(1)] == 1 && m[upSeries(2)] == 1
	})

	// Round 1: 90 flows spread over the three backends.
	old := portRange(e2eFirstPort, 90)
	first := tp.send(t, old)
	for b := range 3 {
		if count(first, b) == 0 {
			t.Fatalf("backend %d got no flow of 90: %v: count(first, b) is 0", b, first)
		}
	}

	// Backend 102's health listener stops: down after fall=2 failures.
	pushes := scrape(t, srv.URL)[`titanlb_agent_set_backends_total{result="success"}`]
	tp.backends[1].health.stop()
	// Down in the agent's view and in the set the datapath holds.
	serving102 := strings.Replace(upSeries(1), "_up{", "_serving{", 1)
	m := waitMetric(t, srv.URL, "backend 102 down", func(m map[string]float64) bool { return m[upSeries(1)] == 0 && m[serving102] == 0 })
	if got := m[upSeries(0)]; got != 1.0 {
		t.Fatalf("m[upSeries(0)] = %v, want %v", got, 1.0)
	}
	if got := m[upSeries(2)]; got != 1.0 {
		t.Fatalf("m[upSeries(2)] = %v, want %v", got, 1.0)
	}
	if got := m[`titanlb_agent_set_backends_total{result="success"}`]; got <= pushes {
		t.Fatalf("the ring was not rewritten: %v writes, %v before", got, pushes)
	}
	if got := m[`titanlb_agent_health_checks_total{address="10.78.11.2",id="102",name="102",result="failure"}`]; got < 2 {
		t.Fatalf("102 failed %v checks, want at least 2", got)
	}

	// Round 2: the old flows again, and 90 new ones. Nothing is lost; no
	// flow reaches 102; flows of 101 and 103 keep their backend.
	fresh := portRange(e2eFirstPort+1000, 90)
	second := tp.send(t, append(slices.Clone(old), fresh...))
	for _, p := range old {
		if first[p] != 1 {
			if got := second[p]; got != first[p] {
				t.Fatalf("flow %d left its healthy backend: second[p] = %v, want %v", p, got, first[p])
			}
		} else {
			if second[p] == 1 {
				t.Fatalf("flow %d stayed on the dead backend: second[p] = %v, want anything else", p, 1)
			}
		}
	}
	if got := count(second, 1); got != 0 {
		t.Fatalf("no flow, old or new, reaches the dead backend: count(second, 1) = %v, want 0", got)
	}
	// Scrapes within a second share one collection: wait for a fresh one.
	moved := count(first, 1)
	m = waitMetric(t, srv.URL, "the counters of round 2", func(m map[string]float64) bool {
		return m["titanlb_xdp_forwarded_total"] >= float64(len(old)*2+len(fresh))
	})
	if got := m["titanlb_xdp_repicks_total"]; got < float64(moved) {
		t.Fatalf("%v re-picks, want at least the %d flows of 102", got, moved)
	}
	if got := m[`titanlb_xdp_dropped_total{reason="no_backend"}`]; got != 0 {
		t.Fatalf("m[`titanlb_xdp_dropped_total{reason=\"no_backend\"}`] = %v, want 0", got)
	}

	// 102 returns: up after rise=2 successes; new flows reach it again.
	tp.backends[1].health.start()
	waitMetric(t, srv.URL, "backend 102 up", func(m map[string]float64) bool { return m[upSeries(1)] == 1 })
	third := tp.send(t, portRange(e2eFirstPort+2000, 90))
	if count(third, 1) == 0 {
		t.Fatalf("backend 102 takes new flows again: count(third, 1) is 0")
	}

	// Reload without 103: it drains at weight 0. Its tracked flows stay on
	// it (the connection table survives the reload); new flows avoid it.
	on103 := []uint16{}
	for p, b := range second {
		if b == 2 {
			on103 = append(on103, p)
		}
	}
	if len(on103) == 0 {
		t.Fatalf("on103 is empty")
	}
	next := *cfg
	next.Backends = slices.Clone(cfg.Backends[:2])
	if err := a.Reload(&next); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, srv.URL, "103 draining after the reload", func(m map[string]float64) bool {
		return m[`titanlb_agent_backend_draining{address="10.78.12.2",id="103",name="103"}`] == 1 &&
			m[`titanlb_agent_reloads_total{result="success"}`] == 1
	})
	fourth := tp.send(t, append(slices.Clone(on103), portRange(e2eFirstPort+3000, 90)...))
	for _, p := range on103 {
		if got := fourth[p]; got != 2 {
			t.Fatalf("flow %d on draining 103 moved: fourth[p] = %v, want %v", p, got, 2)
		}
	}
	newOn103 := 0
	for p, b := range fourth {
		if p >= e2eFirstPort+3000 && b == 2 {
			newOn103++
		}
	}
	if got := newOn103; got != 0 {
		t.Fatalf("no new flow reaches draining 103: newOn103 = %v, want 0", got)
	}

	// An invalid reload (new VIPs) keeps the running config.
	bad := next
	bad.VIPs = []netip.Addr{netip.MustParseAddr("10.78.100.2")}
	if err := a.Reload(&bad); !errors.Is(err, ErrImmutable) {
		t.Fatalf("error %v, want %v", err, ErrImmutable)
	}
	if a.Config() != &next {
		t.Fatalf("a.Config() is not &next")
	}

	// Shutdown: Run returns, Close detaches.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(e2eWait):
		t.Fatal("Run did not return after cancel")
	}
	must(t, dp.Close())
	out, err := tp.lb.Exec("ip", "-d", "link", "show", "eth0")
	must(t, err)
	if strings.Contains(string(out), "xdp") {
		t.Fatalf("program detached: %q contains %q", string(out), "xdp")
	}
}

// testLogger logs through t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
