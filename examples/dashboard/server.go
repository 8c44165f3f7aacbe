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
// simulation Result.
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
	Config    ConfigView     `json:"config"`
	Error     string         `json:"error,omitempty"` // of the last tick, if it failed
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
// with the settings and backends of the moment.
type Simulate func(cfg Config, s Settings, bs []balancer.Backend, seed int64, lane Lane) (Figures, error)

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
	slots    []uint32 // full ring, for the disruption of the next change
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
	if err := s.rebuildRingLocked(); err != nil {
		return nil, err
	}
	s.ring.Moved = 0
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/state", s.handleState)
	s.mux.HandleFunc("POST /api/settings", s.handleSettings)
	s.mux.HandleFunc("POST /api/backends/{id}", s.handleBackend)
	s.mux.HandleFunc("/api/settings", allow("POST"))
	s.mux.HandleFunc("/api/state", allow("GET"))
	s.mux.HandleFunc("/api/backends/{id}", allow("POST"))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		badRequest(w, http.StatusNotFound, "", "%s: no such endpoint (have GET /api/state, POST /api/settings, POST /api/backends/{id})", r.URL.Path)
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
			var f Figures
			f, err = s.simulate(s.cfg, settings, bs, s.cfg.Seed+int64(tick), lane)
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
	st.History = make([]Sample, 0, len(s.history))
	st.History = append(st.History, s.history[s.head:]...)
	st.History = append(st.History, s.history[:s.head]...)
	return st
}

// rebuildRingLocked builds the ring for s.backends and the view of it;
// s.mu is held.
func (s *Server) rebuildRingLocked() error {
	r, err := balancer.NewRing(s.backends, 0)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	v := RingView{Size: len(r.Slots), Counts: make(map[string]uint64)}
	for _, b := range s.backends {
		v.Counts[b.ID.String()] = 0
	}
	moved := 0
	for i, id := range r.Slots {
		if id != balancer.RingNone {
			v.Counts[strconv.FormatUint(uint64(id), 10)]++
		}
		if s.slots != nil && s.slots[i] != id {
			moved++
		}
	}
	if s.slots != nil {
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
	s.ring, s.slots = v, r.Slots
	return nil
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
