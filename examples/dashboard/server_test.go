package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
)

// testConfig keeps each tick small: the API tests are about the server.
var testConfig = Config{Flows: 100, Duration: 50 * time.Millisecond, Interval: 50 * time.Millisecond, History: 4}

func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	srv, err := NewServer(cfg, lanes(), sim.Backends(3), simulate)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, hs
}

// call sends method path with body (none when empty) and decodes the JSON
// answer into out when it is not nil; it returns the status.
func call(t *testing.T, hs *httptest.Server, method, path, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, hs.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); strings.HasPrefix(path, "/api/") && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return res.StatusCode
}

func TestAPIState(t *testing.T) {
	_, hs := newTestServer(t, testConfig)
	var st State
	if code := call(t, hs, "GET", "/api/state", "", &st); code != http.StatusOK {
		t.Fatalf("GET /api/state: %d", code)
	}
	if got := strings.Join(st.Balancers, ","); got != "titan,katran,cilium" {
		t.Errorf("balancers = %s", got)
	}
	if len(st.Backends) != 3 {
		t.Fatalf("backends = %+v", st.Backends)
	}
	var sum uint64
	for _, b := range st.Backends {
		if !b.Up {
			t.Errorf("backend %d down at start", b.ID)
		}
		n := st.Ring.Counts[b.Name]
		sum += n
		// Maglev with equal weights: within 0.2% of an equal share.
		if share := float64(n) / float64(st.Ring.Size); share < 0.333*0.998 || share > 0.334*1.002 {
			t.Errorf("backend %d owns %d of %d slots (%.4f)", b.ID, n, st.Ring.Size, share)
		}
	}
	if st.Ring.Size != 65537 || sum != uint64(st.Ring.Size) {
		t.Errorf("ring size %d, slots counted %d", st.Ring.Size, sum)
	}
	if len(st.Ring.Samples) != 1024 {
		t.Errorf("ring samples = %d, want 1024", len(st.Ring.Samples))
	}
	if st.Current != nil || len(st.History) != 0 {
		t.Errorf("figures before the first tick: %+v", st.Current)
	}
}

func TestAPISettings(t *testing.T) {
	srv, hs := newTestServer(t, testConfig)
	var st State
	if code := call(t, hs, "POST", "/api/settings", `{"fragment_rate": 0.5}`, &st); code != http.StatusOK {
		t.Fatalf("POST settings: %d", code)
	}
	if st.Settings.FragmentRate != 0.5 || st.Settings.Reorder != 0 || st.Version != 1 {
		t.Errorf("after fragment_rate 0.5: %+v version %d", st.Settings, st.Version)
	}
	call(t, hs, "POST", "/api/settings", `{"reorder": 0.2}`, &st)
	if st.Settings != (Settings{FragmentRate: 0.5, Reorder: 0.2}) || st.Version != 2 {
		t.Errorf("after reorder 0.2: %+v version %d", st.Settings, st.Version)
	}
	call(t, hs, "POST", "/api/settings", `{"reorder": 0.2}`, &st)
	if st.Version != 2 {
		t.Errorf("an unchanged setting bumped the version to %d", st.Version)
	}

	bad := []struct {
		name, body, field, msg string
		code                   int
	}{
		{"rate above 1", `{"fragment_rate": 1.5}`, "fragment_rate", "fragment_rate 1.5: must be between 0 and 1", 400},
		{"negative reorder", `{"reorder": -0.1}`, "reorder", "reorder -0.1: must be between 0 and 1", 400},
		{"string rate", `{"fragment_rate": "half"}`, "fragment_rate", "settings: fragment_rate: string where a number is expected", 400},
		{"unknown field", `{"frag": 1}`, "frag", "frag: unknown field", 400},
		{"key of another case", `{"Fragment_Rate": 1}`, "Fragment_Rate", "Fragment_Rate: unknown field", 400},
		{"duplicate key", `{"reorder": 0.1, "reorder": 0.9}`, "reorder", "settings: reorder: duplicate field", 400},
		{"array body", `[]`, "", "settings: body: line 1: array where an object is expected", 400},
		{"empty body", ``, "", "settings: body: line 1: empty", 400},
		{"not json", `fragment_rate=1`, "", "settings: body: line 1: invalid character", 400},
		{"trailing data", `{"reorder": 0.1} {"reorder": 0.9}`, "", "settings: body: line 1: data after the top-level value", 400},
		{"trailing garbage after spaces", `{"reorder": 0.1}` + strings.Repeat(" ", 5000) + `GARBAGE{{{`, "", "settings: body larger than 4096 bytes", 413},
		{"trailing garbage", `{"reorder": 0.1}` + strings.Repeat(" ", 50) + `GARBAGE{{{`, "", "settings: body: line 1: data after the top-level value", 400},
		{"oversized", `{"reorder": 0.1` + strings.Repeat(" ", maxBody) + `}`, "", "settings: body larger than 4096 bytes", 413},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			if code := call(t, hs, "POST", "/api/settings", tc.body, &e); code != tc.code {
				t.Errorf("status %d, want %d", code, tc.code)
			}
			for _, goName := range []string{"float64", "bool", "main.", "struct", "Go "} {
				if strings.Contains(e.Error, goName) {
					t.Errorf("error %q names Go's %q", e.Error, goName)
				}
			}
			if !strings.Contains(e.Error, tc.msg) || e.Field != tc.field {
				t.Errorf("error %q field %q, want %q field %q", e.Error, e.Field, tc.msg, tc.field)
			}
		})
	}
	if got := srv.State().Settings; got != (Settings{FragmentRate: 0.5, Reorder: 0.2}) {
		t.Errorf("bad requests changed the settings to %+v", got)
	}
	var e apiError
	if code := call(t, hs, "GET", "/api/settings", "", &e); code != http.StatusMethodNotAllowed || !strings.Contains(e.Error, "use POST") {
		t.Errorf("GET /api/settings: %d %q, want 405 naming POST", code, e.Error)
	}
	if code := call(t, hs, "GET", "/api/nothing", "", &e); code != http.StatusNotFound || !strings.Contains(e.Error, "/api/nothing") {
		t.Errorf("GET /api/nothing: %d %q, want 404 naming the path", code, e.Error)
	}
}

func TestAPIBackend(t *testing.T) {
	_, hs := newTestServer(t, testConfig)
	var before, down, up State
	call(t, hs, "GET", "/api/state", "", &before)
	if code := call(t, hs, "POST", "/api/backends/103", `{"up": false}`, &down); code != http.StatusOK {
		t.Fatalf("POST backends/103: %d", code)
	}
	if down.Ring.Counts["103"] != 0 || down.Backends[2].Up {
		t.Errorf("103 down: counts %v, backend %+v", down.Ring.Counts, down.Backends[2])
	}
	moved := 0
	for i, id := range down.Ring.Samples {
		if id == 103 {
			t.Fatalf("slot sample %d still owned by 103", i)
		}
		if old := before.Ring.Samples[i]; old != 103 && old != id {
			moved++
		}
	}
	// Maglev: the survivors keep nearly all their slots (the paper's
	// minimal disruption); 103's share moves, and little else.
	if moved > len(down.Ring.Samples)/100 {
		t.Errorf("%d of %d survivor slot samples moved", moved, len(down.Ring.Samples))
	}
	share := float64(before.Ring.Counts["103"]) / float64(before.Ring.Size)
	if down.Ring.Moved < share || down.Ring.Moved > share+0.01 {
		t.Errorf("moved %.4f of the slots, want 103's share %.4f plus at most 0.01", down.Ring.Moved, share)
	}
	call(t, hs, "POST", "/api/backends/103", `{"up": true}`, &up)
	if !equalCounts(up.Ring.Counts, before.Ring.Counts) || !equalSlots(up.Ring.Samples, before.Ring.Samples) {
		t.Errorf("103 back up: ring %v differs from the start %v", up.Ring.Counts, before.Ring.Counts)
	}
	if up.Version != 2 {
		t.Errorf("version %d after two changes", up.Version)
	}

	bad := []struct {
		name, path, body string
		code             int
		field, msg       string
	}{
		{"id not a number", "/api/backends/abc", `{"up": false}`, 400, "id", `id "abc": not a backend ID`},
		{"no such backend", "/api/backends/104", `{"up": false}`, 404, "id", "id 104: no such backend (have 101, 102, 103)"},
		{"up missing", "/api/backends/101", `{}`, 400, "up", "up: required"},
		{"up not a bool", "/api/backends/101", `{"up": "no"}`, 400, "up", "backend 101: up: string where true or false is expected"},
		{"up twice", "/api/backends/101", `{"up": true, "up": false}`, 400, "up", "backend 101: up: duplicate field"},
		{"Up", "/api/backends/101", `{"Up": false}`, 400, "Up", "backend 101: Up: unknown field"},
		{"unknown field", "/api/backends/101", `{"up": true, "weight": 2}`, 400, "weight", "weight: unknown field"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			if code := call(t, hs, "POST", tc.path, tc.body, &e); code != tc.code {
				t.Errorf("status %d, want %d", code, tc.code)
			}
			if !strings.Contains(e.Error, tc.msg) || e.Field != tc.field {
				t.Errorf("error %q field %q, want %q field %q", e.Error, e.Field, tc.msg, tc.field)
			}
		})
	}

	// All down: an empty ring, still served.
	var st State
	for _, id := range []string{"101", "102", "103"} {
		call(t, hs, "POST", "/api/backends/"+id, `{"up": false}`, &st)
	}
	for i, id := range st.Ring.Samples {
		if id != 0 {
			t.Fatalf("all down: slot sample %d owned by %d", i, id)
		}
	}
}

func equalCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func equalSlots(a, b []uint32) bool { return bytes.Equal(u32bytes(a), u32bytes(b)) }

func u32bytes(s []uint32) []byte {
	b := make([]byte, 0, 4*len(s))
	for _, v := range s {
		b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return b
}

func TestAssets(t *testing.T) {
	_, hs := newTestServer(t, testConfig)
	for _, tc := range []struct{ path, want string }{
		{"/", "<title>TitanLB dashboard</title>"},
		{"/app.js", "/api/state"},
		{"/style.css", "--titan"},
	} {
		res, err := hs.Client().Get(hs.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d, body without %q", tc.path, res.StatusCode, tc.want)
		}
		// No network at run time: nothing is loaded from elsewhere.
		if strings.Contains(string(body), "https://") || strings.Contains(string(body), "//cdn") {
			t.Errorf("GET %s refers to another host", tc.path)
		}
	}
}

func TestNewServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		bs   []balancer.Backend
		msg  string
	}{
		{"negative flows", Config{Flows: -1}, sim.Backends(3), "flows -1"},
		{"negative duration", Config{Duration: -time.Second}, sim.Backends(3), "duration -1s"},
		{"too many ring samples", Config{RingSamples: 70000}, sim.Backends(3), "ring samples 70000"},
		{"negative idle", Config{Idle: -time.Second}, sim.Backends(3), "idle -1s"},
		{"no backends", Config{}, nil, "backends"},
		{"duplicate backend", Config{}, append(sim.Backends(3), sim.Backends(3)[0]), "backends[3].ID 101"},
		{"service of an unknown backend", Config{Services: []ServiceConfig{{Key: twoServices(sim.Backends(3))[0].Key, Pool: []balancer.BackendID{101, 999}}}},
			sim.Backends(3), "dashboard: services[0].pool[1] 999: no such backend"},
		{"empty pool", Config{Services: []ServiceConfig{{Key: twoServices(sim.Backends(3))[0].Key}}},
			sim.Backends(3), "dashboard: services[0].backends"},
		{"duplicate service", Config{Services: append(twoServices(sim.Backends(3)), twoServices(sim.Backends(3))[1])},
			sim.Backends(3), "dashboard: services[2].Key 192.0.2.1:8443/udp: duplicate service (services[1])"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(tc.cfg, lanes(), tc.bs, simulate)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want one naming %q", err, tc.msg)
			}
		})
	}
}

// TestLoopIdle checks that the server simulates nothing while no page polls
// and resumes on the next poll.
func TestLoopIdle(t *testing.T) {
	cfg := testConfig
	cfg.Idle = time.Millisecond
	srv, hs := newTestServer(t, cfg)
	time.Sleep(2 * time.Millisecond)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Loop(ctx)
	time.Sleep(200 * time.Millisecond)
	if st := srv.State(); st.Current != nil {
		t.Fatalf("ticked while idle: %+v", st.Current)
	}
	cfg.Idle = time.Minute
	srv.mu.Lock()
	srv.cfg.Idle = time.Minute
	srv.mu.Unlock()
	call(t, hs, "GET", "/api/state", "", nil)
	deadline := time.Now().Add(30 * time.Second)
	for srv.State().Current == nil {
		if time.Now().After(deadline) {
			t.Fatal("no tick after a poll woke the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown flag", []string{"-bogus"}, 2, "flag provided but not defined: -bogus"},
		{"flows not a number", []string{"-flows", "many"}, 2, `invalid value "many" for flag -flows`},
		{"negative flows", []string{"-flows", "-5"}, 2, "-flows -5: must be at least 1"},
		{"zero seed", []string{"-seed", "0"}, 2, "-seed 0: must not be 0"},
		{"zero duration", []string{"-duration", "0s"}, 2, "-duration 0s: must be positive"},
		{"zero interval", []string{"-interval", "0s"}, 2, "-interval 0s: must be positive"},
		{"zero history", []string{"-history", "0"}, 2, "-history 0: must be at least 1"},
		{"extra argument", []string{"now"}, 2, `unexpected argument "now"`},
		{"bad address", []string{"-addr", "127.0.0.1:99999"}, 1, "-addr 127.0.0.1:99999"},
		{"help", []string{"-h"}, 0, "usage: dashboard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr testutil.SyncBuffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.msg)
			}
			if tc.code == 2 && !strings.Contains(stderr.String(), "usage: dashboard") {
				t.Errorf("no usage message for bad flags: %q", stderr.String())
			}
		})
	}
}

// TestRunServes starts the command on a free port, loads the page and stops
// it as Ctrl-C would.
func TestRunServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-flows", "50", "-duration", "20ms"}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	var url string
	for url == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no address printed; stderr %q", stderr.String())
		}
		if _, after, ok := strings.Cut(stdout.String(), "serving "); ok {
			url, _, _ = strings.Cut(after, " ")
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "TitanLB") {
		t.Errorf("GET %s: %d %.100s", url, res.StatusCode, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run returned %d after a clean stop; stderr %q", code, stderr.String())
	}
}

// runs returns the lengths of the maximal runs of equal values in s.
func runs(s []uint32) []int {
	var out []int
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j] == s[i] {
			j++
		}
		out = append(out, j-i)
		i = j
	}
	return out
}

// TestRingBarShowsTheRing: the bar's samples are slots 0..n-1 of the ring,
// so no run of equal owners on the bar is longer than the longest run the
// ring has. (Evenly spaced samples drew runs of hundreds of slots where the
// ring's longest is a few dozen.)
func TestRingBarShowsTheRing(t *testing.T) {
	srv, hs := newTestServer(t, testConfig)
	for _, down := range []string{"", "103", "102"} {
		if down != "" {
			call(t, hs, "POST", "/api/backends/"+down, `{"up": false}`, nil)
		}
		var st State
		call(t, hs, "GET", "/api/state", "", &st)
		srv.mu.Lock()
		full := slices.Clone(srv.slots)
		srv.mu.Unlock()
		longest := slices.Max(runs(full))
		for i, id := range st.Ring.Samples {
			want := full[i]
			if want == balancer.RingNone {
				want = 0
			}
			if id != want {
				t.Fatalf("%s down: sample %d owned by %d, slot %d by %d", down, i, id, i, want)
			}
		}
		if got := slices.Max(runs(st.Ring.Samples)); got > longest {
			t.Errorf("%s down: a run of %d slots on the bar, the ring's longest is %d", down, got, longest)
		}
		t.Logf("%s down: %d runs on the bar, longest %d; the ring's longest run %d", down, len(runs(st.Ring.Samples)), slices.Max(runs(st.Ring.Samples)), longest)
	}
}

// TestBackendColours: 101, 102 and 103 keep the colours of the original
// design: blue, indigo and purple, told apart by hue.
func TestBackendColours(t *testing.T) {
	css, err := assets.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id     string
		lo, hi float64 // hue range, degrees
		name   string
	}{{"101", 205, 230, "blue"}, {"102", 231, 250, "indigo"}, {"103", 260, 290, "purple"}} {
		m := regexp.MustCompile(`--b` + tc.id + `:\s*#([0-9a-fA-F]{6})`).FindSubmatch(css)
		if m == nil {
			t.Fatalf("style.css has no --b%s colour", tc.id)
		}
		h := hue(string(m[1]))
		if h < tc.lo || h > tc.hi {
			t.Errorf("backend %s: #%s has hue %.0f°, not %s (%.0f-%.0f°)", tc.id, m[1], h, tc.name, tc.lo, tc.hi)
		}
	}
}

// hue returns the HSL hue of an rrggbb colour in degrees.
func hue(rgb string) float64 {
	v, _ := strconv.ParseUint(rgb, 16, 32)
	r, g, b := float64(v>>16&255)/255, float64(v>>8&255)/255, float64(v&255)/255
	mx, mn := max(r, g, b), min(r, g, b)
	d := mx - mn
	var h float64
	switch {
	case d == 0:
		return 0
	case mx == r:
		h = math.Mod((g-b)/d, 6)
	case mx == g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	h *= 60
	if h < 0 {
		h += 360
	}
	return h
}
