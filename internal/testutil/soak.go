package testutil

import (
	"fmt"
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

// Soak skips tb unless [SoakEnv] is "1", and returns how long the soak
// should run.
func Soak(tb testing.TB) time.Duration {
	tb.Helper()
	if os.Getenv(SoakEnv) != "1" {
		tb.Skip("soak test: set " + SoakEnv + "=1 to run it")
	}
	d := time.Minute
	if s := os.Getenv(SoakDurationEnv); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			tb.Fatalf("%s=%q: not a positive duration", SoakDurationEnv, s)
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
