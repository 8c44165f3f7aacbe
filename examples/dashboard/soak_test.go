package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/titanlb/titanlb/internal/httpserver"
	"github.com/titanlb/titanlb/internal/testutil"
)

// runMainEnv makes the test binary run the dashboard's main: the soak test
// starts the server as a process of its own, to measure it alone.
const runMainEnv = "TITANLB_DASHBOARD_RUN_MAIN"

func TestMain(m *testing.M) { testutil.MainOrTests(m, runMainEnv, main) }

// Bounds the soak asserts, for a load below the server's connection limit.
const (
	soakMaxRSS     = 256 << 20
	soakMaxFDs     = httpserver.MaxConns + 64
	soakMaxP99     = 2 * time.Second
	soakSlowBodies = 80 // connections sending one byte of a 4,000-byte body, then nothing
	soakSlowHeads  = 40 // connections sending their headers one byte a second
	soakBurst      = 50 // concurrent GETs, once a second
	soakStorm      = 10 // goroutines posting settings and backend flaps without pause
)

// TestSoak runs the dashboard as a process under bounded abusive load for
// TITANLB_SOAK_DURATION (60s by default; TITANLB_SOAK=1 turns it on): slow
// bodies and slow headers held open, bursts of GETs, a storm of settings
// changes and backend flaps (each wakes the simulation), and junk (bodies
// too large, cross-origin writes, foreign hosts, not JSON). A probe polls
// the state as the page does, ten times a second. The server's resident
// memory and open descriptors are sampled from /proc every half second.
// Asserted: every probe answered, p99 latency, memory and descriptors
// bounded, and memory not growing from the first quarter to the end.
func TestSoak(t *testing.T) {
	d := testutil.Soak(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-addr", "127.0.0.1:0", "-flows", "300", "-duration", "100ms", "-interval", "200ms")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := waitServing(t, &stdout, &stderr)
	addr := strings.TrimPrefix(url, "http://")

	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var wg sync.WaitGroup
	var junk, junkRefused, stormOK, burstOK, burstFail atomic.Int64
	raw := func(do func(net.Conn)) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		do(c)
	}
	for range soakSlowBodies {
		wg.Go(func() {
			for ctx.Err() == nil {
				raw(func(c net.Conn) {
					io.WriteString(c, "POST /api/settings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
					io.Copy(io.Discard, c) // until the server cuts it
				})
			}
		})
	}
	for range soakSlowHeads {
		wg.Go(func() {
			for ctx.Err() == nil {
				raw(func(c net.Conn) {
					for _, b := range []byte("GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") {
						if _, err := c.Write([]byte{b}); err != nil || ctx.Err() != nil {
							return
						}
						time.Sleep(time.Second)
					}
				})
			}
		})
	}
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path, body string, hdr ...string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, url+path, strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Set(hdr[i], hdr[i+1])
			}
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	wg.Go(func() { // bursts
		testutil.Every(ctx, time.Second, func() {
			var bw sync.WaitGroup
			for range soakBurst {
				bw.Go(func() {
					if code, err := do("GET", "/api/state", ""); err == nil && code == 200 {
						burstOK.Add(1)
					} else if ctx.Err() == nil {
						burstFail.Add(1)
					}
				})
			}
			bw.Wait()
		})
	})
	for i := range soakStorm {
		wg.Go(func() { // settings and backend flaps, without pause
			for n := 0; ctx.Err() == nil; n++ {
				var code int
				var err error
				if i%2 == 0 {
					code, err = do("POST", "/api/settings", fmt.Sprintf(`{"fragment_rate": %.2f}`, float64(n%101)/100), "Content-Type", "application/json")
				} else {
					code, err = do("POST", "/api/backends/103", fmt.Sprintf(`{"up": %v}`, n%2 == 0), "Content-Type", "application/json")
				}
				if err == nil && code == 200 {
					stormOK.Add(1)
				}
			}
		})
	}
	wg.Go(func() { // junk, 50 a second
		bad := [][]string{
			{"POST", "/api/settings", strings.Repeat(" ", 10000) + "{}", "Content-Type", "application/json"},
			{"POST", "/api/backends/102", `{"up": false}`, "Origin", "http://evil.example", "Content-Type", "application/json"},
			{"POST", "/api/settings", `{"fragment_rate": 1}`, "Content-Type", "text/plain"},
			{"GET", "/api/state", "", "Host", "evil.example"},
			{"POST", "/api/settings", `{"reorder": 0.1}GARBAGE{{{`, "Content-Type", "application/json"},
			{"POST", "/api/settings", `[1, 2, 3]`, "Content-Type", "application/json"},
		}
		n := 0
		testutil.Every(ctx, 20*time.Millisecond, func() {
			r := bad[n%len(bad)]
			n++
			if code, err := do(r[0], r[1], r[2], r[3:]...); err == nil {
				junk.Add(1)
				if code >= 400 {
					junkRefused.Add(1)
				}
			}
		})
	})

	// The probe and the samples.
	pc := &http.Client{Timeout: 10 * time.Second}
	w := testutil.Watch(ctx, t, 100*time.Millisecond, func() error {
		_, err := testutil.GetOK(pc, url+"/api/state")
		return err
	}, cmd.Process.Pid, "server", stderr.String)
	lat, probeFail, samples, elapsed := w.Latencies, w.Failures, w.Samples, w.Elapsed
	wg.Wait()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}

	maxRSS, maxFDs := w.Peak()
	quarter, last := samples[len(samples)/4], samples[len(samples)-1]
	p50, p99, pmax := testutil.Quantile(lat, 0.5), testutil.Quantile(lat, 0.99), testutil.Quantile(lat, 1)
	t.Logf("dashboard soak, %v: %d probes, p50 %v, p99 %v, max %v, %d failed", elapsed.Round(time.Second), len(lat), p50, p99, pmax, len(probeFail))
	t.Logf("RSS max %.1f MiB (quarter %.1f, end %.1f); open fds max %d (limit %d connections)",
		float64(maxRSS)/(1<<20), float64(quarter.RSS)/(1<<20), float64(last.RSS)/(1<<20), maxFDs, httpserver.MaxConns)
	t.Logf("load: %d slow bodies and %d slow headers held, %d burst GETs ok (%d failed), %d storm writes ok, %d junk requests (%d refused)",
		soakSlowBodies, soakSlowHeads, burstOK.Load(), burstFail.Load(), stormOK.Load(), junk.Load(), junkRefused.Load())
	if len(probeFail) > 0 {
		t.Errorf("%d probes failed, first: %v", len(probeFail), probeFail[0])
	}
	if p99 > soakMaxP99 {
		t.Errorf("probe p99 %v, want at most %v", p99, soakMaxP99)
	}
	if maxRSS > soakMaxRSS || maxFDs > soakMaxFDs {
		t.Errorf("RSS max %d B (bound %d), fds max %d (bound %d)", maxRSS, soakMaxRSS, maxFDs, soakMaxFDs)
	}
	if last.RSS > quarter.RSS*3/2+16<<20 {
		t.Errorf("memory grows: %d B at a quarter, %d B at the end", quarter.RSS, last.RSS)
	}
	if junk.Load() > 0 && junkRefused.Load() != junk.Load() {
		t.Errorf("%d of %d junk requests accepted", junk.Load()-junkRefused.Load(), junk.Load())
	}
}
