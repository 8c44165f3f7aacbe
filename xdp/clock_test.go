package xdp

import (
	"bufio"
	"compress/gzip"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/testutil"
)

// configHZ returns CONFIG_HZ from /proc/config.gz, or 0 when the kernel
// does not publish its configuration.
func configHZ() int {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return 0
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			hz, _ := strconv.Atoi(v)
			return hz
		}
	}
	return 0
}

// TestTickRate checks Load's measured tick rate against the kernel's
// configuration, when the kernel publishes it (/proc/config.gz), and the
// timeout's conversion to ticks.
func TestTickRate(t *testing.T) {
	p := mustLoad(t, Options{Config: titan.Config{FragTimeout: 30 * time.Second}})
	if want := configHZ(); want != 0 {
		if p.hz != float64(want) {
			t.Errorf("measured %v Hz, CONFIG_HZ=%d", p.hz, want)
		}
	} else if p.hz < 10 || p.hz > 10_000 {
		t.Errorf("measured %v Hz: no kernel ticks at that rate", p.hz)
	}
	// What the loaded program got, read back from the kernel.
	var got uint64
	if err := p.objs.CfgFragTimeout.Get(&got); err != nil {
		t.Fatal(err)
	}
	if want := uint64(math.Ceil(30 * p.hz)); got != want {
		t.Errorf("30 s at %v Hz: cfg_frag_timeout %d ticks, want %d", p.hz, got, want)
	}
	if s := mustLoad(t, Options{Stateless: true}); s.hz != 0 {
		t.Errorf("the stateless variant measured %v Hz: it keeps no fragment table", s.hz)
	}
	for in, want := range map[float64]float64{250.00006: 250, 249.1: 250, 254.9: 250, 239: 239, 99.4: 100, 981: 1000, 1013: 1000, 1190: 1200, 180: 180, 180.6: 181} {
		if got := snapHZ(in); got != want {
			t.Errorf("snapHZ(%v) = %v, want %v", in, got, want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		hz   float64
		want uint64
	}{
		{30 * time.Second, 250, 7500},
		{time.Millisecond, 250, 1},
		{0, 1000, 1},
		{10 * time.Millisecond, 300, 3},
		{11 * time.Millisecond, 300, 4},
	} {
		if got := ticks(tc.d, tc.hz); got != tc.want {
			t.Errorf("ticks(%v, %v) = %d, want %d", tc.d, tc.hz, got, tc.want)
		}
	}
}

// TestFragTimeoutExpires checks the kernel's fragment timeout: a
// non-first fragment right after its first fragment follows the entry; one
// sent after FragTimeout finds it expired and is placed as an orphan.
func TestFragTimeoutExpires(t *testing.T) {
	const timeout = 200 * time.Millisecond
	p := mustLoad(t, Options{Config: titan.Config{FragTimeout: timeout}})
	if err := p.SetBackends(testutil.Backends(3)); err != nil {
		t.Fatal(err)
	}
	paths := pathsByName()
	first, nonFirst := paths["first-fragment"], paths["non-first-fragment"]
	run := func(pk balancer.Packet, payload int) RunResult {
		t.Helper()
		res, err := p.Run(balancer.Encode(pk, payload))
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != balancer.Forward {
			t.Fatalf("%+v: %v", pk, res.Action)
		}
		return res
	}
	stats := func() Stats {
		t.Helper()
		s, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := run(first.Packet, first.Payload)
	b := run(nonFirst.Packet, nonFirst.Payload)
	s := stats()
	if b.Backend != a.Backend || s.FragHits != 1 || s.FragExpired != 0 || s.Orphans != 0 {
		t.Fatalf("within the timeout: backends %d, %d; %+v", a.Backend, b.Backend, s)
	}
	// Past the timeout by two ticks and more: expired.
	time.Sleep(timeout + time.Duration(float64(3*time.Second)/p.hz))
	run(nonFirst.Packet, nonFirst.Payload)
	s = stats()
	if s.FragHits != 1 || s.FragExpired != 1 || s.Orphans != 1 {
		t.Errorf("after %v: FragHits %d FragExpired %d Orphans %d, want 1, 1, 1", timeout, s.FragHits, s.FragExpired, s.Orphans)
	}
}
