package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/titanlb/titanlb/balancer"
)

// AgentOptions are the agent's dependencies; the zero value is valid.
type AgentOptions struct {
	// Dial opens the health-check connection; nil means a net.Dialer.
	// Tests inject one that dials from inside a network namespace.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Now is the clock drains are timed with; nil means time.Now.
	Now func() time.Time
	// Logger receives state changes and errors; nil discards them.
	Logger *slog.Logger
	// Adopted is the backend set a datapath adopted from its pins holds
	// ([XDPDatapath.Adopted]); nil for a fresh one. The agent starts from
	// it: see [NewAgent].
	Adopted []balancer.Backend
}

// Agent keeps a [Datapath]'s backend set in line with the config and the
// backends' health. Its methods are safe for concurrent use: [Agent.Run]
// on one goroutine, [Agent.Reload] from a signal handler, the metrics
// handler from HTTP requests.
type Agent struct {
	dp   Datapath
	dial func(ctx context.Context, network, address string) (net.Conn, error)
	// netDial: dial is net's, which bounds a connect by the socket's own
	// deadline; never is the Done channel of the contexts it gets.
	netDial bool
	never   chan struct{}
	now     func() time.Time
	log     *slog.Logger
	kick    chan struct{} // a reload asks Run for an early round
	dirt    chan struct{} // a health transition asks Run for a write

	inFlight atomic.Int64 // health checks under way

	wmu      sync.Mutex // serialises writes to the datapath; taken before mu
	mu       sync.Mutex
	cfg      *Config
	bes      map[balancer.BackendID]*backendState
	pushed   []balancer.Backend // the set the datapath holds
	pushedSv []balancer.Service // with services, the services it holds
	hasPush  bool
	synced   bool // the datapath holds the desired set
	adopted  bool // the datapath outlived the previous agent
	rounds   uint64
	skipped  uint64 // checks that could not run for lack of a local resource
	overlap  uint64 // checks started while the backend's previous one still ran
	reloadOK uint64
	reloadKO uint64
	pushOK   uint64
	pushKO   uint64

	roundSeconds prometheus.Histogram // how long rounds take, start to last result
	spacing      prometheus.Histogram // time between a backend's consecutive checks, in intervals
}

// backendState is one backend's health and drain state.
type backendState struct {
	cfg        BackendConfig
	checked    bool // had at least one check since it was added (or its address changed)
	up         bool
	succ, fail int    // consecutive successes, failures
	ok, failed uint64 // checks, in total
	ups, downs uint64 // transitions after the first check
	draining   bool   // removed from the config: weight 0 until drainUntil
	drainUntil time.Time
	running    int       // checks under way
	lastStart  time.Time // when its last check started
	unchecked  bool      // adopted drain of unknown health port: not checked
}

// BackendStatus is a snapshot of one backend as the agent sees it.
type BackendStatus struct {
	Config         BackendConfig
	Checked        bool      // its first health check has completed
	Up             bool      // health: up
	Draining       bool      // removed from the config, weight 0 until DrainUntil
	DrainUntil     time.Time // zero unless Draining
	Weight         uint32    // the weight given to the datapath
	ChecksOK       uint64
	ChecksFailed   uint64
	Ups, Downs     uint64 // health transitions
	ConsecutiveOK  int
	ConsecutiveBad int
	// Serving: the set the datapath holds gives this backend new flows
	// (it is in it, up, with a weight). It differs from Up while a write
	// to the datapath fails.
	Serving bool
}

// NewAgent returns an agent for cfg that drives dp. It writes nothing to
// dp until the first round of health checks ([Agent.CheckAll], which
// [Agent.Run] starts with).
//
// With [AgentOptions].Adopted (a datapath that outlived the previous
// agent) the agent reconciles with what the datapath holds, so that the
// first write moves no flow of a healthy backend: a configured backend the
// datapath knows at the same address starts in the health it had there
// (its first failed check then counts toward health.fall, not as a
// verdict); one the config no longer has, but the datapath still serves,
// drains at weight 0 for health.drain (keeping its flows) without checks,
// its health port being unknown.
func NewAgent(cfg *Config, dp Datapath, opts AgentOptions) *Agent {
	a := &Agent{
		dp:   dp,
		dial: opts.Dial,
		now:  opts.Now,
		log:  opts.Logger,
		kick: make(chan struct{}, 1),
		dirt: make(chan struct{}, 1),
		cfg:  cfg,
		bes:  make(map[balancer.BackendID]*backendState, len(cfg.Backends)),
		roundSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "titanlb_agent_health_round_duration_seconds",
			Help:    "Time from the start of a round of health checks to its last result: about health.interval when spread, health.timeout at most when all start at once.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		spacing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "titanlb_agent_health_check_spacing_intervals",
			Help:    "Time between the starts of a backend's consecutive checks, in health intervals: 1 when the schedule holds.",
			Buckets: []float64{0.5, 0.9, 0.95, 0.99, 1.01, 1.05, 1.1, 1.5, 2, 4},
		}),
	}
	if a.dial == nil {
		a.dial, a.netDial, a.never = (&net.Dialer{}).DialContext, true, make(chan struct{})
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, b := range cfg.Backends {
		a.bes[b.ID] = &backendState{cfg: b}
	}
	a.reconcile(opts.Adopted)
	return a
}

// reconcile starts from the backend set an adopted datapath holds.
func (a *Agent) reconcile(held []balancer.Backend) {
	if held == nil {
		return
	}
	a.adopted = true
	addrs := map[netip.Addr]bool{}
	for _, b := range a.cfg.Backends {
		addrs[b.Addr] = true
	}
	kept, drains := 0, 0
	for _, h := range held {
		if b := a.bes[h.ID]; b != nil {
			if b.cfg.Addr == h.Addr {
				b.checked, b.up = true, h.Up
				kept++
			}
			continue
		}
		if !h.Up || addrs[h.Addr] || a.cfg.Health.Drain == 0 {
			continue // not serving, or its address is another backend's now
		}
		a.bes[h.ID] = &backendState{
			cfg:     BackendConfig{ID: h.ID, Name: h.ID.String(), Addr: h.Addr},
			checked: true, up: true, unchecked: true,
			draining: true, drainUntil: a.now().Add(a.cfg.Health.Drain),
		}
		drains++
	}
	a.log.Info("reconciled with the adopted datapath", "held", len(held), "kept_health", kept, "draining", drains)
}

// Run checks every backend once and writes the first backend set, then
// checks every backend once per health.interval until ctx ends. A round's
// checks are spread evenly over the interval (check i of n starts i/n of
// an interval after the round), and rounds start on a fixed schedule, one
// interval apart whatever their checks take, so that each backend is
// checked every interval and the checks in flight stay near
// n*timeout/interval. A health transition is written to the datapath at
// once (writes at most every interval/10, so that many transitions
// together cost one ring build), and every round ends with a write if
// anything changed. A reload starts the first check of the backends it
// adds at once. Run returns an error only when the first write to the
// datapath fails; later failures are logged and retried on the next round.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.CheckAll(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	up, down := 0, 0
	for _, s := range a.Backends() {
		if s.Up {
			up++
		} else {
			down++
		}
	}
	a.log.Info("first round of health checks", "up", up, "down", down)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { a.writer(ctx) })
	next := time.Now()
	for {
		a.mu.Lock()
		interval := a.cfg.Health.Interval
		a.mu.Unlock()
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now // a round overran: start now, without a catch-up burst
		}
		t := time.NewTimer(time.Until(next))
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-a.kick:
				if ts := a.targets(true); len(ts) > 0 {
					wg.Go(func() { a.logRound(ctx, a.round(ctx, ts, 0)) })
				}
			case <-t.C:
				break wait
			}
		}
		wg.Go(func() { a.logRound(ctx, a.round(ctx, a.targets(false), interval)) })
	}
}

// writer writes the backend set after health transitions, at most once
// per interval/10.
func (a *Agent) writer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.dirt:
		}
		err := a.push()
		a.mu.Lock()
		gap := a.cfg.Health.Interval / 10
		a.mu.Unlock()
		a.logRound(ctx, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
	}
}

func (a *Agent) logRound(ctx context.Context, err error) {
	if err != nil && ctx.Err() == nil {
		a.log.Error("set backends failed; retrying next round", "err", err)
	}
}

// CheckAll runs one round at once: a TCP connect to every backend's health
// port, all started together, each bounded by health.timeout; then it
// ends the drains that are due and writes the backend set to the datapath
// if it changed. Each result is applied as it comes (rise and fall
// thresholds); a check cut short by ctx records nothing.
func (a *Agent) CheckAll(ctx context.Context) error {
	return a.round(ctx, a.targets(false), 0)
}

// targets are the backends to check, by ID; only those never checked when
// unchecked is true.
func (a *Agent) targets(unchecked bool) []BackendConfig {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]BackendConfig, 0, len(a.bes))
	for _, b := range a.bes {
		if !b.unchecked && (!unchecked || !b.checked) {
			out = append(out, b.cfg)
		}
	}
	slices.SortFunc(out, func(x, y BackendConfig) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// round checks targets, starting check i at i*spread/len(targets) after
// the round begins, then ends the drains that are due and writes the
// backend set if it changed.
func (a *Agent) round(ctx context.Context, targets []BackendConfig, spread time.Duration) error {
	a.mu.Lock()
	timeout := a.cfg.Health.Timeout
	a.mu.Unlock()
	start := time.Now()
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i, t := range targets {
		if spread > 0 {
			at := start.Add(time.Duration(int64(spread) * int64(i) / int64(len(targets))))
			if d := time.Until(at); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		if !a.begin(t) {
			continue
		}
		wg.Go(func() { a.check(ctx, t, timeout) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}

	a.mu.Lock()
	a.rounds++
	a.roundSeconds.Observe(time.Since(start).Seconds())
	now := a.now()
	for id, b := range a.bes {
		if b.draining && !now.Before(b.drainUntil) {
			delete(a.bes, id)
			a.log.Info("backend drained and removed", "id", id, "name", b.cfg.Name)
		}
	}
	a.mu.Unlock()
	return a.push()
}

// begin counts t's check as under way. One that starts while the
// backend's previous check still runs (a timeout close to the interval, or
// a stalled agent) is counted as overlapping, and runs: skipping it would
// halve the rate at which the backend is checked. One that falls due while
// two run is skipped (counted): an agent that far behind must not open
// more sockets than its budget of two per backend.
func (a *Agent) begin(t BackendConfig) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.bes[t.ID]
	if b == nil {
		return false // removed by a reload
	}
	switch b.running {
	case 0:
	case 1:
		a.overlap++
	default:
		a.skipped++
		return false
	}
	b.running++
	now := time.Now()
	if !b.lastStart.IsZero() {
		a.spacing.Observe(now.Sub(b.lastStart).Seconds() / a.cfg.Health.Interval.Seconds())
	}
	b.lastStart = now
	return true
}

// check connects to t's health port and applies the result.
func (a *Agent) check(ctx context.Context, t BackendConfig, timeout time.Duration) {
	a.inFlight.Add(1)
	// The check's context is not derived from ctx: thousands of checks a
	// second registering with one parent contend for its lock. A check
	// outlives a cancelled ctx by its timeout at most, and records nothing
	// then. For net's dialer it is a deadline that is never cancelled: the
	// connect is then bounded by the socket's deadline (a netpoll timer)
	// alone, without a context timer and a goroutine per check.
	var cctx context.Context = deadlineOnly{context.WithoutCancel(ctx), time.Now().Add(timeout), a.never}
	cancel := func() {}
	if !a.netDial {
		cctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), timeout)
	}
	c, err := a.dial(cctx, "tcp", t.HealthAddr())
	if err == nil {
		err = c.Close()
	}
	cancel()
	a.inFlight.Add(-1)
	// Logs are written after the lock is released: a slow stderr must not
	// hold up the other checks.
	if logf := a.apply(ctx, t, err); logf != nil {
		logf()
	}
}

// deadlineOnly is a context with a deadline that is never cancelled: its
// Done channel is never closed, and AfterFunc (which context.AfterFunc
// and the contexts derived from it use) registers nothing.
type deadlineOnly struct {
	context.Context
	at   time.Time
	done chan struct{}
}

func (d deadlineOnly) Deadline() (time.Time, bool)         { return d.at, true }
func (d deadlineOnly) Done() <-chan struct{}               { return d.done }
func (d deadlineOnly) AfterFunc(func()) (stop func() bool) { return func() bool { return true } }

// apply records the result err of t's check and returns what to log.
func (a *Agent) apply(ctx context.Context, t BackendConfig, err error) func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.bes[t.ID]
	if b != nil && b.running > 0 {
		b.running--
	}
	return a.applyLocked(ctx, t, b, err)
}

// applyLocked is apply's record keeping; a.mu is held.
func (a *Agent) applyLocked(ctx context.Context, t BackendConfig, b *backendState, err error) func() {
	switch {
	case ctx.Err() != nil:
		return nil
	case localError(err):
		// The agent's own shortage says nothing about the backend.
		a.skipped++
		return func() { a.log.Warn("health check could not run", "id", t.ID, "err", err) }
	case b == nil || b.cfg.Addr != t.Addr || b.cfg.HealthPort != t.HealthPort:
		return nil // removed or readdressed by a reload during the check
	}
	return a.record(b, err)
}

// localError reports whether a dial failed for lack of a resource of this
// host (descriptors, buffers, ports), not because of the backend.
func localError(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.EADDRNOTAVAIL} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// record applies one check result to b.
func (a *Agent) record(b *backendState, err error) (logf func()) {
	if err == nil {
		b.ok++
		b.succ++
		b.fail = 0
	} else {
		b.failed++
		b.fail++
		b.succ = 0
	}
	h := a.cfg.Health
	c, up, succ, fail := b.cfg, b.up, b.succ, b.fail
	switch {
	case !b.checked:
		b.checked, b.up = true, err == nil
		up = b.up
		logf = func() {
			a.log.Debug("backend first check", "id", c.ID, "name", c.Name, "addr", c.HealthAddr(), "up", up, "err", err)
		}
	case !b.up && b.succ >= h.Rise:
		b.up = true
		b.ups++
		logf = func() {
			a.log.Info("backend up", "id", c.ID, "name", c.Name, "addr", c.HealthAddr(), "successes", succ)
		}
	case b.up && b.fail >= h.Fall:
		b.up = false
		b.downs++
		logf = func() {
			a.log.Warn("backend down", "id", c.ID, "name", c.Name, "addr", c.HealthAddr(), "failures", fail, "err", err)
		}
	default:
		return nil
	}
	select { // a change: ask Run's writer for a write
	case a.dirt <- struct{}{}:
	default:
	}
	return logf
}

// desiredLocked is the backend set for the datapath, sorted by ID:
// configured backends with their weight, draining ones with weight 0, a
// backend not yet checked down.
func (a *Agent) desiredLocked() []balancer.Backend {
	out := make([]balancer.Backend, 0, len(a.bes))
	for _, b := range a.bes {
		w := b.cfg.Weight
		if b.draining {
			w = 0
		}
		out = append(out, balancer.Backend{ID: b.cfg.ID, Name: b.cfg.Name, Addr: b.cfg.Addr, Weight: w, Up: b.up})
	}
	slices.SortFunc(out, func(x, y balancer.Backend) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// push writes the desired set to the datapath unless it already holds it.
// The write (a ring build: tens of milliseconds for thousands of backends)
// runs outside a.mu, so that health results go on being recorded
// meanwhile; a.wmu keeps the writes in order.
func (a *Agent) push() error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.mu.Lock()
	want := a.desiredLocked()
	ss := servicesFor(a.cfg, want, a.pushedSv)
	same := a.hasPush && slices.Equal(want, a.pushed) && sameServices(ss, a.pushedSv)
	a.mu.Unlock()
	if same {
		return nil
	}
	err := writeDatapath(a.dp, want, ss)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.wroteLocked(want, ss, err)
}

// pushLocked is push with a.wmu and a.mu held, for [Agent.Reload], which
// must know at once whether the datapath took the new set.
func (a *Agent) pushLocked() error {
	want := a.desiredLocked()
	ss := servicesFor(a.cfg, want, a.pushedSv)
	if a.hasPush && slices.Equal(want, a.pushed) && sameServices(ss, a.pushedSv) {
		return nil
	}
	return a.wroteLocked(want, ss, writeDatapath(a.dp, want, ss))
}

// wroteLocked records the outcome of writing want (with services, ss);
// a.mu is held.
func (a *Agent) wroteLocked(want []balancer.Backend, ss []balancer.Service, err error) error {
	if err != nil {
		a.pushKO++
		a.synced = false
		return fmt.Errorf("agent: set backends: %w", err)
	}
	a.pushOK++
	a.pushed, a.pushedSv, a.hasPush, a.synced = want, ss, true, true
	up := 0
	for _, serving := range servingIn(want, ss) {
		if serving {
			up++
		}
	}
	a.log.Info("backend set written", "backends", len(want), "services", len(ss), "taking_new_flows", up)
	return nil
}

// Reload replaces the config with next, keeping the datapath (its program,
// connection and fragment tables) and writing only the new backend set. A
// backend that keeps its ID keeps its health state unless its address or
// health port changed; a new one is down until its first check, which
// follows at once; one that is gone drains: weight 0 (it keeps its flows,
// gets no new ones) for health.drain, then it is removed. A draining
// backend whose name or address a configured one now uses is removed at
// once. On error (a field that cannot change without reloading the
// program, or a datapath refusal) the old config stays in force.
func (a *Agent) Reload(next *Config) error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.cfg.checkReload(next); err != nil {
		a.reloadKO++
		return err
	}
	now := a.now()
	nb := make(map[balancer.BackendID]*backendState, len(next.Backends))
	names, addrs := map[string]bool{}, map[netip.Addr]bool{}
	for _, c := range next.Backends {
		names[c.Name], addrs[c.Addr] = true, true
		b := &backendState{cfg: c}
		if old, ok := a.bes[c.ID]; ok && old.cfg.Addr == c.Addr && old.cfg.HealthPort == c.HealthPort {
			cp := *old
			cp.cfg, cp.draining, cp.drainUntil = c, false, time.Time{}
			b = &cp
		}
		nb[c.ID] = b
	}
	for id, old := range a.bes {
		if _, ok := nb[id]; ok || next.Health.Drain == 0 || names[old.cfg.Name] || addrs[old.cfg.Addr] {
			continue
		}
		cp := *old
		if !cp.draining {
			cp.draining, cp.drainUntil = true, now.Add(next.Health.Drain)
			a.log.Info("backend removed from config: draining", "id", id, "name", cp.cfg.Name, "until", cp.drainUntil)
		}
		nb[id] = &cp
	}
	oldBes, oldCfg := a.bes, a.cfg
	a.bes, a.cfg = nb, next
	if err := a.pushLocked(); err != nil {
		a.bes, a.cfg = oldBes, oldCfg
		a.reloadKO++
		return fmt.Errorf("reload: %w", err)
	}
	a.reloadOK++
	select {
	case a.kick <- struct{}{}:
	default:
	}
	return nil
}

// countFailedReload counts a reload that failed before reaching
// [Agent.Reload] (the file could not be read or was invalid).
func (a *Agent) countFailedReload() {
	a.mu.Lock()
	a.reloadKO++
	a.mu.Unlock()
}

// Backends returns a snapshot of every backend the agent tracks
// (configured and draining), sorted by ID.
func (a *Agent) Backends() []BackendStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	serving := servingIn(a.pushed, a.pushedSv)
	out := make([]BackendStatus, 0, len(a.bes))
	for _, b := range a.bes {
		s := BackendStatus{
			Serving: serving[b.cfg.ID],
			Config:  b.cfg, Checked: b.checked, Up: b.up, Draining: b.draining, DrainUntil: b.drainUntil,
			Weight: b.cfg.Weight, ChecksOK: b.ok, ChecksFailed: b.failed, Ups: b.ups, Downs: b.downs,
			ConsecutiveOK: b.succ, ConsecutiveBad: b.fail,
		}
		if b.draining {
			s.Weight = 0
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y BackendStatus) int { return cmp.Compare(x.Config.ID, y.Config.ID) })
	return out
}

// Config returns the config in force.
func (a *Agent) Config() *Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}
