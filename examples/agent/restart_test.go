package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/titanlb/titanlb/internal/testutil"
)

const (
	e2eTCPPort     = 9001 // each backend's TCP service on the VIP: answers each line with its index
	restartUDP     = 30   // UDP flows streaming through the restarts
	restartTCP     = 12   // TCP connections streaming through the restarts
	restartUDPGap  = 10 * time.Millisecond
	restartTCPGap  = 20 * time.Millisecond
	restartFirstUD = 43000 // client source ports of the UDP flows
)

// udpFlow is one client flow sending numbered datagrams.
type udpFlow struct {
	port uint16
	conn *net.UDPConn
	sent int64
}

// flowRecord is what the backends saw of one UDP flow.
type flowRecord struct {
	backends []int // in order of first arrival
	seqs     map[int64]bool
}

// tcpFlow is one client connection sending a line and reading which
// backend answered.
type tcpFlow struct {
	mu       sync.Mutex
	backends []int // in order of first answer
	answers  int
	broken   error
}

func (f *tcpFlow) record(b int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers++
	if !slices.Contains(f.backends, b) {
		f.backends = append(f.backends, b)
	}
}

// serveTCP runs each backend's TCP service on VIP:e2eTCPPort.
func serveTCP(t *testing.T, tp *e2eTopo) {
	t.Helper()
	for i, b := range tp.backends {
		var ln net.Listener
		must(t, b.ns.Do(func() error {
			var err error
			ln, err = net.Listen("tcp4", netip.AddrPortFrom(e2eVIP, e2eTCPPort).String())
			return err
		}))
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					sc := bufio.NewScanner(c)
					for sc.Scan() {
						if _, err := fmt.Fprintf(c, "%d\n", i); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
}

// TestE2ERestart is the datapath surviving its control plane: UDP and TCP
// flows stream through the program while the agent is killed with SIGKILL
// and restarted, twice, and backend 103 fails its health checks and comes
// back, across the second restart. The flows of the healthy backends (101,
// 102) must lose nothing and move nowhere; those of 103 move when it goes
// down, as they must. The figures are logged (docs/operations.md quotes
// them).
func TestE2ERestart(t *testing.T) {
	tp := e2eBuild(t, 3)
	serveTCP(t, tp)
	pin := testutil.BPFFS(t)
	path, write := configFile(t)
	write(e2eConfigJSON(0, 1, 2))
	args := []string{"-config", path, "-metrics", "127.0.0.1:9100", "-pin", pin}
	allUp := func(m map[string]float64) bool {
		return m[upSeries(0)] == 1 && m[upSeries(1)] == 1 && m[upSeries(2)] == 1 && m["titanlb_agent_datapath_synced"] == 1
	}
	serving103 := `titanlb_agent_backend_serving{address="10.78.12.2",id="103",name="103"}`

	a1 := startAgent(t, tp, args...)
	a1.wait("all backends up", allUp)

	// The streams: UDP flows of numbered datagrams, TCP connections of
	// numbered lines, until stop.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	udp := make([]*udpFlow, restartUDP)
	must(t, tp.client.Do(func() error {
		for i := range udp {
			port := uint16(restartFirstUD + i)
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eClient, port)),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(e2eVIP, e2eUDPPort)))
			if err != nil {
				return err
			}
			udp[i] = &udpFlow{port: port, conn: c}
		}
		return nil
	}))
	records := map[uint16]*flowRecord{}
	add := func(a arrival) {
		if a.seq < 0 {
			return
		}
		r := records[a.port]
		if r == nil {
			r = &flowRecord{seqs: map[int64]bool{}}
			records[a.port] = r
		}
		if !slices.Contains(r.backends, a.backend) {
			r.backends = append(r.backends, a.backend)
		}
		r.seqs[a.seq] = true
	}
	quit, collected := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case a := <-tp.arrivals:
				add(a)
			case <-quit:
				for {
					select {
					case a := <-tp.arrivals:
						add(a)
					default:
						return
					}
				}
			}
		}
	}()
	for _, f := range udp {
		wg.Go(func() {
			defer f.conn.Close()
			testutil.Every(ctx, restartUDPGap, func() {
				if _, err := f.conn.Write(seqPayload(f.sent)); err == nil {
					f.sent++
				}
			})
		})
	}
	tcp := make([]*tcpFlow, restartTCP)
	for i := range tcp {
		var c net.Conn
		must(t, tp.client.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(e2eVIP, e2eTCPPort).String(), e2eWait)
			return err
		}))
		f := &tcpFlow{}
		tcp[i] = f
		wg.Go(func() {
			defer c.Close()
			rd := bufio.NewReader(c)
			ctx, broken := context.WithCancel(ctx)
			defer broken()
			n := 0
			testutil.Every(ctx, restartTCPGap, func() {
				n++
				c.SetDeadline(time.Now().Add(2 * time.Second))
				line := ""
				_, err := fmt.Fprintf(c, "line %d\n", n)
				if err == nil {
					line, err = rd.ReadString('\n')
				}
				b := 0
				if err == nil {
					b, err = strconv.Atoi(line[:len(line)-1])
				}
				if err != nil {
					f.broken = err
					broken()
					return
				}
				f.record(b)
			})
		})
	}
	time.Sleep(500 * time.Millisecond)
	before := a1.wait("counters", func(m map[string]float64) bool { return m["titanlb_xdp_forwarded_total"] > 0 })

	// Restart 1: SIGKILL, half a second without a control plane, a new
	// agent adopts.
	if err := a1.exit(syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: the agent exited cleanly?")
	}
	if got := tp.xdpOn(t); got != "xdp_titan" {
		t.Fatalf("after SIGKILL eth0 runs %q, want xdp_titan", got)
	}
	time.Sleep(500 * time.Millisecond)
	a2 := startAgent(t, tp, args...)
	m := a2.wait("adopted, all up", func(m map[string]float64) bool { return m["titanlb_agent_datapath_adopted"] == 1 && allUp(m) })
	if m["titanlb_xdp_forwarded_total"] < before["titanlb_xdp_forwarded_total"] {
		t.Errorf("the program's counters restarted: %v forwarded before, %v after", before["titanlb_xdp_forwarded_total"], m["titanlb_xdp_forwarded_total"])
	}
	time.Sleep(500 * time.Millisecond)

	// Restart 2, with a flap: 103's health check fails, the agent takes it
	// out; SIGKILL; 103 comes back while no agent runs; a third agent
	// adopts and takes 103 back in after health.rise checks.
	tp.backends[2].health.stop()
	a2.wait("103 out", func(m map[string]float64) bool { return m[upSeries(2)] == 0 && m[serving103] == 0 })
	time.Sleep(300 * time.Millisecond)
	if err := a2.exit(syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: the agent exited cleanly?")
	}
	tp.backends[2].health.start()
	time.Sleep(300 * time.Millisecond)
	a3 := startAgent(t, tp, args...)
	m = a3.wait("adopted, 103 back", func(m map[string]float64) bool {
		return m["titanlb_agent_datapath_adopted"] == 1 && allUp(m) && m[serving103] == 1
	})
	// 103 came back by a transition: the agent started it down, as the
	// adopted datapath had it (a fresh start would have let its first
	// check decide, with no transition).
	if up := m[`titanlb_agent_backend_transitions_total{address="10.78.12.2",id="103",name="103",to="up"}`]; up != 1 {
		t.Errorf("103 went up %v times after the adoption, want 1", up)
	}
	time.Sleep(500 * time.Millisecond)

	stop()
	wg.Wait()
	time.Sleep(300 * time.Millisecond) // the last datagrams in flight
	close(quit)
	<-collected

	// The verdict, per flow, by the backend it started on.
	var healthy, flapped struct{ flows, moved, sent, lost int64 }
	for _, f := range udp {
		r := records[f.port]
		if r == nil {
			t.Errorf("UDP flow %d: nothing arrived of %d datagrams", f.port, f.sent)
			continue
		}
		lost := f.sent - int64(len(r.seqs))
		s := &healthy
		if r.backends[0] == 2 {
			s = &flapped
		}
		s.flows++
		s.sent += f.sent
		s.lost += lost
		if len(r.backends) > 1 {
			s.moved++
		}
		if r.backends[0] != 2 && (len(r.backends) > 1 || lost != 0) {
			t.Errorf("UDP flow %d of healthy backend %d: backends %v, %d of %d datagrams lost", f.port, 101+r.backends[0], r.backends, lost, f.sent)
		}
	}
	var tcpHealthy, tcpFlapped struct{ conns, moved, broken, answers int }
	for i, f := range tcp {
		if len(f.backends) == 0 {
			t.Errorf("TCP connection %d: no answer (%v)", i, f.broken)
			continue
		}
		s := &tcpHealthy
		if f.backends[0] == 2 {
			s = &tcpFlapped
		}
		s.conns++
		s.answers += f.answers
		if len(f.backends) > 1 {
			s.moved++
		}
		if f.broken != nil {
			s.broken++
		}
		if f.backends[0] != 2 && (len(f.backends) > 1 || f.broken != nil) {
			t.Errorf("TCP connection %d of healthy backend %d: backends %v, error %v", i, 101+f.backends[0], f.backends, f.broken)
		}
	}
	if healthy.flows == 0 || tcpHealthy.conns == 0 {
		t.Fatalf("no flow on a healthy backend: the test proves nothing")
	}
	t.Logf("UDP on 101/102: %d flows, %d moved, %d of %d datagrams lost", healthy.flows, healthy.moved, healthy.lost, healthy.sent)
	t.Logf("UDP on 103 (flapped): %d flows, %d moved, %d of %d datagrams lost", flapped.flows, flapped.moved, flapped.lost, flapped.sent)
	t.Logf("TCP on 101/102: %d connections, %d moved, %d broken, %d answers", tcpHealthy.conns, tcpHealthy.moved, tcpHealthy.broken, tcpHealthy.answers)
	t.Logf("TCP on 103 (flapped): %d connections, %d moved, %d broken, %d answers", tcpFlapped.conns, tcpFlapped.moved, tcpFlapped.broken, tcpFlapped.answers)
}
