package xdp

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
)

// wrappers are the benchmark wrappers of titan.c (xdp_bench_*) around a
// Program's datapath: loaded by its first [Program.Bench], not by [Load],
// and sharing the Program's maps.
type wrappers struct {
	Base *ebpf.Program `ebpf:"xdp_bench_base"` // around a function that returns XDP_PASS: the wrapper's own time
	Prog *ebpf.Program // around the datapath, of the Program's variant
}

func (w *wrappers) Close() error { return _TitanClose(w.Base, w.Prog) }

// benchVary is how the wrapper changes the frame between iterations: the
// values of bench_state.vary in titan.c.
type benchVary uint32

const (
	varyNone     benchVary = iota // every iteration the same frame: an established flow, a known datagram
	varyFlow                      // the inner source address + the iteration count: every packet a new flow
	varyDatagram                  // the IP ID + the iteration count: every fragment a new datagram's
)

// Bench returns the kernel-measured time per packet of the program on pkt
// over repeat iterations of BPF_PROG_TEST_RUN (0 means 1), every iteration
// seeing the original frame: BPF_PROG_TEST_RUN runs a program again on
// its own output, so a wrapper program (in titan.c) calls the datapath,
// then strips the outer header and restores the frame. The figure
// includes the wrapper's own time, some 12-20 ns (docs/benchmarks.md
// has the method and the figures). The wrapper runs against the
// program's live tables and counters: every iteration counts in
// [Program.Stats]. The first call loads the wrapper, which the verifier
// checks with the datapath it calls.
func (p *Program) Bench(pkt []byte, repeat int) (time.Duration, error) {
	return p.bench(pkt, repeat, varyNone, false)
}

// bench is [Program.Bench] with the frame varied between iterations as
// vary says, and, with baseline, the wrapper around a function that
// returns XDP_PASS instead of the datapath: the wrapper's own time.
func (p *Program) bench(pkt []byte, repeat int, vary benchVary, baseline bool) (time.Duration, error) {
	if p.closed {
		return 0, fmt.Errorf("xdp: bench: %w", ErrClosed)
	}
	if repeat < 0 {
		return 0, fmt.Errorf("xdp: bench: repeat %d: %w", repeat, titan.ErrNegative)
	}
	repeat = max(repeat, 1)
	if len(pkt) < balancer.EthLen+balancer.IPv4Len {
		return 0, fmt.Errorf("xdp: bench: %d-byte frame: shorter than Ethernet and IPv4 headers", len(pkt))
	}
	if p.wrap == nil {
		w, err := p.loadWrappers()
		if err != nil {
			return 0, err
		}
		p.wrap = w
	}
	var st titanBenchState
	if err := p.objs.BenchCfg.Lookup(uint32(0), &st); err != nil {
		return 0, fmt.Errorf("xdp: bench: %w", err)
	}
	st.Vary = uint32(vary)
	if err := p.objs.BenchCfg.Put(uint32(0), st); err != nil {
		return 0, fmt.Errorf("xdp: bench: %w", err)
	}
	prog := p.wrap.Prog
	if baseline {
		prog = p.wrap.Base
	}
	ret, d, err := prog.Benchmark(pkt, repeat, nil)
	if err != nil {
		return 0, fmt.Errorf("xdp: bench: %w", err)
	}
	if ret == xdpAborted {
		return d, fmt.Errorf("xdp: bench: wrapper aborted (frame too short or restore failed)")
	}
	return d, nil
}

// loadWrappers loads the wrapper of p's variant and the baseline wrapper,
// from the spec Load loaded p from (the same configuration), sharing p's
// maps.
func (p *Program) loadWrappers() (*wrappers, error) {
	spec, err := loadTitan()
	if err != nil {
		return nil, fmt.Errorf("xdp: %w", err)
	}
	if err := configure(spec, p.opts, p.hz); err != nil {
		return nil, err
	}
	opts := &ebpf.CollectionOptions{MapReplacements: p.objs.replacements()}
	var w wrappers
	if p.opts.Stateless {
		var s struct {
			Base *ebpf.Program `ebpf:"xdp_bench_base"`
			Prog *ebpf.Program `ebpf:"xdp_bench_stateless"`
		}
		err = spec.LoadAndAssign(&s, opts)
		w = wrappers(s)
	} else {
		var s struct {
			Base *ebpf.Program `ebpf:"xdp_bench_base"`
			Prog *ebpf.Program `ebpf:"xdp_bench_titan"`
		}
		err = spec.LoadAndAssign(&s, opts)
		w = wrappers(s)
	}
	if err != nil {
		return nil, loadError("benchmark wrappers", err)
	}
	return &w, nil
}
