package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/internal/netns"
	"github.com/titanlb/titanlb/internal/testutil"
)

// The soak's backends: MaxBackends of them, soakLive answering on
// 10.201.0.0/24 (addresses on lo), the others black holes on
// 10.200.0.0/16, routed into a namespace that drops them: a SYN there
// vanishes and the connect waits for the whole timeout.
const (
	soakN        = 1024 // backends of the abusive soak (the schedule at MaxBackends is TestHealthScheduleAtLimit's)
	soakLive     = 64
	soakFlapping = 16 // of the live ones, stopping and starting
	soakPort     = 8080
)

func soakAddr(i int) netip.Addr {
	if i < soakLive {
		return netip.AddrFrom4([4]byte{10, 201, 0, byte(1 + i)})
	}
	return netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)})
}

// soakConfig is a config of the backends whose index keep accepts.
func soakConfig(interval, timeout time.Duration, keep func(int) bool) string {
	var bs []string
	for i := range MaxBackends {
		if keep(i) {
			bs = append(bs, fmt.Sprintf(`{"id":%d,"address":"%s","health_port":%d}`, i, soakAddr(i), soakPort))
		}
	}
	return fmt.Sprintf(`{"interface":"eth0","vips":["10.202.0.1"],"program":{"attach_mode":"generic"},
"health":{"interval":"%v","timeout":"%v","rise":2,"fall":2,"drain":"2s"},"backends":[%s]}`, interval, timeout, strings.Join(bs, ",\n"))
}

// soakNS builds the agent's namespace: eth0, where the program attaches,
// leads to a namespace that drops what it gets, and 10.200.0.0/16 is
// routed there through a neighbour entry that needs no ARP; lo holds the
// live backends' addresses, each with a listener.
func soakNS(t *testing.T) (*netns.NS, []*nsListener) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBPF(t)
	netns.Require(t)
	tok := netns.Token()
	ns, err := netns.New(t, "tlbsoak-"+tok)
	must(t, err)
	hole, err := netns.New(t, "tlbhole-"+tok)
	must(t, err)
	must(t, netns.Veth(ns, "eth0", hole, "hole0", 1500))
	mac, _, err := hole.Interface("hole0")
	must(t, err)
	must(t, ns.IP("addr", "add", "10.199.0.1/30", "dev", "eth0"))
	must(t, ns.IP("neigh", "replace", "10.199.0.2", "lladdr", mac.String(), "dev", "eth0", "nud", "permanent"))
	must(t, ns.IP("route", "add", "10.200.0.0/16", "via", "10.199.0.2", "dev", "eth0"))
	var ls []*nsListener
	for i := range soakLive {
		must(t, ns.IP("addr", "add", soakAddr(i).String()+"/32", "dev", "lo"))
		l := &nsListener{t: t, ns: ns, addr: netip.AddrPortFrom(soakAddr(i), soakPort).String()}
		l.start()
		t.Cleanup(l.stop)
		ls = append(ls, l)
	}
	return ns, ls
}

// spacing is how a backend's checks were spaced between two scrapes, from
// titanlb_agent_health_check_spacing_intervals: the mean, in intervals, and
// the share of spacings over 1.5 intervals.
func spacing(m0, m1 map[string]float64) (mean, over float64) {
	const h = "titanlb_agent_health_check_spacing_intervals"
	n := m1[h+"_count"] - m0[h+"_count"]
	if n == 0 {
		return 0, 1
	}
	within := m1[h+`_bucket{le="1.5"}`] - m0[h+`_bucket{le="1.5"}`]
	return (m1[h+"_sum"] - m0[h+"_sum"]) / n, 1 - within/n
}

// checksOf sums the failed health checks of the black-hole backends with
// ids below below, and returns how many there are, from a scrape.
func checksOf(m map[string]float64, below int) (checks float64, n int) {
	for k, v := range m {
		var a, b, c, d, id int
		if _, err := fmt.Sscanf(k, `titanlb_agent_health_checks_total{address="%d.%d.%d.%d",id="%d",`, &a, &b, &c, &d, &id); err != nil {
			continue
		}
		if a == 10 && b == 200 && id < below && strings.HasSuffix(k, `result="failure"}`) {
			checks += v
			n++
		}
	}
	return checks, n
}

// TestSoak runs the agent as a process over soakN backends, 960 of them
// black holes, under bounded abusive load for TITANLB_SOAK_DURATION
// (60s by default; TITANLB_SOAK=1 turns it on; root): 16 live backends
// flapping, a reload storm (a SIGHUP every 100 ms: a valid file, one
// without 96 backends, one with a bad address, and a FIFO in the file's
// place), slow clients on the metrics port and bursts of scrapes. A probe
// scrapes four times a second. Asserted: every probe answered, p99
// latency, memory and descriptors bounded and not growing, and the health
// schedule held: a backend's checks one interval apart on average.
func TestSoak(t *testing.T) {
	d := testutil.Soak(t)
	ns, live := soakNS(t)
	pin := testutil.BPFFS(t)
	const interval, timeout = time.Second, 500 * time.Millisecond
	path, write := configFile(t)
	full := soakConfig(interval, timeout, func(i int) bool { return i < soakN })
	fewer := soakConfig(interval, timeout, func(i int) bool { return i < soakN-96 })
	bad := strings.Replace(fewer, `"`+soakAddr(100).String()+`"`, `"10.200.0"`, 1)
	write(full)
	fifo := filepath.Join(filepath.Dir(path), "fifo")
	must(t, syscall.Mkfifo(fifo, 0o600))

	a := startAgent(t, &e2eTopo{lb: ns}, "-config", path, "-metrics", "127.0.0.1:9100", "-pin", pin)
	a.wait("the first round", func(m map[string]float64) bool { return m["titanlb_agent_health_rounds_total"] >= 1 })
	cpu0, err := cpuTime(a.cmd.Process.Pid)
	must(t, err)

	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var wg sync.WaitGroup
	var reloads, scrapesOK, scrapesRefused atomic.Int64
	wg.Go(func() { // flapping
		for n := 0; ctx.Err() == nil; n++ {
			for _, l := range live[:soakFlapping] {
				if n%2 == 0 {
					l.stop()
				} else {
					l.start()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(700 * time.Millisecond):
			}
		}
		for _, l := range live[:soakFlapping] {
			l.stop()
			l.start()
		}
	})
	wg.Go(func() { // reload storm
		files := []string{full, fewer, bad, "FIFO", full}
		put := func(f string) error {
			if f != "FIFO" {
				os.Remove(path) // a FIFO left there: atomicfile replaces regular files only
				return atomicfile.WriteFile(path, []byte(f), 0o644)
			}
			os.Remove(path + ".fifo")
			if err := os.Link(fifo, path+".fifo"); err != nil {
				return err
			}
			return os.Rename(path+".fifo", path)
		}
		for n := 0; ctx.Err() == nil; n++ {
			f := files[n%len(files)]
			if err := put(f); err != nil {
				t.Error(err)
				return
			}
			a.cmd.Process.Signal(syscall.SIGHUP)
			reloads.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err := put(full); err != nil {
			t.Error(err)
		}
		a.cmd.Process.Signal(syscall.SIGHUP)
	})
	dialNS := func(ctx context.Context) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", "127.0.0.1:9100")
			return err
		})
		return c, err
	}
	for range 60 { // slow clients
		wg.Go(func() {
			for ctx.Err() == nil {
				c, err := dialNS(ctx)
				if err != nil {
					continue
				}
				stop := context.AfterFunc(ctx, func() { c.Close() })
				io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
				io.Copy(io.Discard, c) // until the server cuts it
				stop()
				c.Close()
			}
		})
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialNS(ctx) },
	}}
	wg.Go(func() { // bursts of 3 scrapes a second (promhttp serves 4 at once)
		testutil.Every(ctx, time.Second, func() {
			var bw sync.WaitGroup
			for range 3 {
				bw.Go(func() {
					res, err := client.Get("http://127.0.0.1:9100/metrics")
					if err != nil {
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode == 200 {
						scrapesOK.Add(1)
					} else {
						scrapesRefused.Add(1)
					}
				})
			}
			bw.Wait()
		})
	})

	// The probe, the samples, and the schedule between two scrapes.
	var first, last []byte
	var firstAt, lastAt time.Time
	start := time.Now()
	w := testutil.Watch(ctx, t, 250*time.Millisecond, func() error {
		t0 := time.Now()
		body, err := testutil.GetOK(client, "http://127.0.0.1:9100/metrics")
		if err != nil {
			return err
		}
		if time.Since(start) > d/4 { // past the first quarter: steady state
			if first == nil {
				first, firstAt = body, t0
			}
			last, lastAt = body, t0
		}
		return nil
	}, a.cmd.Process.Pid, "agent", a.stderr.String)
	lat, probeFail, samples, elapsed := w.Latencies, w.Failures, w.Samples, w.Elapsed
	cpu1, err := cpuTime(a.cmd.Process.Pid)
	must(t, err)
	wg.Wait()
	last1000 := fmt.Sprintf(`{address="%s",id="1000",name="1000"}`, soakAddr(1000))
	m := a.wait("the full config back", func(m map[string]float64) bool {
		return m["titanlb_agent_backend_draining"+last1000] == 0 && m["titanlb_agent_backend_weight"+last1000] == 1
	})
	if err := a.exit(syscall.SIGTERM); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}

	maxRSS, maxFDs := w.Peak()
	quarter, end := samples[len(samples)/4], samples[len(samples)-1]
	if first == nil {
		t.Fatal("no scrape after the first quarter")
	}
	e0, err := parseExposition(string(first))
	must(t, err)
	e1, err := parseExposition(string(last))
	must(t, err)
	c0, n := checksOf(e0.samples, soakN-96)
	c1, _ := checksOf(e1.samples, soakN-96)
	span := lastAt.Sub(firstAt)
	perInterval := (c1 - c0) / float64(n) / (span.Seconds() / interval.Seconds())
	mean, over := spacing(e0.samples, e1.samples)
	p50, p99, pmax := testutil.Quantile(lat, 0.5), testutil.Quantile(lat, 0.99), testutil.Quantile(lat, 1)
	t.Logf("agent soak, %v, %d backends (%d black holes) every %v, timeout %v; the agent used %.2f CPU-seconds a second",
		elapsed.Round(time.Second), soakN, soakN-soakLive, interval, timeout, (cpu1-cpu0).Seconds()/elapsed.Seconds())
	t.Logf("schedule: a backend's checks %.3f intervals apart on average, %.2f%% over 1.5 intervals; each black hole checked %.3f times per interval over %v (this process's clock); %v checks overlapping, %v skipped; rounds %v",
		mean, 100*over, perInterval, span.Round(time.Second), m["titanlb_agent_health_checks_overlapping_total"], m["titanlb_agent_health_checks_skipped_total"], m["titanlb_agent_health_rounds_total"])
	t.Logf("probe scrapes: %d, p50 %v, p99 %v, max %v, %d failed; burst scrapes %d ok, %d refused (in-flight limit); %d reloads (%v ok, %v refused)",
		len(lat), p50, p99, pmax, len(probeFail), scrapesOK.Load(), scrapesRefused.Load(), reloads.Load(),
		m[`titanlb_agent_reloads_total{result="success"}`], m[`titanlb_agent_reloads_total{result="failure"}`])
	t.Logf("RSS max %.1f MiB (quarter %.1f, end %.1f); open fds max %d", float64(maxRSS)/(1<<20), float64(quarter.RSS)/(1<<20), float64(end.RSS)/(1<<20), maxFDs)

	if len(probeFail) > 0 {
		t.Errorf("%d probe scrapes failed, first: %v", len(probeFail), probeFail[0])
	}
	if p99 > 2*time.Second {
		t.Errorf("probe p99 %v, want at most 2s", p99)
	}
	if mean < 0.98 || mean > 1.02 || over > 0.1 {
		t.Errorf("checks %.3f intervals apart on average, %.2f%% over 1.5 intervals; want 1 (±2%%), at most 10%%", mean, 100*over)
	}
	if maxFDs > 2*soakN+fdReserve || maxRSS > 256<<20 {
		t.Errorf("fds max %d (bound %d), RSS max %d B (bound 256 MiB)", maxFDs, 2*soakN+fdReserve, maxRSS)
	}
	if end.RSS > quarter.RSS*3/2+32<<20 {
		t.Errorf("memory grows: %d B at a quarter, %d B at the end", quarter.RSS, end.RSS)
	}
	if !slices.ContainsFunc(strings.Split(a.stderr.String(), "\n"), func(l string) bool { return strings.Contains(l, "not a regular file (a named pipe)") }) {
		t.Errorf("no FIFO reload refused in the log")
	}
}

// cpuTime is the user and system CPU time pid has used
// (/proc/pid/stat, fields 14 and 15, in clock ticks of 100 Hz).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	_, rest, ok := strings.Cut(string(b), ") ") // the command may hold spaces
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// TestHealthScheduleAtLimit measures the health schedule at the largest
// backend set the agent accepts, with nothing else to do: MaxBackends
// backends, 4032 of them black holes that hold each check for the whole
// timeout, at the given interval and timeout. Opt-in with the soak
// (TITANLB_SOAK=1, root); it runs for TITANLB_SOAK_DURATION.
func TestHealthScheduleAtLimit(t *testing.T) {
	d := testutil.Soak(t)
	for _, tc := range []struct {
		n                 int
		interval, timeout time.Duration
	}{
		{1024, time.Second, 500 * time.Millisecond},
		{2048, time.Second, 500 * time.Millisecond},
		{MaxBackends, time.Second, 500 * time.Millisecond}, // the defaults: the shortest interval and the longest timeout 4096 backends may have
		{MaxInFlight, time.Second, time.Second},            // the longest timeout, at MaxInFlight backends
	} {
		t.Run(fmt.Sprintf("%d-%v-%v", tc.n, tc.interval, tc.timeout), func(t *testing.T) {
			ns, _ := soakNS(t)
			pin := testutil.BPFFS(t)
			path, write := configFile(t)
			write(soakConfig(tc.interval, tc.timeout, func(i int) bool { return i < tc.n }))
			a := startAgent(t, &e2eTopo{lb: ns}, "-config", path, "-metrics", "127.0.0.1:9100", "-pin", pin)
			a.waitLog("first round of health checks")
			time.Sleep(2 * tc.interval)
			// As little work in this process as can be: it shares the
			// machine with the agent. Two scrapes, parsed at the end.
			b0 := a.scrape()
			t0 := time.Now()
			cpu0, err := cpuTime(a.cmd.Process.Pid)
			must(t, err)
			var peak float64
			var samples []testutil.ProcSample
			for time.Since(t0) < d {
				time.Sleep(500 * time.Millisecond)
				s, err := testutil.SampleProc(a.cmd.Process.Pid)
				must(t, err)
				samples = append(samples, s)
			}
			cpu1, err := cpuTime(a.cmd.Process.Pid)
			must(t, err)
			b1 := a.scrape()
			e0, err := parseExposition(string(b0))
			must(t, err)
			e1, err := parseExposition(string(b1))
			must(t, err)
			m0, m1 := e0.samples, e1.samples
			span := time.Since(t0)
			c0, n := checksOf(m0, tc.n)
			c1, _ := checksOf(m1, tc.n)
			perInterval := (c1 - c0) / float64(n) / (span.Seconds() / tc.interval.Seconds())
			mean, over := spacing(m0, m1)
			for _, s := range samples {
				peak = max(peak, float64(s.FDs))
			}
			overlap := m1["titanlb_agent_health_checks_overlapping_total"] - m0["titanlb_agent_health_checks_overlapping_total"]
			rounds := m1["titanlb_agent_health_round_duration_seconds_count"] - m0["titanlb_agent_health_round_duration_seconds_count"]
			roundMean := (m1["titanlb_agent_health_round_duration_seconds_sum"] - m0["titanlb_agent_health_round_duration_seconds_sum"]) / rounds
			t.Logf("rounds %v, mean duration %.3fs", rounds, roundMean)
			cpu := (cpu1 - cpu0).Seconds() / span.Seconds()
			t.Logf("%d backends (%d black holes) every %v, timeout %v, over %v: a backend's checks %.3f intervals apart on average, %.2f%% over 1.5 intervals; each black hole checked %.3f times per interval (this process's clock); %v checks overlapping, %v skipped; open fds peak %.0f; %.3f CPU-seconds a second, %.0f µs a check",
				tc.n, n, tc.interval, tc.timeout, span.Round(time.Second), mean, 100*over, perInterval, overlap,
				m1["titanlb_agent_health_checks_skipped_total"], peak, cpu, cpu/(float64(tc.n)/tc.interval.Seconds())*1e6)
			// The schedule holds when checks start one interval apart in
			// the long run; the tail over 1.5 intervals is where a host
			// that stops the agent for seconds shows.
			if mean < 0.98 || mean > 1.02 || over > 0.1 {
				t.Errorf("the schedule did not hold: checks %.3f intervals apart on average, %.2f%% over 1.5 intervals, %v skipped",
					mean, 100*over, m1["titanlb_agent_health_checks_skipped_total"])
			}
		})
	}
}
