package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/xdp"
)

// fakeDP is a Datapath that records what the agent writes.
type fakeDP struct {
	mu     sync.Mutex
	sets   [][]balancer.Backend
	closes int
	stats  xdp.Stats
	setErr error
	stErr  error
}

func (f *fakeDP) SetBackends(bs []balancer.Backend) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.setErr != nil {
		return f.setErr
	}
	if err := balancer.ValidateBackends(bs); err != nil {
		return err
	}
	f.sets = append(f.sets, slices.Clone(bs))
	return nil
}

func (f *fakeDP) Stats() (xdp.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats, f.stErr
}

func (f *fakeDP) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	return nil
}

func (f *fakeDP) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sets)
}

// last returns the last set written, keyed by ID.
func (f *fakeDP) last(t *testing.T) map[balancer.BackendID]balancer.Backend {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.sets, "no SetBackends call yet")
	m := map[balancer.BackendID]balancer.Backend{}
	for _, b := range f.sets[len(f.sets)-1] {
		m[b.ID] = b
	}
	return m
}

// listener is a TCP listener on a loopback address that can be stopped
// and restarted on the same address and port.
type listener struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	ln   net.Listener
}

// listen starts a health-check listener on ip (a 127.0.0.0/8 address) and
// an ephemeral port; connections are accepted and closed at once.
func listen(t *testing.T, ip string) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	require.NoError(t, err)
	l := &listener{t: t, addr: ln.Addr().String(), ln: ln}
	go accept(ln)
	t.Cleanup(l.stop)
	return l
}

func accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func (l *listener) port() uint16 { return netip.MustParseAddrPort(l.addr).Port() }

func (l *listener) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
}

func (l *listener) start() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ln, err := net.Listen("tcp", l.addr)
	require.NoError(l.t, err)
	l.ln = ln
	go accept(ln)
}

// testConfig returns a config with one backend per listener: IDs 101,
// 102, ..., addresses those of the listeners.
func testConfig(t *testing.T, rise, fall int, ls ...*listener) *Config {
	t.Helper()
	c := &Config{
		Interface: "test0",
		VIPs:      []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		Health:    HealthConfig{Interval: 20 * time.Millisecond, Timeout: 500 * time.Millisecond, Rise: rise, Fall: fall, Drain: time.Minute},
	}
	for i, l := range ls {
		ap := netip.MustParseAddrPort(l.addr)
		c.Backends = append(c.Backends, BackendConfig{ID: balancer.BackendID(101 + i), Name: "b" + string(rune('1'+i)),
			Addr: ap.Addr(), Weight: 1, HealthPort: ap.Port()})
	}
	return c
}

func threeListeners(t *testing.T) []*listener {
	return []*listener{listen(t, "127.0.0.1"), listen(t, "127.0.0.2"), listen(t, "127.0.0.3")}
}

func checkAll(t *testing.T, a *Agent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.CheckAll(ctx))
}

func status(t *testing.T, a *Agent, id balancer.BackendID) BackendStatus {
	t.Helper()
	for _, s := range a.Backends() {
		if s.Config.ID == id {
			return s
		}
	}
	t.Fatalf("backend %d not tracked", id)
	return BackendStatus{}
}

func TestHealthThresholds(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{}
	a := NewAgent(testConfig(t, 2, 3, ls...), dp, AgentOptions{})
	require.Zero(t, dp.calls(), "nothing is written before the first round")

	checkAll(t, a)
	require.Equal(t, 1, dp.calls())
	for id, b := range dp.last(t) {
		require.True(t, b.Up, "backend %d", id)
		require.Equal(t, uint32(1), b.Weight)
	}

	ls[1].stop()
	for i := 1; i < 3; i++ { // fall-1 failures: still up, nothing written
		checkAll(t, a)
		s := status(t, a, 102)
		require.True(t, s.Up, "after %d failures", i)
		require.Equal(t, i, s.ConsecutiveBad)
		require.Equal(t, 1, dp.calls())
	}
	checkAll(t, a) // the fall-th failure
	require.False(t, status(t, a, 102).Up)
	require.Equal(t, 2, dp.calls())
	set := dp.last(t)
	require.False(t, set[102].Up)
	require.True(t, set[101].Up)
	require.True(t, set[103].Up)

	ls[1].start()
	checkAll(t, a) // one success of two: still down
	require.False(t, status(t, a, 102).Up)
	require.Equal(t, 2, dp.calls())
	checkAll(t, a)
	require.True(t, status(t, a, 102).Up)
	require.Equal(t, 3, dp.calls())
	require.True(t, dp.last(t)[102].Up)

	s := status(t, a, 102)
	require.Equal(t, uint64(3), s.ChecksFailed)
	require.Equal(t, uint64(3), s.ChecksOK)
	require.Equal(t, uint64(1), s.Downs)
	require.Equal(t, uint64(1), s.Ups)
	require.Equal(t, uint64(6), status(t, a, 101).ChecksOK)
}

func TestFirstCheckDecides(t *testing.T) {
	ls := threeListeners(t)
	ls[2].stop()
	dp := &fakeDP{}
	a := NewAgent(testConfig(t, 3, 3, ls...), dp, AgentOptions{})
	checkAll(t, a)
	set := dp.last(t)
	require.True(t, set[101].Up)
	require.False(t, set[103].Up, "a backend whose first check fails starts down")
	require.Zero(t, status(t, a, 103).Downs, "the first check is no transition")
}

func TestHealthTimeout(t *testing.T) {
	ls := threeListeners(t)
	cfg := testConfig(t, 1, 1, ls...)
	cfg.Health.Timeout = 50 * time.Millisecond
	blackhole := ls[0].addr
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == blackhole { // a backend that never answers
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	dp := &fakeDP{}
	a := NewAgent(cfg, dp, AgentOptions{Dial: dial})
	start := time.Now()
	checkAll(t, a)
	require.Less(t, time.Since(start), 5*time.Second, "the round must end at the timeout")
	require.False(t, dp.last(t)[101].Up)
	require.True(t, dp.last(t)[102].Up)
}

func TestCheckAllCancelledRecordsNothing(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{}
	a := NewAgent(testConfig(t, 1, 1, ls...), dp, AgentOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, a.CheckAll(ctx), context.Canceled)
	require.Zero(t, dp.calls())
	require.Zero(t, status(t, a, 101).ChecksOK+status(t, a, 101).ChecksFailed)
}

// waitFor polls cond every 10ms for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunLoop(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{}
	a := NewAgent(testConfig(t, 1, 2, ls...), dp, AgentOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, "first write", func() bool { return dp.calls() >= 1 })
	ls[2].stop()
	waitFor(t, "backend 103 down", func() bool { return dp.calls() >= 2 && !dp.last(t)[103].Up })
	require.True(t, dp.last(t)[101].Up)
	ls[2].start()
	waitFor(t, "backend 103 up", func() bool { return dp.last(t)[103].Up })
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	require.Zero(t, dp.closes, "the agent does not close the datapath; its owner does")
}

func TestRunFailsWhenFirstWriteFails(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{setErr: errors.New("map full")}
	a := NewAgent(testConfig(t, 1, 1, ls...), dp, AgentOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.ErrorContains(t, a.Run(ctx), "agent: set backends: map full")
}

// clock is a settable clock for drains.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestReloadDrainsRemovedBackend(t *testing.T) {
	ls := append(threeListeners(t), listen(t, "127.0.0.4"))
	clk := &clock{now: time.Unix(1000, 0)}
	dp := &fakeDP{}
	cfg := testConfig(t, 2, 2, ls...)
	cfg.Backends = cfg.Backends[:3] // 101..103
	a := NewAgent(cfg, dp, AgentOptions{Now: clk.Now})
	checkAll(t, a)

	// Remove 103, add 104, change 101's weight.
	next := testConfig(t, 2, 2, ls...)
	next.Backends = []BackendConfig{next.Backends[0], next.Backends[1], next.Backends[3]}
	next.Backends[0].Weight = 3
	require.NoError(t, a.Reload(next))
	require.Same(t, next, a.Config())
	require.Zero(t, dp.closes, "reload keeps the datapath")
	set := dp.last(t)
	require.Len(t, set, 4)
	require.Equal(t, balancer.Backend{ID: 103, Name: "b3", Addr: netip.MustParseAddr("127.0.0.3"), Weight: 0, Up: true}, set[103], "103 drains at weight 0, still up")
	require.False(t, set[104].Up, "104 is down until its first check")
	require.True(t, set[101].Up, "101 keeps its health state")
	require.Equal(t, uint32(3), set[101].Weight)
	s := status(t, a, 103)
	require.True(t, s.Draining)
	require.Equal(t, clk.Now().Add(time.Minute), s.DrainUntil)

	checkAll(t, a) // 104's first check; 103 still within its drain
	set = dp.last(t)
	require.True(t, set[104].Up)
	require.Contains(t, set, balancer.BackendID(103))

	clk.Add(time.Minute)
	checkAll(t, a)
	set = dp.last(t)
	require.NotContains(t, set, balancer.BackendID(103), "drain over: removed")
	require.Len(t, set, 3)
	require.Len(t, a.Backends(), 3)
}

func TestReloadRestoresDrainingBackend(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{}
	cfg := testConfig(t, 1, 1, ls...)
	a := NewAgent(cfg, dp, AgentOptions{})
	checkAll(t, a)
	smaller := testConfig(t, 1, 1, ls...)
	smaller.Backends = smaller.Backends[:2]
	require.NoError(t, a.Reload(smaller))
	require.Equal(t, uint32(0), dp.last(t)[103].Weight)
	require.NoError(t, a.Reload(testConfig(t, 1, 1, ls...)))
	require.Equal(t, uint32(1), dp.last(t)[103].Weight)
	require.True(t, dp.last(t)[103].Up)
	require.False(t, status(t, a, 103).Draining)
}

func TestReloadWithoutDrainRemovesAtOnce(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{}
	a := NewAgent(testConfig(t, 1, 1, ls...), dp, AgentOptions{})
	checkAll(t, a)
	next := testConfig(t, 1, 1, ls...)
	next.Health.Drain = 0
	next.Backends = next.Backends[1:]
	require.NoError(t, a.Reload(next))
	require.NotContains(t, dp.last(t), balancer.BackendID(101))
}

func TestReloadReaddressedBackendIsRechecked(t *testing.T) {
	ls := append(threeListeners(t), listen(t, "127.0.0.4"))
	dp := &fakeDP{}
	cfg := testConfig(t, 1, 1, ls...)
	cfg.Backends = cfg.Backends[:3]
	a := NewAgent(cfg, dp, AgentOptions{})
	checkAll(t, a)
	next := testConfig(t, 1, 1, ls...)
	next.Backends = next.Backends[:3]
	next.Backends[2].Addr, next.Backends[2].HealthPort = netip.MustParseAddr("127.0.0.4"), ls[3].port()
	require.NoError(t, a.Reload(next))
	require.False(t, dp.last(t)[103].Up, "a new address is unchecked: down")
	checkAll(t, a)
	require.True(t, dp.last(t)[103].Up)
	require.Equal(t, netip.MustParseAddr("127.0.0.4"), dp.last(t)[103].Addr)
}

func TestInvalidReloadKeepsOldConfig(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{}
	cfg := testConfig(t, 1, 1, ls...)
	a := NewAgent(cfg, dp, AgentOptions{})
	checkAll(t, a)
	before := dp.calls()

	// A change the running program cannot take.
	next := testConfig(t, 1, 1, ls...)
	next.VIPs = []netip.Addr{netip.MustParseAddr("192.0.2.99")}
	next.Backends = next.Backends[:1]
	require.ErrorIs(t, a.Reload(next), ErrImmutable)
	require.Same(t, cfg, a.Config())
	require.Equal(t, before, dp.calls())

	// The datapath refuses the new set.
	dp.mu.Lock()
	dp.setErr = errors.New("refused")
	dp.mu.Unlock()
	next = testConfig(t, 1, 1, ls...)
	next.Backends = next.Backends[:1]
	require.ErrorContains(t, a.Reload(next), "refused")
	require.Same(t, cfg, a.Config())
	require.Len(t, a.Backends(), 3)
	for _, s := range a.Backends() {
		require.False(t, s.Draining)
	}

	// A file that does not parse, through the SIGHUP path.
	dp.mu.Lock()
	dp.setErr = nil
	dp.mu.Unlock()
	path := filepath.Join(t.TempDir(), "agent.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"vips":["192.0.2.10"],"backends":[{"id":1,"address":"x","health_port":1}]}`), 0o644))
	reload(a, path, "", slog.New(slog.DiscardHandler))
	require.Same(t, cfg, a.Config())
	require.Equal(t, before, dp.calls())
	var out strings.Builder
	require.NoError(t, a.WriteMetrics(&out))
	require.Contains(t, out.String(), `titanlb_agent_reloads_total{result="failure"} 3`)
	require.Contains(t, out.String(), `titanlb_agent_reloads_total{result="success"} 0`)
}

func TestCheckConcurrencyBounded(t *testing.T) {
	const n = 600
	cfg := &Config{
		VIPs:   []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		Health: HealthConfig{Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1},
	}
	for i := range n {
		cfg.Backends = append(cfg.Backends, BackendConfig{ID: balancer.BackendID(i), Name: fmt.Sprint(i),
			Addr: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), Weight: 1, HealthPort: 80})
	}
	var mu sync.Mutex
	inFlight, peak, calls := 0, 0, 0
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		inFlight++
		calls++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return nil, errors.New("refused")
	}
	dp := &fakeDP{}
	a := NewAgent(cfg, dp, AgentOptions{Dial: dial})
	checkAll(t, a)
	require.Equal(t, n, calls)
	require.LessOrEqual(t, peak, maxConcurrentChecks)
	require.Greater(t, peak, 1, "checks run concurrently")
	require.Len(t, dp.last(t), n)
}
