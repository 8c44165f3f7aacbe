package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runMainEnv makes the test binary run the agent's main instead of the
// tests: the process test starts the daemon as a real process this way.
const runMainEnv = "TITANLB_AGENT_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// e2eConfigJSON is the config file of the process test, with the given
// backends (indexes into the topology's).
func e2eConfigJSON(backends ...int) string {
	var bs []string
	for _, i := range backends {
		bs = append(bs, fmt.Sprintf(`{"id":%d,"name":"%d","address":"%s","health_port":%d}`, 101+i, 101+i, e2eBackend(i), e2eHealthPort))
	}
	return fmt.Sprintf(`{
  "interface": "eth0",
  "vips": ["%s"],
  "program": {"attach_mode": "generic"},
  "health": {"interval": "250ms", "timeout": "250ms", "rise": 2, "fall": 2, "drain": "1h"},
  "backends": [%s]
}`, e2eVIP, strings.Join(bs, ",\n    "))
}

// TestE2EProcess runs the daemon as a process inside the load balancer's
// namespace: it attaches, serves metrics, reloads on SIGHUP (keeping the
// running config when the new file is invalid) and detaches on SIGTERM.
func TestE2EProcess(t *testing.T) {
	tp := e2eBuild(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.json")
	write := func(s string) {
		t.Helper()
		// Write a new file and rename it over the old: the agent never
		// reads half a file.
		tmp := path + ".tmp"
		must(t, os.WriteFile(tmp, []byte(s), 0o644))
		must(t, os.Rename(tmp, path))
	}
	write(e2eConfigJSON(0, 1, 2))

	self, err := os.Executable()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", tp.lb.Name(), self, "-config", path, "-metrics", "127.0.0.1:9100")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails harmlessly when it has exited
		<-done
		if t.Failed() {
			t.Logf("agent stderr:\n%s", stderr.String())
		}
	})

	// Scrape from inside lb, where the daemon listens on loopback.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = tp.lb.Do(func() error {
				var derr error
				c, derr = (&net.Dialer{}).DialContext(ctx, network, addr)
				return derr
			})
			return c, err
		},
	}}
	t.Cleanup(client.CloseIdleConnections)
	wait := func(what string, cond func(map[string]float64) bool) map[string]float64 {
		t.Helper()
		deadline := time.Now().Add(e2eWait)
		var last string
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				t.Fatalf("agent exited early (%v) waiting for %s:\n%s", err, what, stderr.String())
			default:
			}
			resp, err := client.Get("http://127.0.0.1:9100/metrics")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				last = string(b)
				e, perr := parseExposition(last)
				must(t, perr)
				if cond(e.samples) {
					return e.samples
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s; last metrics:\n%s", what, last)
		return nil
	}

	wait("all backends up", func(m map[string]float64) bool {
		return m[upSeries(0)] == 1 && m[upSeries(1)] == 1 && m[upSeries(2)] == 1
	})
	first := tp.send(t, portRange(e2eFirstPort, 60))
	for b := range 3 {
		if count(first, b) == 0 {
			t.Fatalf("backend %d got no flow: count(first, b) is 0", b)
		}
	}

	// SIGHUP with backend 103 removed: it drains.
	write(e2eConfigJSON(0, 1))
	must(t, cmd.Process.Signal(syscall.SIGHUP))
	m := wait("reload", func(m map[string]float64) bool { return m[`titanlb_agent_reloads_total{result="success"}`] == 1 })
	if got := m[`titanlb_agent_backend_draining{address="10.78.12.2",id="103",name="103"}`]; got != 1.0 {
		t.Fatalf("m[`titanlb_agent_backend_draining{address=\"10.78.12.2\",id=\"103\",name=\"103\"}`] = %v, want %v", got, 1.0)
	}
	second := tp.send(t, portRange(e2eFirstPort, 60))
	if !maps.Equal(second, first) {
		t.Fatalf("a reload moved tracked flows (103 drains): %v, then %v", first, second)
	}
	if got := count(tp.send(t, portRange(e2eFirstPort+1000, 60)), 2); got != 0 {
		t.Fatalf("no new flow on draining 103: count(tp.send(t, portRange(e2eFirstPort+1000, 60)), 2) = %v, want 0", got)
	}

	// SIGHUP with an invalid file: logged, the running config stays.
	write(strings.Replace(e2eConfigJSON(0, 1), `"10.78.11.2"`, `"10.78.11"`, 1))
	must(t, cmd.Process.Signal(syscall.SIGHUP))
	m = wait("failed reload", func(m map[string]float64) bool { return m[`titanlb_agent_reloads_total{result="failure"}`] == 1 })
	if got := m[`titanlb_agent_backend_draining{address="10.78.12.2",id="103",name="103"}`]; got != 1.0 {
		t.Fatalf("m[`titanlb_agent_backend_draining{address=\"10.78.12.2\",id=\"103\",name=\"103\"}`] = %v, want %v", got, 1.0)
	}
	if got := m[upSeries(1)]; got != 1.0 {
		t.Fatalf("m[upSeries(1)] = %v, want %v", got, 1.0)
	}
	// The failure counter and the log line are written one after the
	// other: wait for the line rather than race it.
	const reloadErr = `config: backends[1].address \"10.78.11\": not an IPv4 address`
	for deadline := time.Now().Add(e2eWait); !strings.Contains(stderr.String(), reloadErr); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the failed reload is not logged with the field:\n%s", stderr.String())
		}
	}

	// SIGTERM: a clean exit that detaches the program.
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit status: %v", err)
		}
	case <-time.After(e2eWait):
		t.Fatal("agent did not exit after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "program detached and unloaded") {
		t.Fatalf("%q does not contain %q", stderr.String(), "program detached and unloaded")
	}
	out, err := tp.lb.Exec("ip", "-d", "link", "show", "eth0")
	must(t, err)
	if strings.Contains(string(out), "xdp") {
		t.Fatalf("program detached: %q contains %q", string(out), "xdp")
	}
}
