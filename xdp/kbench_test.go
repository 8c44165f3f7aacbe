package xdp

import (
	"errors"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/kbench"
	"github.com/titanlb/titanlb/internal/testutil"
)

// benchTarget is the Titan program as the kbench.Target that the
// calibration and the kernel benchmarks measure.
type benchTarget struct{ p *Program }

func (t benchTarget) Run(frame []byte) error {
	_, err := t.p.Run(frame)
	return err
}

func (t benchTarget) Bench(frame []byte, o kbench.BenchOptions) (time.Duration, error) {
	return t.p.bench(frame, o.Repeat, benchVary(o.Vary), o.Baseline)
}

func (t benchTarget) Counters() (kbench.Counters, error) {
	s, err := t.p.Stats()
	var c kbench.Counters
	c.Packets = s.Packets
	c.Ops = s.Ops()
	return c, err
}

func (t benchTarget) Close() error { return t.p.Close() }

// pathOptions returns the options of the program path is measured on.
func pathOptions(path kbench.Path) Options {
	return Options{Stateless: path.Stateless, Config: titan.Config{VIPs: path.VIPs}}
}

// loadTarget is the kbench.Loader of the Titan program.
func loadTarget(path kbench.Path, tableSize int, bs []balancer.Backend) (kbench.Target, error) {
	o := pathOptions(path)
	if tableSize > 0 { // 0: each table at its default size
		o.ConnTableSize, o.FragTableSize, o.HintTableSize = tableSize, tableSize, tableSize
	}
	p, err := Load(o)
	if err != nil {
		return nil, err
	}
	if err := p.SetBackends(bs); err != nil {
		p.Close()
		return nil, err
	}
	return benchTarget{p}, nil
}

// mustLoadPath loads the program path is measured on with the backend
// set testutil.Backends(3).
func mustLoadPath(tb testing.TB, path kbench.Path) *Program {
	tb.Helper()
	p := mustLoad(tb, pathOptions(path))
	if err := p.SetBackends(testutil.Backends(3)); err != nil {
		tb.Fatal(err)
	}
	return p
}

// pathsByName returns kbench.Paths() by name.
func pathsByName() map[string]kbench.Path {
	m := map[string]kbench.Path{}
	for _, p := range kbench.Paths() {
		m[p.Name] = p
	}
	return m
}

// TestBenchVaryMatchesKbench checks that kbench's variations are the
// wrapper's (bench_state.vary in titan.c), which benchTarget passes on
// as they are.
func TestBenchVaryMatchesKbench(t *testing.T) {
	if kbench.VaryNone != kbench.Vary(varyNone) || kbench.VaryFlow != kbench.Vary(varyFlow) || kbench.VaryDatagram != kbench.Vary(varyDatagram) {
		t.Error("kbench.Vary and the wrapper's variations differ")
	}
}

// TestBenchLoadsWrappersLazily checks that Load loads the datapath alone
// and the first Bench loads the wrapper of the program's variant, sharing
// its maps: the wrapper's packets count in the program's Stats, and Bench
// leaves the frame as it found it (a second call forwards again).
func TestBenchLoadsWrappersLazily(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		p := mustLoad(t, Options{Stateless: stateless})
		if p.wrap != nil {
			t.Fatal("Load loaded the benchmark wrappers")
		}
		if err := p.SetBackends(testutil.Backends(3)); err != nil {
			t.Fatal(err)
		}
		frame := balancer.Encode(tcpPacket(1000), 100)
		for range 2 {
			if _, err := p.Bench(frame, 10); err != nil {
				t.Fatal(err)
			}
		}
		s, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if p.wrap == nil || s.Packets < 20 || s.Forwarded != s.Packets {
			t.Errorf("stateless %v: after two Bench calls of 10: wrappers %v, stats %+v", stateless, p.wrap != nil, s)
		}
		if _, err := p.Bench(frame, -1); !errors.Is(err, titan.ErrNegative) {
			t.Errorf("repeat -1: %v", err)
		}
		p.Close()
		if _, err := p.Bench(frame, 1); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v", err)
		}
	}
}
