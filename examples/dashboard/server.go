package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/strictjson"
)

// Config is the server's fixed configuration; the zero value is filled with
// the defaults documented on each field by [NewServer].
type Config struct {
	Seed        int64         // seed of the first tick; tick n uses Seed+n (default 1)
	Flows       int           // flows per tick's scenario (default 300)
	Duration    time.Duration // simulated time per tick (default 200ms)
	History     int           // samples kept for the chart (default 120)
	Interval    time.Duration // wall time between ticks (default 1s)
	Idle        time.Duration // pause ticking when no client asked for the state for this long (default 30s)
	RingSamples int           // slots of the ring sent to the page, a contiguous window from slot 0 (default 1024)

	// Hosts are the names (or addresses) a request's Host header may
	// carry, without the port, besides the loopback ones ("localhost",
	// 127.0.0.0/8, ::1), which are always accepted. A request for any
	// other host is refused, so that a page whose DNS name was rebound to
	// this server cannot read it.
	Hosts []string
	// Token, when not empty, must come with every request: as
	// "Authorization: Bearer <token>", or as the cookie a visit to
	// /?token=<token> sets. Compared in constant time.
	Token string

	// Services, when set, make each tick's scenario these services
	// (sim.Scenario.Services) instead of one pool serving everything: a
	// key and a pool of the server's backends each, which POST
	// /api/services/{index} changes. A balancer that does not serve
	// services is left out (State.LeftOut says why).
	Services []ServiceConfig
}

// ServiceConfig is one service of [Config.Services]: its key and the IDs
// of the backends in its pool (each backend's weight is its own).
type ServiceConfig struct {
	Key  balancer.ServiceKey
	Pool []balancer.BackendID
}

func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Flows == 0 {
		c.Flows = 300
	}
	if c.Duration == 0 {
		c.Duration = 200 * time.Millisecond
	}
	if c.History == 0 {
		c.History = 120
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Idle == 0 {
		c.Idle = 30 * time.Second
	}
	if c.RingSamples == 0 {
		c.RingSamples = 1024
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Flows < 1:
		return fmt.Errorf("dashboard: flows %d: must be at least 1", c.Flows)
	case c.Duration <= 0:
		return fmt.Errorf("dashboard: duration %v: must be positive", c.Duration)
	case c.History < 1:
		return fmt.Errorf("dashboard: history %d: must be at least 1", c.History)
	case c.Interval <= 0:
		return fmt.Errorf("dashboard: interval %v: must be positive", c.Interval)
	case c.Idle <= 0:
		return fmt.Errorf("dashboard: idle %v: must be positive", c.Idle)
	case c.RingSamples < 1 || c.RingSamples > 65537:
		return fmt.Errorf("dashboard: ring samples %d: must be between 1 and 65537", c.RingSamples)
	}
	if c.Token != "" {
		if why := checkToken(c.Token); why != "" {
			return fmt.Errorf("dashboard: token: %s", why)
		}
	}
	for i, h := range c.Hosts {
		if hostOnly(h) == "" || strings.ContainsAny(h, "/ ") {
			return fmt.Errorf("dashboard: hosts[%d] %q: not a host name or address", i, h)
		}
	}
	return nil
}

// Settings are what the page changes: the traffic's fragmentation and
// reordering, as shares between 0 and 1.
type Settings struct {
	FragmentRate float64 `json:"fragment_rate"`
	Reorder      float64 `json:"reorder"`
}

// BackendState is one backend as the page shows it.
type BackendState struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
	Up   bool   `json:"up"`
}

// Figures are one balancer's results for one tick, all read from its
// simulation Result; with services, each service's too.
type Figures struct {
	Reliability      float64 `json:"reliability"`
	FragmentAccuracy float64 `json:"fragment_accuracy"`
	Affinity         float64 `json:"affinity"`
	AvgCost          float64 `json:"avg_cost"`
	LatencyP99us     float64 `json:"latency_p99_us"`
	Datagrams        uint64  `json:"datagrams"`
	Packets          uint64  `json:"packets"`
	Fragments        uint64  `json:"fragments"`
	Drops            uint64  `json:"drops"`
	// Services are the same figures for each service, by key
	// ("192.0.2.1:443/udp"); absent without services.
	Services map[string]Figures `json:"services,omitempty"`
}

// Sample is one tick: the settings it ran with and each balancer's figures.
type Sample struct {
	Tick       uint64             `json:"tick"`
	Version    uint64             `json:"version"`
	Settings   Settings           `json:"settings"`
	BackendsUp []uint32           `json:"backends_up"`
	Balancers  map[string]Figures `json:"balancers"`
	WallMillis float64            `json:"wall_ms"`
}

// RingView is the Maglev ring the balancers build for the current backends.
// Samples are a contiguous window of the ring, slots 0 to len-1, so that a
// run of equal owners in it is a run the ring has: evenly spaced samples
// would draw runs of hundreds of slots that the ring, whose runs are a few
// slots long, does not have.
type RingView struct {
	Size    int               `json:"size"`
	Counts  map[string]uint64 `json:"counts"`  // slots per backend ID
	Samples []uint32          `json:"samples"` // owner of slot i, 0 when none
	// Moved is the share of slots whose owner changed at the last backend
	// change (0 before any change).
	Moved float64 `json:"moved"`
}

// State is the answer of GET /api/state.
type State struct {
	Version   uint64         `json:"version"` // bumps on every change of settings or backends
	Settings  Settings       `json:"settings"`
	Backends  []BackendState `json:"backends"`
	Balancers []string       `json:"balancers"` // display order
	Current   *Sample        `json:"current"`   // latest tick, nil before the first
	History   []Sample       `json:"history"`   // oldest first
	Ring      RingView       `json:"ring"`
	// Services are the services of [Config.Services], each with its pool
	// and its own ring; absent without services.
	Services []ServiceState `json:"services,omitempty"`
	// LeftOut names the balancers that cannot run the scenario (no
	// services) with the reason; they have no figures.
	LeftOut map[string]string `json:"left_out,omitempty"`
	Config  ConfigView        `json:"config"`
	Error   string            `json:"error,omitempty"` // of the last tick, if it failed
}

// ServiceState is one service as the page shows it.
type ServiceState struct {
	Key  string   `json:"key"`  // "192.0.2.1:443/udp"
	Pool []uint32 `json:"pool"` // backend IDs, in the order given
	// Ring is the service's own Maglev ring, over its pool's backends
	// that are up.
	Ring RingView `json:"ring"`
}

// ConfigView is the part of [Config] the page shows.
type ConfigView struct {
	Flows      int     `json:"flows"`
	DurationMS float64 `json:"duration_ms"`
	IntervalMS float64 `json:"interval_ms"`
}

// Lane is one balancer the server simulates.
type Lane struct {
	Name string
	New  func() (balancer.Balancer, error)
}

// Simulate runs one tick's scenario for one balancer; the server calls it
// with the settings, backends and services (nil without
// [Config.Services]) of the moment.
type Simulate func(cfg Config, s Settings, bs []balancer.Backend, ss []balancer.Service, seed int64, lane Lane) (Figures, error)

// Server holds the dashboard's state and serves its page and JSON API. Its
// methods are safe for concurrent use.
type Server struct {
	cfg      Config
	lanes    []Lane
	simulate Simulate
	mux      *http.ServeMux
	handler  http.Handler // mux behind the access checks

	mu       sync.Mutex
	settings Settings
	backends []balancer.Backend
	version  uint64
	tick     uint64
	current  *Sample
	history  []Sample // ring buffer of cfg.History samples
	head     int      // index of the oldest sample when full
	ring     RingView
	slots    []uint32               // full ring, for the disruption of the next change
	pools    [][]balancer.BackendID // by service, Config.Services' then as POSTed
	svcRings []RingView             // by service
	svcSlots [][]uint32             // by service: full ring
	leftOut  map[string]string      // lane -> why it cannot run the scenario
	lastErr  string
	lastSeen time.Time
	wake     chan struct{}
}

// NewServer returns a server for the lanes (balancers) over the backends,
// running each tick with simulate.
func NewServer(cfg Config, lanes []Lane, backends []balancer.Backend, simulate Simulate) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(lanes) == 0 {
		return nil, errors.New("dashboard: lanes: none")
	}
	if err := balancer.ValidateBackends(backends); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		lanes:    lanes,
		simulate: simulate,
		backends: slices.Clone(backends),
		wake:     make(chan struct{}, 1),
		lastSeen: time.Now(),
	}
	for i, sc := range cfg.Services {
		for j, id := range sc.Pool {
			if !slices.ContainsFunc(backends, func(b balancer.Backend) bool { return b.ID == id }) {
				return nil, fmt.Errorf("dashboard: services[%d].pool[%d] %d: no such backend", i, j, id)
			}
		}
		s.pools = append(s.pools, slices.Clone(sc.Pool))
	}
	if len(s.pools) > 0 {
		if err := balancer.ValidateServices(s.servicesLocked()); err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		s.leftOut = map[string]string{}
		for _, l := range lanes {
			if why := cannotServe(l, s.servicesLocked()); why != "" {
				s.leftOut[l.Name] = why
			}
		}
		if len(s.leftOut) == len(lanes) {
			return nil, fmt.Errorf("dashboard: services: no balancer serves them (%s)", s.leftOut[lanes[0].Name])
		}
	}
	if err := s.rebuildRingLocked(); err != nil {
		return nil, err
	}
	s.ring.Moved = 0
	for i := range s.svcRings {
		s.svcRings[i].Moved = 0
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/state", s.handleState)
	s.mux.HandleFunc("POST /api/settings", s.handleSettings)
	s.mux.HandleFunc("POST /api/backends/{id}", s.handleBackend)
	s.mux.HandleFunc("POST /api/services/{index}", s.handleService)
	s.mux.HandleFunc("/api/settings", allow("POST"))
	s.mux.HandleFunc("/api/state", allow("GET"))
	s.mux.HandleFunc("/api/backends/{id}", allow("POST"))
	s.mux.HandleFunc("/api/services/{index}", allow("POST"))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		badRequest(w, http.StatusNotFound, "", "%s: no such endpoint (have GET /api/state, POST /api/settings, POST /api/backends/{id}, POST /api/services/{index})", r.URL.Path)
	})
	s.mux.Handle("/", staticHandler())
	s.handler = s.guard(s.mux)
	return s, nil
}

// ServeHTTP serves the page, its assets and the JSON API to the requests
// that pass the access checks (see [Server.guard]).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Loop runs ticks until ctx ends: one tick, then a pause of cfg.Interval or
// until settings change, and no ticks while no client has asked for the
// state for cfg.Idle. It runs one tick at a time, so it keeps one core busy
// at most.
func (s *Server) Loop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.wake:
		}
		s.mu.Lock()
		idle := time.Since(s.lastSeen) > s.cfg.Idle
		s.mu.Unlock()
		if !idle {
			s.Step()
		}
		timer.Reset(s.cfg.Interval)
	}
}

// Step runs one tick with the current settings and backends and records it.
// When the settings change while it runs, its figures are discarded and it
// runs again, so the current sample always matches the settings it reports.
func (s *Server) Step() {
	for range 3 {
		s.mu.Lock()
		settings, version, tick := s.settings, s.version, s.tick
		bs := slices.Clone(s.backends)
		ss := s.servicesLocked()
		s.mu.Unlock()

		start := time.Now()
		sample := Sample{Tick: tick, Version: version, Settings: settings, Balancers: make(map[string]Figures, len(s.lanes))}
		for _, b := range bs {
			if b.Up {
				sample.BackendsUp = append(sample.BackendsUp, uint32(b.ID))
			}
		}
		var err error
		for _, lane := range s.lanes {
			if _, out := s.leftOut[lane.Name]; out {
				continue
			}
			var f Figures
			f, err = s.simulate(s.cfg, settings, bs, ss, s.cfg.Seed+int64(tick), lane)
			if err != nil {
				err = fmt.Errorf("%s: %w", lane.Name, err)
				break
			}
			sample.Balancers[lane.Name] = f
		}
		sample.WallMillis = float64(time.Since(start).Microseconds()) / 1000

		s.mu.Lock()
		if s.version != version {
			s.mu.Unlock()
			continue
		}
		s.tick++
		if err != nil {
			s.lastErr = err.Error()
			s.mu.Unlock()
			return
		}
		s.lastErr = ""
		s.record(sample)
		s.mu.Unlock()
		return
	}
}

// record appends sample to the history; s.mu is held.
func (s *Server) record(sample Sample) {
	if len(s.history) < s.cfg.History {
		s.history = append(s.history, sample)
	} else {
		s.history[s.head] = sample
		s.head = (s.head + 1) % len(s.history)
	}
	c := sample
	s.current = &c
}

// State returns a copy of the current state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked()
}

// stateLocked is State; s.mu is held.
func (s *Server) stateLocked() State {
	st := State{
		Version:  s.version,
		Settings: s.settings,
		Current:  s.current,
		Ring:     s.ring,
		Error:    s.lastErr,
		Config: ConfigView{
			Flows:      s.cfg.Flows,
			DurationMS: float64(s.cfg.Duration.Microseconds()) / 1000,
			IntervalMS: float64(s.cfg.Interval.Microseconds()) / 1000,
		},
	}
	for _, l := range s.lanes {
		st.Balancers = append(st.Balancers, l.Name)
	}
	for _, b := range s.backends {
		st.Backends = append(st.Backends, BackendState{ID: uint32(b.ID), Name: b.RingName(), Up: b.Up})
	}
	for i, p := range s.pools {
		ss := ServiceState{Key: s.cfg.Services[i].Key.String(), Ring: s.svcRings[i]}
		for _, id := range p {
			ss.Pool = append(ss.Pool, uint32(id))
		}
		st.Services = append(st.Services, ss)
	}
	if len(s.leftOut) > 0 {
		st.LeftOut = make(map[string]string, len(s.leftOut))
		for k, v := range s.leftOut {
			st.LeftOut[k] = v
		}
	}
	st.History = make([]Sample, 0, len(s.history))
	st.History = append(st.History, s.history[s.head:]...)
	st.History = append(st.History, s.history[:s.head]...)
	return st
}

// rebuildRingLocked builds the ring for s.backends and the view of it,
// and each service's; s.mu is held. On error nothing changes.
func (s *Server) rebuildRingLocked() error {
	v, slots, err := s.ringView(s.backends, s.slots)
	if err != nil {
		return err
	}
	svcRings := make([]RingView, len(s.pools))
	svcSlots := make([][]uint32, len(s.pools))
	for i, svc := range s.servicesLocked() {
		var prev []uint32
		if i < len(s.svcSlots) {
			prev = s.svcSlots[i]
		}
		if svcRings[i], svcSlots[i], err = s.ringView(svc.Backends, prev); err != nil {
			return fmt.Errorf("services[%d]: %w", i, err)
		}
	}
	s.ring, s.slots = v, slots
	s.svcRings, s.svcSlots = svcRings, svcSlots
	return nil
}

// ringView builds the ring of bs and its view; prev, when not nil, is
// the ring it replaces, whose moved slots the view counts.
func (s *Server) ringView(bs []balancer.Backend, prev []uint32) (RingView, []uint32, error) {
	r, err := balancer.NewRing(bs, 0)
	if err != nil {
		return RingView{}, nil, fmt.Errorf("dashboard: %w", err)
	}
	v := RingView{Size: len(r.Slots), Counts: make(map[string]uint64)}
	for _, b := range bs {
		v.Counts[b.ID.String()] = 0
	}
	moved := 0
	for i, id := range r.Slots {
		if id != balancer.RingNone {
			v.Counts[strconv.FormatUint(uint64(id), 10)]++
		}
		if prev != nil && prev[i] != id {
			moved++
		}
	}
	if prev != nil {
		v.Moved = float64(moved) / float64(len(r.Slots))
	}
	n := min(s.cfg.RingSamples, len(r.Slots))
	v.Samples = make([]uint32, n)
	for i := range v.Samples {
		id := r.Slots[i]
		if id == balancer.RingNone {
			id = 0
		}
		v.Samples[i] = id
	}
	return v, r.Slots, nil
}

// servicesLocked returns the services as they are: each key with its
// pool's backends as s.backends has them (Up, Weight); nil without
// services. s.mu is held (or s is not shared yet).
func (s *Server) servicesLocked() []balancer.Service {
	if len(s.pools) == 0 {
		return nil
	}
	ss := make([]balancer.Service, len(s.pools))
	for i, p := range s.pools {
		ss[i].Key = s.cfg.Services[i].Key
		for _, id := range p {
			if j := slices.IndexFunc(s.backends, func(b balancer.Backend) bool { return b.ID == id }); j >= 0 {
				ss[i].Backends = append(ss[i].Backends, s.backends[j])
			}
		}
	}
	return ss
}

// cannotServe returns why a fresh balancer of lane l refuses the services
// ss, or "".
func cannotServe(l Lane, ss []balancer.Service) string {
	lb, err := l.New()
	if err != nil {
		return err.Error()
	}
	setter, ok := lb.(balancer.ServiceSetter)
	if !ok {
		return "does not implement balancer.ServiceSetter"
	}
	if err := setter.SetServices(ss); err != nil {
		return err.Error()
	}
	return ""
}

// changed records a change of settings or backends; s.mu is held.
func (s *Server) changed() {
	s.version++
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// apiError is the body of every 4xx answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

func badRequest(w http.ResponseWriter, code int, field, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...), Field: field})
}

// allow answers 405 with a JSON error for a known path and another method.
func allow(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", method)
		badRequest(w, http.StatusMethodNotAllowed, "", "%s %s: method not allowed (use %s)", r.Method, r.URL.Path, method)
	}
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	wasIdle := time.Since(s.lastSeen) > s.cfg.Idle
	s.lastSeen = time.Now()
	if wasIdle {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.State())
}

// maxBody bounds request bodies: settings are a few dozen bytes.
const maxBody = 4096

// decode reads the request's JSON object, of at most maxBody bytes and
// sent as application/json, into v strictly (see [strictjson]): exact
// keys, each once, no unknown field, nothing after the object. It answers
// the request itself when the body is refused and then returns false.
func decode(w http.ResponseWriter, r *http.Request, what string, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		badRequest(w, http.StatusUnsupportedMediaType, "", "%s: Content-Type %q: want application/json", what, r.Header.Get("Content-Type"))
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			badRequest(w, http.StatusRequestEntityTooLarge, "", "%s: body larger than %d bytes", what, maxBody)
		} else {
			badRequest(w, http.StatusBadRequest, "", "%s: body: %v", what, err)
		}
		return false
	}
	if err := strictjson.Unmarshal(data, v); err != nil {
		var e *strictjson.Error
		if errors.As(err, &e) && e.Path != "" {
			badRequest(w, http.StatusBadRequest, e.Path, "%s: %s: %s", what, e.Path, e.Msg)
		} else {
			badRequest(w, http.StatusBadRequest, "", "%s: body: %v", what, err)
		}
		return false
	}
	return true
}

// settingsRequest is the body of POST /api/settings: absent fields keep
// their value.
type settingsRequest struct {
	FragmentRate *float64 `json:"fragment_rate"`
	Reorder      *float64 `json:"reorder"`
}

func checkShare(field string, v *float64) error {
	if v != nil && (math.IsNaN(*v) || *v < 0 || *v > 1) {
		return fmt.Errorf("%s %v: must be between 0 and 1", field, *v)
	}
	return nil
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	var req settingsRequest
	if !decode(w, r, "settings", &req) {
		return
	}
	if err := checkShare("fragment_rate", req.FragmentRate); err != nil {
		badRequest(w, http.StatusBadRequest, "fragment_rate", "settings: %v", err)
		return
	}
	if err := checkShare("reorder", req.Reorder); err != nil {
		badRequest(w, http.StatusBadRequest, "reorder", "settings: %v", err)
		return
	}
	s.mu.Lock()
	next := s.settings
	if req.FragmentRate != nil {
		next.FragmentRate = *req.FragmentRate
	}
	if req.Reorder != nil {
		next.Reorder = *req.Reorder
	}
	if next != s.settings {
		s.settings = next
		s.changed()
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.State())
}

// backendRequest is the body of POST /api/backends/{id}.
type backendRequest struct {
	Up *bool `json:"up"`
}

func (s *Server) handleBackend(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := strconv.ParseUint(raw, 10, 32)
	if err != nil {
		badRequest(w, http.StatusBadRequest, "id", "backend: id %q: not a backend ID", raw)
		return
	}
	var req backendRequest
	if !decode(w, r, fmt.Sprintf("backend %d", id), &req) {
		return
	}
	if req.Up == nil {
		badRequest(w, http.StatusBadRequest, "up", "backend %d: up: required (true or false)", id)
		return
	}
	s.mu.Lock()
	i := slices.IndexFunc(s.backends, func(b balancer.Backend) bool { return uint64(b.ID) == id })
	if i < 0 {
		have := make([]string, len(s.backends))
		for j, b := range s.backends {
			have[j] = b.ID.String()
		}
		s.mu.Unlock()
		badRequest(w, http.StatusNotFound, "id", "backend: id %d: no such backend (have %s)", id, strings.Join(have, ", "))
		return
	}
	if s.backends[i].Up != *req.Up {
		s.backends[i].Up = *req.Up
		if err := s.rebuildRingLocked(); err != nil {
			s.backends[i].Up = !*req.Up
			s.mu.Unlock()
			badRequest(w, http.StatusBadRequest, "up", "backend %d: %v", id, err)
			return
		}
		s.changed()
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.State())
}

// serviceRequest is the body of POST /api/services/{index}.
type serviceRequest struct {
	Pool *[]uint32 `json:"pool"`
}

// handleService replaces a service's pool with the backend IDs given.
func (s *Server) handleService(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("index")
	i, err := strconv.Atoi(raw)
	s.mu.Lock()
	n := len(s.pools)
	s.mu.Unlock()
	switch {
	case n == 0:
		badRequest(w, http.StatusNotFound, "index", "service: no services (the dashboard runs one pool; start it with -services)")
		return
	case err != nil || raw != strconv.Itoa(i):
		badRequest(w, http.StatusBadRequest, "index", "service: index %q: not a service index", raw)
		return
	case i < 0 || i >= n:
		badRequest(w, http.StatusNotFound, "index", "service: index %d: no such service (have 0 to %d)", i, n-1)
		return
	}
	var req serviceRequest
	if !decode(w, r, fmt.Sprintf("service %d", i), &req) {
		return
	}
	if req.Pool == nil {
		badRequest(w, http.StatusBadRequest, "pool", "service %d: pool: required (the backend IDs of the service's pool)", i)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pool := make([]balancer.BackendID, 0, len(*req.Pool))
	for j, id := range *req.Pool {
		switch {
		case !slices.ContainsFunc(s.backends, func(b balancer.Backend) bool { return uint32(b.ID) == id }):
			have := make([]string, len(s.backends))
			for k, b := range s.backends {
				have[k] = b.ID.String()
			}
			badRequest(w, http.StatusBadRequest, "pool", "service %d: pool[%d] %d: no such backend (have %s)", i, j, id, strings.Join(have, ", "))
			return
		case slices.Contains(pool, balancer.BackendID(id)):
			badRequest(w, http.StatusBadRequest, "pool", "service %d: pool[%d] %d: listed twice", i, j, id)
			return
		}
		pool = append(pool, balancer.BackendID(id))
	}
	if len(pool) == 0 {
		badRequest(w, http.StatusBadRequest, "pool", "service %d: pool: must list at least one backend", i)
		return
	}
	if !slices.Equal(pool, s.pools[i]) {
		old := s.pools[i]
		s.pools[i] = pool
		if err := s.rebuildRingLocked(); err != nil {
			s.pools[i] = old
			badRequest(w, http.StatusBadRequest, "pool", "service %d: %v", i, err)
			return
		}
		s.changed()
	}
	st := s.stateLocked()
	writeJSON(w, http.StatusOK, st)
}
