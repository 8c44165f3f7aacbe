package testutil

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SoakEnv turns the soak tests on; SoakDurationEnv sets how long each
// runs (a Go duration, default 60s).
const (
	SoakEnv         = "TITANLB_SOAK"
	SoakDurationEnv = "TITANLB_SOAK_DURATION"
)

// MinSoak is the shortest soak: the schedule figures are averages over
// the soak's last three quarters, and a stall of the host weighs too much
// in a shorter window.
const MinSoak = 30 * time.Second

// Soak skips tb unless [SoakEnv] is "1", and returns how long the soak
// should run (at least [MinSoak]).
func Soak(tb testing.TB) time.Duration {
	tb.Helper()
	if os.Getenv(SoakEnv) != "1" {
		tb.Skip("soak test: set " + SoakEnv + "=1 to run it")
	}
	d := time.Minute
	if s := os.Getenv(SoakDurationEnv); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < MinSoak {
			tb.Fatalf("%s=%q: not a duration of at least %v", SoakDurationEnv, s, MinSoak)
		}
	}
	return d
}

// ProcSample is a process's resident memory and open file descriptors.
type ProcSample struct {
	RSS int64 // bytes
	FDs int
}

// SampleProc reads pid's resident set size (/proc/pid/status, VmRSS) and
// counts its open file descriptors (/proc/pid/fd).
func SampleProc(pid int) (ProcSample, error) {
	var s ProcSample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return s, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			s.RSS = kb << 10
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

// Quantile returns the q-quantile (0 to 1) of ds by the nearest rank, or
// 0 for none. It sorts ds.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(q*float64(len(ds))+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// Every calls f every d until ctx ends, then returns.
func Every(ctx context.Context, d time.Duration, f func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f()
	}
}

// Watched is what [Watch] measured over a soak.
type Watched struct {
	Latencies []time.Duration // of each probe that succeeded
	Failures  []error         // of each probe that failed while the soak ran
	Samples   []ProcSample    // of the process, every 500 ms
	Elapsed   time.Duration   // from the start of Watch to ctx's end
}

// Peak returns the largest resident set size and descriptor count among
// the samples.
func (w Watched) Peak() (rss int64, fds int) {
	for _, s := range w.Samples {
		rss, fds = max(rss, s.RSS), max(fds, s.FDs)
	}
	return rss, fds
}

// Watch calls probe every probeEvery and samples the process pid every
// 500 ms, until ctx ends. A probe's error counts as a failure unless ctx
// had ended by then. A sample that fails means the process is gone: it
// fails tb with "the <name> is gone" and what output returns (its
// stderr, say).
func Watch(ctx context.Context, tb testing.TB, probeEvery time.Duration, probe func() error, pid int, name string, output func() string) Watched {
	tb.Helper()
	var w Watched
	pt := time.NewTicker(probeEvery)
	st := time.NewTicker(500 * time.Millisecond)
	defer pt.Stop()
	defer st.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			w.Elapsed = time.Since(start)
			return w
		case <-pt.C:
			t0 := time.Now()
			if err := probe(); err != nil {
				if ctx.Err() == nil {
					w.Failures = append(w.Failures, err)
				}
				continue
			}
			w.Latencies = append(w.Latencies, time.Since(t0))
		case <-st.C:
			s, err := SampleProc(pid)
			if err != nil {
				tb.Fatalf("the %s is gone: %v\n%s", name, err, output())
			}
			w.Samples = append(w.Samples, s)
		}
	}
}

// GetOK gets url with c and returns the body, or an error that names a
// status other than 200.
func GetOK(c *http.Client, url string) ([]byte, error) {
	res, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != 200 {
		err = fmt.Errorf("status %d", res.StatusCode)
	}
	return body, err
}
