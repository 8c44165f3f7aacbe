package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/internal/browsertest"
	"github.com/titanlb/titanlb/sim"
)

// TestBrowser drives the page in headless Chromium as a user would: drag the
// fragmentation slider to 100%, watch Titan stay whole while Katran
// collapses, switch backend 103 off and watch its slots leave the ring. It
// saves a screenshot under the test's temporary directory (and, when
// TITANLB_SCREENSHOT_DIR is set, there too).
// runLoop runs srv's simulation loop until the test ends.
func runLoop(t *testing.T, srv *Server) {
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go srv.Loop(ctx)
}

// waitJS polls the JavaScript predicate js in the browser ctx until it
// holds, and fails t naming what it waited for after 90 s.
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v\npredicate: %s", what, err, js)
	}
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	ctx := browsertest.New(t, 3*time.Minute)

	srv, hs := newTestServer(t, Config{Flows: 200, Duration: 100 * time.Millisecond, Interval: 100 * time.Millisecond})
	runLoop(t, srv)

	wait := func(what, js string) {
		t.Helper()
		waitJS(t, ctx, what, js)
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		p := filepath.Join(t.TempDir(), name)
		if err := atomicfile.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
		if dir := os.Getenv("TITANLB_SCREENSHOT_DIR"); dir != "" {
			if err := atomicfile.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	metric := func(b, m string) string {
		return `Number(document.querySelector('[data-balancer="` + b + `"] [data-metric="` + m + `"]').textContent)`
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL)); err != nil {
		t.Fatal(err)
	}
	wait("the first figures and the full ring", `document.querySelector('[data-balancer="titan"]') !== null &&
		document.querySelector('[data-balancer="titan"]').dataset.version !== undefined &&
		document.querySelectorAll('#ring rect[data-backend="103"]').length > 0`)

	// The ring bar is the ring as it is: no drawn cell is a longer run
	// than the ring has, and 101-103 are blue, indigo and purple.
	srv.mu.Lock()
	longest := slices.Max(runs(srv.slots))
	srv.mu.Unlock()
	widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`[...document.querySelectorAll('#ring rect')].map(r => Number(r.getAttribute('width')))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(widths) == 0 || slices.Max(widths) > float64(longest) {
		t.Errorf("ring bar: %d cells, widest %v slots; the ring's longest run is %d", len(widths), slices.Max(append(widths, 0)), longest)
	}
	fills, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries(["101","102","103"].map(id =>
		[id, document.querySelector('#ring rect[data-backend="' + id + '"]').getAttribute('fill')]))`))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"101": "#3b82f6", "102": "#6366f1", "103": "#a855f7"} {
		if fills[id] != want {
			t.Errorf("backend %s drawn %q, want %s", id, fills[id], want)
		}
	}

	// Drag the slider's thumb from 0% past its right end.
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
		const r = document.getElementById('frag').getBoundingClientRect();
		return [r.left, r.top, r.width, r.height];
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	y := box[1] + box[3]/2
	if err := chromedp.Do(ctx, chromedp.DragAndDropXY(box[0]+4, y, box[0]+box[2]+40, y, 20)); err != nil {
		t.Fatalf("drag the slider: %v", err)
	}
	wait("the slider at 100%", `document.getElementById('frag-value').textContent === '100%'`)
	wait("Titan whole and Katran collapsed at 100% fragmentation",
		`document.querySelector('[data-balancer="titan"]').dataset.fragmentRate === '1' &&
		`+metric("titan", "reliability")+` >= 0.99 && `+metric("katran", "reliability")+` <= 0.1`)
	titan, err := chromedp.Run(ctx, chromedp.Evaluate[float64](metric("titan", "reliability")))
	if err != nil {
		t.Fatal(err)
	}
	katran, err := chromedp.Run(ctx, chromedp.Evaluate[float64](metric("katran", "reliability")))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("at 100%% fragmentation the page shows Titan %.3f, Katran %.3f", titan, katran)
	// The server agrees with what the page shows.
	if st := srv.State(); st.Settings.FragmentRate != 1 {
		t.Errorf("server fragment_rate = %v after the drag, want 1", st.Settings.FragmentRate)
	}

	// Switch 103 off: its slots leave the ring, the others take them.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`label:has(#be-103) .track`))); err != nil {
		t.Fatalf("click switch 103: %v", err)
	}
	wait("103's slots gone from the ring", `document.querySelectorAll('#ring rect[data-backend="103"]').length === 0 &&
		document.querySelectorAll('#ring rect[data-backend="101"]').length > 0 &&
		document.querySelectorAll('#ring rect[data-backend="102"]').length > 0 &&
		document.querySelector('[data-slots="103"]').textContent === '0' &&
		!document.getElementById('be-103').checked`)
	for _, b := range srv.State().Backends {
		if b.ID == 103 && b.Up {
			t.Error("server still has 103 up after the switch")
		}
	}
	screenshot("dashboard.png")
}

// TestBrowserServices drives the page of -services: one ring per service
// over its pool, each balancer's figures per service (a balancer without
// SetServices shown as left out), a pool changed by unticking a backend.
func TestBrowserServices(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	ctx := browsertest.New(t, 3*time.Minute)
	srv, hs := newTestServer(t, Config{Flows: 200, Duration: 100 * time.Millisecond, Interval: 100 * time.Millisecond, Services: twoServices(sim.Backends(3))})
	runLoop(t, srv)
	wait := func(what, js string) {
		t.Helper()
		waitJS(t, ctx, what, js)
	}
	rects := func(ring int, backend string) string {
		return `document.querySelectorAll('svg[data-ring="` + strconv.Itoa(ring) + `"] rect[data-backend="` + backend + `"]').length`
	}
	perService := func(b, key string) string {
		return `Number(document.querySelector('[data-balancer="` + b + `"] [data-service-metric="` + key + `"]').dataset.reliability)`
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL)); err != nil {
		t.Fatal(err)
	}
	wait("two service rings over their pools", `document.querySelectorAll('.service').length === 2 &&
		`+rects(0, "101")+` > 0 && `+rects(0, "102")+` > 0 && `+rects(0, "103")+` === 0 &&
		`+rects(1, "102")+` > 0 && `+rects(1, "103")+` > 0 && `+rects(1, "101")+` === 0 &&
		getComputedStyle(document.getElementById('ring')).display === 'none'`)

	in, out := serving(t)
	for _, name := range out {
		wait(name+" shown as left out", `document.querySelector('[data-balancer="`+name+`"]').dataset.leftOut === '1' &&
			document.querySelector('[data-balancer="`+name+`"] .left-out').textContent.includes('ServiceSetter')`)
	}
	// At 100% fragmentation, in order: Katran loses every datagram of
	// both services, Cilium keeps them whole; the cards show it per
	// service.
	var st State
	if code := postJSON(t, hs.URL+"/api/settings", `{"fragment_rate": 1}`, &st); code != 200 {
		t.Fatalf("POST settings: %d", code)
	}
	for _, key := range []string{"192.0.2.1:443/udp", "192.0.2.1:8443/udp"} {
		for _, name := range in {
			cond := perService(name, key) + ` >= 0.99`
			if name == "katran" {
				cond = perService(name, key) + ` <= 0.01`
			}
			wait(name+" on "+key+" at 100% fragmentation", `document.querySelector('[data-balancer="`+name+`"]').dataset.fragmentRate === '1' && `+cond)
		}
	}
	// Untick 101 in the first service's pool: its ring is 102's alone.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#pool-0-101`))); err != nil {
		t.Fatalf("click 101 in service 0's pool: %v", err)
	}
	wait("service 0's ring without 101", rects(0, "101")+` === 0 && `+rects(0, "102")+` > 0 && !document.getElementById('pool-0-101').checked`)
	if got := srv.State().Services[0].Pool; !slices.Equal(got, []uint32{102}) {
		t.Errorf("server pool of service 0: %v, want [102]", got)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(t.TempDir(), "dashboard-services.png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
	if dir := os.Getenv("TITANLB_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "dashboard-services.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// postJSON posts body to url as JSON and decodes the answer into out.
func postJSON(t *testing.T, url, body string, out any) int {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}
