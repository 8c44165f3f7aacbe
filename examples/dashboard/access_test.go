package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/internal/httpserver"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
)

// post sends a POST with the given headers and returns the status and the
// decoded error, if any.
func post(t *testing.T, hs *httptest.Server, path, body string, hdr map[string]string) (int, apiError) {
	t.Helper()
	req, err := http.NewRequest("POST", hs.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e apiError
	data, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(data, &e) // a refused request may answer plain text
	return res.StatusCode, e
}

// TestCrossSiteWrites reproduces finding 1 of issue 14: a page on another
// origin (or curl posing as one) changed the settings and took a backend
// down. Every such request is refused and nothing changes; the page's
// own requests still work.
func TestCrossSiteWrites(t *testing.T) {
	srv, hs := newTestServer(t, testConfig)
	jsonCT := map[string]string{"Content-Type": "application/json"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		code int
		msg  string
	}{
		{"curl with a foreign Origin and text/plain", with("Origin", "http://evil", "Content-Type", "text/plain"), 403, "cross-origin request refused"},
		{"foreign Origin, JSON", with("Origin", "http://evil", "Content-Type", "application/json"), 403, "cross-origin request refused"},
		{"browser no-cors fetch from another site", with("Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain;charset=UTF-8"), 403, "cross-origin request refused"},
		{"browser fetch from a sibling site", with("Sec-Fetch-Site", "same-site", "Content-Type", "application/json"), 403, "cross-origin request refused"},
		{"no Origin, text/plain (a form or a script)", with("Content-Type", "text/plain"), 415, `Content-Type "text/plain": want application/json`},
		{"no Origin, form", with("Content-Type", "application/x-www-form-urlencoded"), 415, "want application/json"},
		{"no Content-Type", nil, 415, `Content-Type "": want application/json`},
		{"foreign Host (DNS rebinding)", with("Host", "evil.example:5000", "Content-Type", "application/json"), 403, `host "evil.example:5000": not a name of this server`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/backends/102", "/api/settings"} {
				body := `{"up": false}`
				if path == "/api/settings" {
					body = `{"fragment_rate": 0.9}`
				}
				code, e := post(t, hs, path, body, tc.hdr)
				if code != tc.code || !strings.Contains(e.Error, tc.msg) {
					t.Errorf("POST %s: %d %q, want %d and %q", path, code, e.Error, tc.code, tc.msg)
				}
			}
		})
	}
	st := srv.State()
	if st.Version != 0 || st.Settings.FragmentRate != 0 || !st.Backends[1].Up {
		t.Fatalf("refused requests changed the state: version %d, settings %+v, backends %+v", st.Version, st.Settings, st.Backends)
	}
	// The page itself: same origin, JSON.
	origin := hs.URL
	for _, hdr := range []map[string]string{
		with("Origin", origin, "Content-Type", "application/json", "Sec-Fetch-Site", "same-origin"),
		jsonCT,
	} {
		if code, e := post(t, hs, "/api/backends/102", `{"up": false}`, hdr); code != 200 {
			t.Errorf("same-origin POST with %v: %d %s", hdr, code, e.Error)
		}
	}
	if srv.State().Backends[1].Up {
		t.Error("the same-origin POST did not take 102 down")
	}
}

// TestHostCheck reproduces the read half of finding 1: a foreign Host
// header was served, so a rebound DNS name could read the state.
func TestHostCheck(t *testing.T) {
	cfg := testConfig
	cfg.Hosts = []string{"lb.example.net"}
	_, hs := newTestServer(t, cfg)
	for _, tc := range []struct {
		host string
		code int
	}{
		{"evil.example", 403},
		{"evil.example:5000", 403},
		{"127.0.0.1.evil.example", 403},
		{"localhost", 200},
		{"LOCALHOST:5000", 200},
		{"dash.localhost:5000", 200},
		{"127.0.0.1:5000", 200},
		{"127.1.2.3", 200},
		{"[::1]:5000", 200},
		{"lb.example.net", 200},
		{"LB.example.net.:8080", 200},
	} {
		for _, path := range []string{"/api/state", "/", "/app.js"} {
			req, _ := http.NewRequest("GET", hs.URL+path, nil)
			req.Host = tc.host
			res, err := hs.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.code {
				t.Errorf("GET %s with Host %q: %d, want %d", path, tc.host, res.StatusCode, tc.code)
			}
		}
	}
}

// TestToken: with a token every request carries it, by header or by the
// cookie /?token= sets; without it, 401.
func TestToken(t *testing.T) {
	const token = "0123456789abcdef-secret"
	cfg := testConfig
	cfg.Token = token
	srv, hs := newTestServer(t, cfg)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, hdr http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		maps(req.Header, hdr)
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, path := range []string{"/", "/api/state", "/app.js"} {
		if res := get(path, nil); res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without token: %d", path, res.StatusCode)
		}
		if res := get(path, http.Header{"Authorization": {"Bearer wrong-token-wrong-token"}}); res.StatusCode != 401 {
			t.Errorf("GET %s with a wrong token: %d", path, res.StatusCode)
		}
		if res := get(path, http.Header{"Authorization": {"Bearer " + token}}); res.StatusCode != 200 {
			t.Errorf("GET %s with the token: %d", path, res.StatusCode)
		}
	}
	if res := get("/?token=nope", nil); res.StatusCode != 401 {
		t.Errorf("GET /?token=nope: %d", res.StatusCode)
	}
	res := get("/?token="+token, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("GET /?token=<token>: %d to %q, want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == tokenCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v, want an HttpOnly SameSite=Strict %s", cookie, tokenCookie)
	}
	if res := get("/api/state", http.Header{"Cookie": {cookie.String()}}); res.StatusCode != 200 {
		t.Errorf("GET /api/state with the cookie: %d", res.StatusCode)
	}
	code, _ := post(t, hs, "/api/settings", `{"reorder": 0.5}`, map[string]string{"Content-Type": "application/json"})
	if code != 401 || srv.State().Settings.Reorder != 0 {
		t.Errorf("POST without token: %d, reorder %v", code, srv.State().Settings.Reorder)
	}
	code, e := post(t, hs, "/api/settings", `{"reorder": 0.5}`, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token})
	if code != 200 || srv.State().Settings.Reorder != 0.5 {
		t.Errorf("POST with token: %d %s", code, e.Error)
	}
}

func maps(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// TestRunBindsBeyondLoopback reproduces finding 3: -addr :port served
// every interface without a word. It now needs a token, warns, and the
// token is then required.
func TestRunBindsBeyondLoopback(t *testing.T) {
	var stdout, stderr testutil.SyncBuffer
	if code := run(context.Background(), []string{"-addr", "0.0.0.0:0", "-token", ""}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "listens beyond this host") || !strings.Contains(stderr.String(), "-token") {
		t.Errorf("-addr 0.0.0.0:0 without token: %d, %q", code, stderr.String())
	}
	stderr = testutil.SyncBuffer{}
	if code := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-token", "short"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "token: must be at least 16 characters") {
		t.Errorf("short token: %d, %q", code, stderr.String())
	}

	const token = "a-long-enough-test-token"
	t.Setenv(tokenEnv, token)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr = testutil.SyncBuffer{}, testutil.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "0.0.0.0:0", "-flows", "20", "-duration", "10ms"}, &stdout, &stderr)
	}()
	url := waitServing(t, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "warning: -addr 0.0.0.0:0 listens on every address of this host, reachable from other hosts") {
		t.Errorf("no warning: %q", stderr.String())
	}
	port := url[strings.LastIndex(url, ":"):]
	for _, tc := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer " + token, 200}} {
		req, _ := http.NewRequest("GET", "http://127.0.0.1"+port+"/api/state", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.code {
			t.Errorf("GET with %q: %d, want %d", tc.auth, res.StatusCode, tc.code)
		}
	}
	// The host's own name is accepted on a wildcard address.
	if h, err := os.Hostname(); err == nil {
		req, _ := http.NewRequest("GET", "http://127.0.0.1"+port+"/api/state", nil)
		req.Host = h + port
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET with Host %s: %d", req.Host, res.StatusCode)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d; stderr %q", code, stderr.String())
	}
}

// waitServing waits for run to print its URL.
func waitServing(t *testing.T, stdout, stderr *testutil.SyncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, after, ok := strings.Cut(stdout.String(), "serving "); ok {
			url, _, _ := strings.Cut(after, " ")
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address printed; stderr %q", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowClientsAreCut reproduces finding 2: connections that send one
// byte of a body and stop were kept open for ever. The server run uses
// bounds every read; with the read timeout shortened here, such a
// connection is closed, and a normal request still gets through.
func TestSlowClientsAreCut(t *testing.T) {
	srv, err := NewServer(testConfig, lanes(), sim.Backends(3), simulate)
	if err != nil {
		t.Fatal(err)
	}
	hs := httpserver.New(srv)
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": hs.ReadHeaderTimeout, "ReadTimeout": hs.ReadTimeout,
		"WriteTimeout": hs.WriteTimeout, "IdleTimeout": hs.IdleTimeout} {
		if d <= 0 || d > time.Minute {
			t.Errorf("%s %v: want a bound of at most a minute", name, d)
		}
	}
	hs.ReadTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		io.WriteString(c, "POST /api/settings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("slow client %d still connected after 5s (server ReadTimeout 300ms)", i)
		}
		if len(b) > 0 && !strings.Contains(string(b), " 400 ") && !strings.Contains(string(b), " 408 ") {
			t.Errorf("slow client %d got %q", i, b)
		}
	}
	res, err := http.Get("http://" + ln.Addr().String() + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("normal GET after the slow clients: %d", res.StatusCode)
	}
}
