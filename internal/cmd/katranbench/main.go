// Command katranbench measures Katran's XDP balancer and TitanLB's XDP
// program side by side, in the kernel, with one method for both.
//
// Usage (as root, from a checkout of this module):
//
//	go run ./internal/cmd/katranbench -katran KATRAN_SRC [flags]
//
// KATRAN_SRC is a checkout of github.com/facebookincubator/katran (its
// root). Nothing of Katran is in this repository: katranbench compiles
// Katran's balancer from the checkout, into a temporary directory, as
// Katran's katran/lib/Makefile-bpf does (clang -O2 -emit-llvm, llc
// -march=bpf), and Titan's xdp/titan.c with the project's bpf2go flags.
// It needs clang and llc (Debian: apt-get install clang llvm libbpf-dev).
//
// # Method
//
// Both programs are unmodified. One wrapper (bpf/bench_wrapper.h, the
// project's own wrapper of xdp/titan.c line for line) is compiled around
// each program's entry (balancer_ingress, xdp_titan): it saves the
// Ethernet header and the fields it varies, calls the entry as a BPF-to-BPF
// function, and after an XDP_TX moves the head back past the outer header
// and restores the frame, so that BPF_PROG_TEST_RUN with -repeat
// iterations sees the original packet every iteration. The same wrapper
// around a function that returns XDP_PASS, measured in the same round, is
// subtracted ("net"). New flows vary the source address by an iteration
// count, new datagrams the IP ID.
//
// Every path gets fresh programs of its own; rounds interleave paths and
// programs call by call, on one pinned CPU; a run's figure is the median
// of its rounds, the summary the median over runs, and the ratios are
// taken within each run. After every call the program's own counters
// must show that every iteration took the path (Katran: its stats map's
// TX, drop and LRU-miss counters, no fallback LRU, the state of its
// new-connection limiter; Titan: its counters).
//
// Katran is configured as its userspace configures forwarding cores: one
// LRU_HASH of -katran-lru entries per CPU in lru_mapping, a TCP and a UDP
// VIP, three reals, the Maglev rings filled. Its new-connection limiter
// (MAX_CONN_RATE, 125,000 per CPU per second, above which a SYN gets no
// LRU insert) is reset before every call, or tripped for
// new-flow-tcp-flood. Titan runs with its defaults (xdp.Options{}), and
// again with a one-VIP list (titan-vip), one lookup more, as Katran
// always does.
//
// With -scale-rounds > 0 it then runs new flows on every CPU at once (one
// pinned thread per CPU, started together, each varying its own flows)
// and on each CPU alone, and reports the per-CPU rate at once against
// alone, for both programs.
//
// After the side-by-side table the summary prices every measured path
// with cost.Calibrated() (the operations the Go model of each program
// charges for the path's packet, from balancer/katran and balancer/titan),
// lists what it mispredicts (a path beyond 25%, a Titan/Katran ratio
// beyond 10%), and prints the model kbench.FitModel fits to these
// measurements: docs/calibration.md records both.
//
// The summary is printed, and written to -out if given. docs/katran-bench.md
// records the figures and the command.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/titanlb/titanlb/internal/atomicfile"
)

// config is the command line.
type config struct {
	katran       string
	project      string
	runs         int
	rounds       int
	repeat       int
	cpu          int
	katranLRU    int
	paths        string
	out          string
	sample       string
	work         string
	scaleRounds  int
	projectBench bool
	verbose      bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("katranbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.katran, "katran", "", "a checkout of github.com/facebookincubator/katran (required)")
	fs.StringVar(&c.project, "project", "", "the TitanLB checkout whose xdp/titan.c is measured (default: the module around the working directory)")
	fs.IntVar(&c.runs, "runs", 3, "how many times to run the whole comparison, each with fresh programs")
	fs.IntVar(&c.rounds, "rounds", 21, "interleaved rounds per run (one warm-up round more is discarded)")
	fs.IntVar(&c.repeat, "repeat", 20000, "iterations per BPF_PROG_TEST_RUN call (below Katran's MAX_CONN_RATE, 125000)")
	fs.IntVar(&c.cpu, "cpu", -1, "CPU the measuring thread is pinned to (default: the last one)")
	fs.IntVar(&c.katranLRU, "katran-lru", 65536, "entries of each of Katran's per-CPU LRU tables")
	fs.StringVar(&c.paths, "paths", "", "comma-separated path names (default: all)")
	fs.StringVar(&c.out, "out", "", "also write the summary (Markdown) to this file")
	fs.StringVar(&c.sample, "sample", "", "write the measurements with their model operations, and the Titan/Katran ratios, as JSON (kbench.Sample) to this file: what the fit of cost.Calibrated() pools (docs/calibration.md)")
	fs.StringVar(&c.work, "work", "", "build directory, kept (default: a temporary directory, removed)")
	fs.IntVar(&c.scaleRounds, "scale-rounds", 11, "rounds of new flows on every CPU at once against one alone (0: skip)")
	fs.BoolVar(&c.projectBench, "project-bench", false, "after each run, also run the project's BenchmarkKernel (go test ./xdp) as a cross-check")
	fs.BoolVar(&c.verbose, "v", false, "print every call")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ncpu, err := onlineCPUs()
	if err != nil {
		return c, err
	}
	if c.cpu < 0 {
		c.cpu = ncpu[len(ncpu)-1]
	}
	switch {
	case c.katran == "":
		return c, errors.New("-katran: required (a checkout of github.com/facebookincubator/katran)")
	case c.runs < 1:
		return c, fmt.Errorf("-runs %d: must be at least 1", c.runs)
	case c.rounds < 1:
		return c, fmt.Errorf("-rounds %d: must be at least 1", c.rounds)
	case c.repeat < 1 || c.repeat >= kMaxConnRate:
		return c, fmt.Errorf("-repeat %d: must be between 1 and Katran's MAX_CONN_RATE (%d), which would trip its new-connection limiter", c.repeat, kMaxConnRate)
	case !slices.Contains(ncpu, c.cpu):
		return c, fmt.Errorf("-cpu %d: not an online CPU (%v)", c.cpu, ncpu)
	case c.katranLRU < 1:
		return c, fmt.Errorf("-katran-lru %d: must be at least 1", c.katranLRU)
	case c.scaleRounds < 0:
		return c, fmt.Errorf("-scale-rounds %d: must be at least 0", c.scaleRounds)
	}
	if c.project == "" {
		if c.project, err = moduleRoot(); err != nil {
			return c, fmt.Errorf("-project: %w", err)
		}
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "katranbench:", err)
		return 2
	}
	if err := bench(c, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "katranbench:", err)
		return 1
	}
	return 0
}

// selectPaths returns the paths named in list (all if empty).
func selectPaths(list string) ([]path, error) {
	ps := paths()
	if list == "" {
		return ps, nil
	}
	var out []path
	for _, n := range strings.Split(list, ",") {
		i := slices.IndexFunc(ps, func(p path) bool { return p.name == n })
		if i < 0 {
			names := make([]string, len(ps))
			for j, p := range ps {
				names[j] = p.name
			}
			return nil, fmt.Errorf("-paths: unknown path %q (known: %s)", n, strings.Join(names, ", "))
		}
		out = append(out, ps[i])
	}
	return out, nil
}

func bench(c config, stdout, stderr io.Writer) error {
	ps, err := selectPaths(c.paths)
	if err != nil {
		return err
	}
	dir := c.work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "katranbench"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	o, err := build(c, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "built %s (Katran's %s) and %s (Titan, clang %s)\n", o.katran, o.katranMain, o.titan, strings.Join(o.titanFlags, " "))

	cpus, err := onlineCPUs()
	if err != nil {
		return err
	}
	workers := map[int]*worker{}
	for _, cpu := range cpus {
		if workers[cpu], err = newWorker(cpu); err != nil {
			return err
		}
	}

	var summary bytes.Buffer
	var insn []string
	workers[c.cpu].do(func() {
		var kc, tc insnCount
		if kc, err = countInsns(o.katranPlain, "balancer_ingress", nil); err != nil {
			return
		}
		if tc, err = countInsns(o.titanPlain, "xdp_titan", nil); err != nil {
			return
		}
		insn = []string{
			fmt.Sprintf("instructions, Katran balancer_ingress: %d translated, %d processed by the verifier", kc.xlated, kc.verified),
			fmt.Sprintf("instructions, Titan xdp_titan (committed titan_bpfel.o): %d translated, %d processed by the verifier", tc.xlated, tc.verified),
		}
	})
	if err != nil {
		return fmt.Errorf("instruction counts: %w", err)
	}

	var runs []*runResult
	var project []string
	for i := range c.runs {
		fmt.Fprintf(stderr, "run %d/%d\n", i+1, c.runs)
		r, err := measureRun(c, ps, loadAll(c, o, false), workers[c.cpu], stderr)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		writeRun(stderr, ps, r)
		runs = append(runs, r)
		if c.projectBench {
			lines, err := projectBench(c)
			if err != nil {
				return fmt.Errorf("run %d: project benchmark: %w", i+1, err)
			}
			project = append(project, lines...)
		}
	}
	writeSummary(&summary, c, ps, runs)
	if err := writeCalibration(&summary, ps, runs); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	if c.sample != "" {
		if err := writeSample(c, ps, runs); err != nil {
			return fmt.Errorf("-sample: %w", err)
		}
	}
	fmt.Fprintln(&summary)
	for _, l := range insn {
		fmt.Fprintln(&summary, l)
	}
	if len(project) > 0 {
		fmt.Fprintln(&summary, "\nthe project's BenchmarkKernel after each run (cross-check):")
		for _, l := range project {
			fmt.Fprintln(&summary, "  "+l)
		}
	}
	if c.scaleRounds > 0 {
		ws := make([]*worker, 0, len(cpus))
		for _, cpu := range cpus {
			ws = append(ws, workers[cpu])
		}
		fmt.Fprintln(stderr, "new flows on every CPU at once")
		if err := scale(c, o, ws, cpus, &summary, stderr); err != nil {
			return fmt.Errorf("scaling: %w", err)
		}
	}
	if _, err := stdout.Write(summary.Bytes()); err != nil {
		return err
	}
	if c.out != "" {
		return atomicfile.WriteFile(c.out, summary.Bytes(), 0o644)
	}
	return nil
}

// loadAll returns the loader of the programs a path is measured on:
// Katran (unless titanOnly), and Titan with and without a VIP list where
// Titan has the path.
func loadAll(c config, o objects, titanOnly bool) func(path) ([]target, error) {
	return func(p path) ([]target, error) {
		var ts []target
		if !titanOnly {
			k, err := loadKatran(o.katran, c.katranLRU)
			if err != nil {
				return nil, err
			}
			ts = append(ts, k)
		}
		if p.titan {
			for _, withVIP := range []bool{false, true} {
				t, err := loadTitan(o.titan, withVIP)
				if err != nil {
					return ts, err
				}
				ts = append(ts, t)
			}
		}
		return ts, nil
	}
}

// scale loads fresh programs, measures new flows on every CPU at once
// against one alone, and writes the table.
func scale(c config, o objects, ws []*worker, cpus []int, summary, log io.Writer) error {
	k, err := loadKatran(o.katran, c.katranLRU)
	if err != nil {
		return err
	}
	defer k.close()
	t, err := loadTitan(o.titan, false)
	if err != nil {
		return err
	}
	defer t.close()
	res, err := measureScaling(c, []target{k, t}, ws, log)
	if err != nil {
		return err
	}
	fmt.Fprintln(summary)
	writeScaling(summary, c, res, []string{k.name(), t.name()}, cpus)
	return nil
}

var benchLine = regexp.MustCompile(`^BenchmarkKernel/(\S+?)-\d+\s.*?\s(-?[\d.]+) ns/pkt`)

// projectBench runs the project's BenchmarkKernel and returns its ns/pkt
// lines.
func projectBench(c config) ([]string, error) {
	cmd := exec.Command("go", "test", "./xdp", "-run", "^$", "-bench", "^BenchmarkKernel$", "-benchtime", fmt.Sprintf("%dx", c.rounds))
	cmd.Dir = c.project
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if m := benchLine.FindStringSubmatch(l); m != nil {
			lines = append(lines, m[1]+" "+m[2]+" ns/pkt")
		}
	}
	return lines, nil
}

// moduleRoot returns the directory of the go.mod of module
// github.com/titanlb/titanlb at or above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/titanlb/titanlb\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside a checkout of github.com/titanlb/titanlb; give -project")
		}
		dir = parent
	}
}

// onlineCPUs returns the numbers of the online CPUs.
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, err
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

// parseCPUList parses a kernel CPU list such as "0-3,6".
func parseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		var a, b int
		if n, err := fmt.Sscanf(part, "%d-%d", &a, &b); err == nil && n == 2 {
			if b < a {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
			for i := a; i <= b; i++ {
				out = append(out, i)
			}
			continue
		}
		if _, err := fmt.Sscanf(part, "%d", &a); err != nil {
			return nil, fmt.Errorf("CPU list %q: bad entry %q", s, part)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("CPU list %q: empty", s)
	}
	return out, nil
}
