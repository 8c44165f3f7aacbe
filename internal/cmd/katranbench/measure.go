package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// worker runs functions on one OS thread pinned to one CPU. Its goroutine
// stays locked to the thread until the process ends, so the pinned thread
// never goes back to the runtime's pool.
type worker struct {
	cpu  int
	jobs chan func()
}

func newWorker(cpu int) (*worker, error) {
	w := &worker{cpu: cpu, jobs: make(chan func())}
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("pin a thread to CPU %d: %w", cpu, err)
			return
		}
		errc <- nil
		for f := range w.jobs {
			f()
		}
	}()
	return w, <-errc
}

// do runs f on w's CPU and waits for it.
func (w *worker) do(f func()) {
	done := make(chan struct{})
	w.jobs <- func() { f(); close(done) }
	<-done
}

// timing is one program's figures on one path in one run: each round's
// gross time per iteration and the wrapper's alone (same round).
type timing struct {
	gross, base []time.Duration
}

func (t timing) net() []time.Duration {
	n := make([]time.Duration, len(t.gross))
	for i := range n {
		n[i] = t.gross[i] - t.base[i]
	}
	return n
}

// runResult is one run of the side-by-side comparison.
type runResult struct {
	times   map[string]map[string]*timing // path, program
	load    [2]float64                    // load average, lowest and highest during the run
	targets []string
}

// measureRun loads fresh programs for every path (load) and measures each
// path on each program for rounds interleaved rounds (one warm-up round
// more, discarded) on w's CPU.
func measureRun(c config, ps []path, load func(path) ([]target, error), w *worker, log io.Writer) (*runResult, error) {
	progs := make([][]target, len(ps))
	defer func() {
		for _, ts := range progs {
			for _, t := range ts {
				t.close()
			}
		}
	}()
	res := &runResult{times: map[string]map[string]*timing{}, load: [2]float64{1e9, 0}}
	for i, p := range ps {
		ts, err := load(p)
		progs[i] = ts
		if err != nil {
			return nil, err
		}
		res.times[p.name] = map[string]*timing{}
		for _, t := range progs[i] {
			res.times[p.name][t.name()] = &timing{}
			if !slices.Contains(res.targets, t.name()) {
				res.targets = append(res.targets, t.name())
			}
		}
	}
	var err error
	for r := -1; r < c.rounds; r++ {
		for pi := range ps {
			pi = (pi + max(r, 0)) % len(ps) // rotate the order every round
			p := ps[pi]
			for ti := range progs[pi] {
				t := progs[pi][(ti+max(r, 0))%len(progs[pi])]
				var b, g time.Duration
				w.do(func() {
					if b, err = call(t, p, c.repeat, true); err != nil {
						return
					}
					g, err = call(t, p, c.repeat, false)
				})
				if err != nil {
					return nil, err
				}
				if c.verbose {
					fmt.Fprintf(log, "round %d %s %s: gross %v wrapper %v\n", r, t.name(), p.name, g, b)
				}
				if r >= 0 {
					tm := res.times[p.name][t.name()]
					tm.gross, tm.base = append(tm.gross, g), append(tm.base, b)
				}
			}
		}
		l := loadavg()
		res.load[0], res.load[1] = min(res.load[0], l), max(res.load[1], l)
	}
	return res, nil
}

// scaling is one program's new-flow figures with one CPU busy and with
// every CPU busy at once, per CPU.
type scaling struct {
	alone, both map[int]*timing // by CPU
}

// measureScaling runs new flows (a new source address every packet, per
// CPU) on each program: on each CPU alone, and on every CPU at once (one
// pinned thread each, started together), interleaved over rounds. Both
// figures use the same wrapper mode, so their ratio is the per-CPU rate
// of all CPUs at once against one alone.
func measureScaling(c config, progs []target, workers []*worker, log io.Writer) (map[string]*scaling, error) {
	p := paths()[2] // new-flow-tcp
	p.vary = varyFlowPerCPU
	res := map[string]*scaling{}
	for _, tg := range progs {
		s := &scaling{alone: map[int]*timing{}, both: map[int]*timing{}}
		for _, w := range workers {
			s.alone[w.cpu], s.both[w.cpu] = &timing{}, &timing{}
		}
		res[tg.name()] = s
	}
	// once runs the wrapper (or the baseline) on the given workers at
	// once, and checks that every iteration of the program took the path.
	once := func(tg target, ws []*worker, base bool) (map[int]time.Duration, error) {
		before, err := tg.prepare(p)
		if err != nil {
			return nil, err
		}
		ds := make([]time.Duration, len(ws))
		rets := make([]uint32, len(ws))
		errs := make([]error, len(ws))
		start := make(chan struct{})
		done := make(chan int)
		for i, w := range ws {
			go w.do(func() {
				<-start
				rets[i], ds[i], errs[i] = tg.w().run(p, p.vary, c.repeat, base)
				done <- i
			})
		}
		close(start)
		for range ws {
			<-done
		}
		out := map[int]time.Duration{}
		for i, w := range ws {
			if errs[i] != nil {
				return nil, fmt.Errorf("%s CPU %d: %w", tg.name(), w.cpu, errs[i])
			}
			out[w.cpu] = ds[i]
		}
		after, err := tg.counters()
		if err != nil {
			return nil, err
		}
		d := after.sub(before)
		n := c.repeat * len(ws)
		if base {
			if d["packets"] != 0 {
				return nil, fmt.Errorf("%s baseline: %d packets counted", tg.name(), d["packets"])
			}
			return out, nil
		}
		for i := range ws {
			if err := tg.verify(p, d, n, rets[i]); err != nil {
				return nil, fmt.Errorf("%s new flows on %d CPUs: %w", tg.name(), len(ws), err)
			}
		}
		return out, nil
	}
	for r := -1; r < c.scaleRounds; r++ {
		for _, tg := range progs {
			s := res[tg.name()]
			sets := [][]*worker{workers}
			for _, w := range workers {
				sets = append(sets, []*worker{w})
			}
			for si := range sets {
				ws := sets[(si+max(r, 0))%len(sets)]
				b, err := once(tg, ws, true)
				if err != nil {
					return nil, err
				}
				g, err := once(tg, ws, false)
				if err != nil {
					return nil, err
				}
				if c.verbose {
					fmt.Fprintf(log, "scaling round %d %s on %d CPUs: gross %v wrapper %v\n", r, tg.name(), len(ws), g, b)
				}
				if r < 0 {
					continue
				}
				for cpu := range g {
					m := s.alone
					if len(ws) > 1 {
						m = s.both
					}
					m[cpu].gross = append(m[cpu].gross, g[cpu])
					m[cpu].base = append(m[cpu].base, b[cpu])
				}
			}
		}
	}
	return res, nil
}

// insnCount is a program's size after the verifier.
type insnCount struct {
	xlated, verified int
}

// countInsns loads only prog of obj and returns its translated
// instruction count (with its subprograms) and the verifier's processed
// count.
func countInsns(obj, prog string, prep func(*ebpf.CollectionSpec)) (insnCount, error) {
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		return insnCount{}, err
	}
	if prep != nil {
		prep(spec)
	}
	if spec.Programs[prog] == nil {
		return insnCount{}, fmt.Errorf("%s: no program %s", obj, prog)
	}
	for name := range spec.Programs {
		if name != prog {
			delete(spec.Programs, name)
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return insnCount{}, err
	}
	defer coll.Close()
	info, err := coll.Programs[prog].Info()
	if err != nil {
		return insnCount{}, err
	}
	var c insnCount
	insns, err := info.Instructions()
	if err != nil {
		return c, err
	}
	for _, ins := range insns {
		c.xlated += int(ins.Size() / asm.InstructionSize)
	}
	if v, ok := info.VerifiedInstructions(); ok {
		c.verified = int(v)
	}
	return c, nil
}

// loadavg returns the one-minute load average.
func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscanf(strings.TrimSpace(string(b)), "%f", &l)
	return l
}
