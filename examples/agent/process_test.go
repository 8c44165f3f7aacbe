package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/internal/testutil"
)

// runMainEnv makes the test binary run the agent's main instead of the
// tests: the process test starts the daemon as a real process this way.
const runMainEnv = "TITANLB_AGENT_RUN_MAIN"

func TestMain(m *testing.M) { testutil.MainOrTests(m, runMainEnv, main) }

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

// agentProc is the daemon running as a process inside the load
// balancer's namespace, started by [startAgent].
type agentProc struct {
	t      *testing.T
	tp     *e2eTopo
	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
	exited chan error
	client *http.Client // dials from inside lb, where the daemon listens on loopback
}

// startAgent starts the daemon with args inside lb, in a session of its
// own as a daemon would be (with the kernel's autogroup scheduling, its CPU
// share is then its own, not shared with this test's load); it is killed,
// if still running, when the test ends.
func startAgent(t *testing.T, tp *e2eTopo, args ...string) *agentProc {
	t.Helper()
	self, err := os.Executable()
	must(t, err)
	cmd := exec.Command("ip", append([]string{"netns", "exec", tp.lb.Name(), self}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	p := &agentProc{t: t, tp: tp, cmd: cmd, stderr: &testutil.SyncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { p.exited <- cmd.Wait(); close(done) }()
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = tp.lb.Do(func() error {
				var derr error
				c, derr = (&net.Dialer{}).DialContext(ctx, network, addr)
				return derr
			})
			return c, err
		},
	}}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails harmlessly when it has exited
		<-done
		p.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("agent %v stderr:\n%s", args, p.stderr.String())
		}
	})
	return p
}

// wait polls the metrics until cond holds, for at most e2eWait; it fails
// the test if the daemon exits meanwhile.
func (p *agentProc) wait(what string, cond func(map[string]float64) bool) map[string]float64 {
	p.t.Helper()
	deadline := time.Now().Add(e2eWait)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			p.t.Fatalf("agent exited early (%v) waiting for %s:\n%s", err, what, p.stderr.String())
		default:
		}
		resp, err := p.client.Get("http://127.0.0.1:9100/metrics")
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK { // else: cut short, or over the in-flight limit
				last = string(b)
				e, perr := parseExposition(last)
				must(p.t, perr)
				if cond(e.samples) {
					return e.samples
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("timed out waiting for %s; last metrics:\n%s", what, last)
	return nil
}

// waitLog waits until the daemon has logged msg, for at most e2eWait.
func (p *agentProc) waitLog(msg string) {
	p.t.Helper()
	for deadline := time.Now().Add(e2eWait); !strings.Contains(p.stderr.String(), msg); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatalf("the agent did not log %q within %v", msg, e2eWait)
		}
	}
}

// scrape reads /metrics, with a minute's patience and three tries (a
// scrape the daemon gives up after its own 10 s answers 503), and returns
// the body as served.
func (p *agentProc) scrape() []byte {
	p.t.Helper()
	c := &http.Client{Timeout: time.Minute, Transport: p.client.Transport}
	var last error
	for range 3 {
		res, err := c.Get("http://127.0.0.1:9100/metrics")
		if err != nil {
			last = err
			continue
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case err != nil:
			last = err
		case res.StatusCode != http.StatusOK:
			last = fmt.Errorf("GET /metrics: %d", res.StatusCode)
		default:
			return b
		}
	}
	p.t.Fatal(last)
	return nil
}

// exit waits for the daemon to exit after sig and returns its error.
func (p *agentProc) exit(sig os.Signal) error {
	p.t.Helper()
	must(p.t, p.cmd.Process.Signal(sig))
	select {
	case err := <-p.exited:
		return err
	case <-time.After(e2eWait):
		p.t.Fatalf("agent did not exit after %v", sig)
		return nil
	}
}

// xdpOn returns the XDP program attached to lb's eth0 as ip(8) names it,
// or "" when none is.
func (tp *e2eTopo) xdpOn(t *testing.T) string {
	t.Helper()
	out, err := tp.lb.Exec("ip", "-d", "link", "show", "eth0")
	must(t, err)
	if !strings.Contains(string(out), "xdp") {
		return ""
	}
	_, after, _ := strings.Cut(string(out), " name ")
	name, _, _ := strings.Cut(after, " ")
	return name
}

// configFile writes config files for the daemon, each replacing the last
// atomically: the daemon never reads half a file.
func configFile(t *testing.T) (path string, write func(string)) {
	path = filepath.Join(t.TempDir(), "agent.json")
	return path, func(s string) {
		t.Helper()
		must(t, atomicfile.WriteFile(path, []byte(s), 0o644))
	}
}

// TestE2EProcess runs the daemon as a process inside the load balancer's
// namespace: it attaches and pins, serves metrics, reloads on SIGHUP
// (keeping the running config when the new file is invalid), leaves the
// datapath attached on SIGTERM, and `agent -stop` detaches it.
func TestE2EProcess(t *testing.T) {
	tp := e2eBuild(t, 3)
	pin := testutil.BPFFS(t)
	path, write := configFile(t)
	write(e2eConfigJSON(0, 1, 2))
	a := startAgent(t, tp, "-config", path, "-metrics", "127.0.0.1:9100", "-pin", pin)

	m := a.wait("all backends up", func(m map[string]float64) bool {
		return m[upSeries(0)] == 1 && m[upSeries(1)] == 1 && m[upSeries(2)] == 1
	})
	if m["titanlb_agent_datapath_adopted"] != 0 {
		t.Error("a fresh start reports an adopted datapath")
	}
	first := tp.send(t, portRange(e2eFirstPort, 60))
	for b := range 3 {
		if count(first, b) == 0 {
			t.Fatalf("backend %d got no flow of 60: %v", b, first)
		}
	}

	// SIGHUP with backend 103 removed: it drains.
	const draining103 = `titanlb_agent_backend_draining{address="10.78.12.2",id="103",name="103"}`
	write(e2eConfigJSON(0, 1))
	must(t, a.cmd.Process.Signal(syscall.SIGHUP))
	m = a.wait("reload", func(m map[string]float64) bool { return m[`titanlb_agent_reloads_total{result="success"}`] == 1 })
	if m[draining103] != 1 {
		t.Fatalf("103 not draining after the reload: %v", m[draining103])
	}
	second := tp.send(t, portRange(e2eFirstPort, 60))
	if !maps.Equal(second, first) {
		t.Fatalf("a reload moved tracked flows (103 drains): %v, then %v", first, second)
	}
	if got := count(tp.send(t, portRange(e2eFirstPort+1000, 60)), 2); got != 0 {
		t.Fatalf("%d new flows reached draining 103", got)
	}

	// SIGHUP with an invalid file: logged, the running config stays.
	write(strings.Replace(e2eConfigJSON(0, 1), `"10.78.11.2"`, `"10.78.11"`, 1))
	must(t, a.cmd.Process.Signal(syscall.SIGHUP))
	m = a.wait("failed reload", func(m map[string]float64) bool { return m[`titanlb_agent_reloads_total{result="failure"}`] == 1 })
	if m[draining103] != 1 || m[upSeries(1)] != 1 {
		t.Fatalf("after the failed reload: 103 draining %v, 102 up %v; want 1, 1", m[draining103], m[upSeries(1)])
	}
	// The failure counter and the log line are written one after the
	// other: wait for the line rather than race it.
	const reloadErr = `config: backends[1].address \"10.78.11\": not an IPv4 or IPv6 address`
	for deadline := time.Now().Add(e2eWait); !strings.Contains(a.stderr.String(), reloadErr); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the failed reload is not logged with the field:\n%s", a.stderr.String())
		}
	}

	// SIGTERM: the control plane exits cleanly, the datapath stays and
	// keeps forwarding every tracked flow where it was.
	if err := a.exit(syscall.SIGTERM); err != nil {
		t.Fatalf("exit status after SIGTERM: %v", err)
	}
	if !strings.Contains(a.stderr.String(), "control plane stopped; the datapath stays attached, pinned") {
		t.Errorf("no word of the pinned datapath on exit:\n%s", a.stderr.String())
	}
	if got := tp.xdpOn(t); got != "xdp_titan" {
		t.Fatalf("after SIGTERM eth0 runs %q, want xdp_titan", got)
	}
	if third := tp.send(t, portRange(e2eFirstPort, 60)); !maps.Equal(third, first) {
		t.Fatalf("flows moved with the agent gone: %v, then %v", first, third)
	}

	// agent -stop: detached, pins removed.
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"-stop", "-iface", "eth0", "-pin", pin}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("agent -stop: %d, %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "datapath detached, pins removed: "+filepath.Join(pin, "eth0")) {
		t.Errorf("agent -stop said %q", stdout.String())
	}
	if got := tp.xdpOn(t); got != "" {
		t.Fatalf("after agent -stop eth0 runs %q", got)
	}
	if _, err := os.Stat(filepath.Join(pin, "eth0")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pins after agent -stop: %v", err)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"-stop", "-iface", "eth0", "-pin", pin}, nil, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "nothing pinned at") {
		t.Errorf("a second agent -stop: %d, %q", code, stdout.String())
	}
}
