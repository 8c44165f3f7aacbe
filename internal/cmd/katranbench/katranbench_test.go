package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/internal/testutil"
)

func TestParseErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-katran: required"},
		{[]string{"-katran", "k", "-repeat", "125000"}, "-repeat 125000"},
		{[]string{"-katran", "k", "-repeat", "0"}, "-repeat 0"},
		{[]string{"-katran", "k", "-runs", "0"}, "-runs 0"},
		{[]string{"-katran", "k", "-rounds", "-1"}, "-rounds -1"},
		{[]string{"-katran", "k", "-cpu", "4096"}, "-cpu 4096: not an online CPU"},
		{[]string{"-katran", "k", "-katran-lru", "0"}, "-katran-lru 0"},
		{[]string{"-katran", "k", "-scale-rounds", "-1"}, "-scale-rounds -1"},
		{[]string{"-katran", "k", "extra"}, `unexpected argument "extra"`},
	} {
		_, err := parse(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parse(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	c, err := parse([]string{"-katran", "k"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.project, "xdp", "titan.c")); err != nil {
		t.Errorf("default -project %s: %v", c.project, err)
	}
}

func TestSelectPaths(t *testing.T) {
	ps, err := selectPaths("new-flow-tcp,established-udp")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].name != "new-flow-tcp" || ps[1].name != "established-udp" {
		t.Errorf("got %v", ps)
	}
	if _, err := selectPaths("est-tcp"); err == nil || !strings.Contains(err.Error(), `unknown path "est-tcp"`) {
		t.Errorf("unknown path: %v", err)
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5,7-8")
	if err != nil || !slices.Equal(got, []int{0, 1, 2, 5, 7, 8}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "3-1", "x"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) accepted", bad)
		}
	}
}

func TestTitanFlagsFollowTheProject(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	flags := titanFlags(filepath.Join(root, "xdp", "program.go"))
	for _, want := range []string{"-O2", "-mcpu=v3"} {
		if !slices.Contains(flags, want) {
			t.Errorf("flags %v lack %s", flags, want)
		}
	}
	dir := t.TempDir()
	gen := filepath.Join(dir, "program.go")
	if err := os.WriteFile(gen, []byte("//go:generate go tool bpf2go -cc clang -cflags \"-O1 -mcpu=v2\" -target bpfel titan titan.c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := titanFlags(gen); !slices.Equal(got[:2], []string{"-O1", "-mcpu=v2"}) || len(got) != 3 {
		t.Errorf("titanFlags = %v, want the file's flags and the arch include", got)
	}
	if got := titanFlags(filepath.Join(dir, "missing.go")); !slices.Equal(got[:len(defaultTitanFlags)], defaultTitanFlags) {
		t.Errorf("titanFlags without a file = %v, want the defaults", got)
	}
}

func ms(xs ...int) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = time.Duration(x)
	}
	return out
}

// The summary takes each run's median over rounds, the median and range
// over runs, and the ratio within each run.
func TestSummaryRatiosWithinRuns(t *testing.T) {
	ps := []path{{name: "established-tcp", titan: true}, {name: "first-fragment", titan: true}}
	mk := func(k, ti []time.Duration) *runResult {
		return &runResult{times: map[string]map[string]*timing{
			"established-tcp": {"katran": {gross: k, base: ms(10, 10, 10)}, "titan": {gross: ti, base: ms(10, 10, 10)}},
			"first-fragment":  {"katran": {gross: ms(20, 20, 20), base: ms(10, 10, 10)}, "titan": {gross: ms(60, 60, 60), base: ms(10, 10, 10)}},
		}, load: [2]float64{1, 2}}
	}
	runs := []*runResult{
		mk(ms(110, 90, 500), ms(60, 40, 50)),  // medians: katran net 100, titan 40: 0.40
		mk(ms(210, 210, 210), ms(60, 60, 60)), // katran 200, titan 50: 0.25
		mk(ms(160, 160, 160), ms(90, 90, 90)), // katran 150, titan 80: 0.53
	}
	var b bytes.Buffer
	writeSummary(&b, config{rounds: 3, repeat: 1000, cpu: 1}, ps, runs)
	out := b.String()
	for _, want := range []string{
		"| established-tcp | 150 (100–200) | 50 (40–80) | 0.40 (0.25–0.53) |",
		"| first-fragment | 10 (10–10) (dropped) | 50 (50–50) | — |",
		"3 runs of 3 rounds, 1000 iterations per call, on CPU 1; load average 1.00–2.00",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// requireClang skips (or fails under TITANLB_REQUIRE_BPF=1) without clang.
func requireClang(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("clang"); err != nil {
		testutil.SkipOrFail(t, "katranbench: clang not found")
	}
}

// Titan's program builds with the wrapper and every Titan path passes its
// counter checks, one CPU and several at once: the tool keeps working as
// xdp/titan.c changes.
func TestTitanUnderTheWrapper(t *testing.T) {
	testutil.RequireBPF(t)
	requireClang(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	o, err := buildTitan(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cpus, err := onlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	var ws []*worker
	for _, cpu := range cpus {
		w, err := newWorker(cpu)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	c := config{rounds: 2, repeat: 2000, scaleRounds: 1}
	var ps []path
	for _, p := range paths() {
		if p.titan {
			ps = append(ps, p)
		}
	}
	r, err := measureRun(c, ps, loadAll(c, o, true), ws[len(ws)-1], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		for _, prog := range []string{"titan", "titan-vip"} {
			tm := r.times[p.name][prog]
			if tm == nil || len(tm.gross) != c.rounds {
				t.Fatalf("%s %s: %+v, want %d rounds", p.name, prog, tm, c.rounds)
			}
			if g := median(tm.gross); g <= 0 || g > time.Millisecond {
				t.Errorf("%s %s: %v per packet", p.name, prog, g)
			}
		}
	}

	tg, err := loadTitan(o.titan, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	res, err := measureScaling(c, []target{tg}, ws, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, cpu := range cpus {
		if len(res["titan"].alone[cpu].gross) != 1 || len(res["titan"].both[cpu].gross) != 1 {
			t.Errorf("CPU %d: %+v", cpu, res["titan"])
		}
	}
}

// With TITANLB_KATRAN_SRC set to a Katran checkout, the whole comparison runs
// briefly and every path passes its checks on both programs.
func TestKatranSideBySide(t *testing.T) {
	src := os.Getenv("TITANLB_KATRAN_SRC")
	if src == "" {
		t.Skip("TITANLB_KATRAN_SRC (a checkout of github.com/facebookincubator/katran) not set")
	}
	testutil.RequireBPF(t)
	requireClang(t)
	var out, log bytes.Buffer
	if code := run([]string{"-katran", src, "-runs", "1", "-rounds", "1", "-repeat", "2000", "-scale-rounds", "1"}, &out, &log); code != 0 {
		t.Fatalf("exit %d\n%s", code, log.String())
	}
	for _, want := range []string{"| established-tcp |", "| new-flow-tcp-flood |", "| katran |", "| titan |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

// The cross-check reads the project's BenchmarkKernel lines as they are
// printed: the net ns/pkt, after the STU metrics.
func TestBenchLine(t *testing.T) {
	for _, tc := range []struct{ line, name, value string }{
		{"BenchmarkKernel/new-flow-tcp-2   \t       2\t 115848524 ns/op\t       270.0 STU/pkt\t         2.722 ns/STU\t       735.0 ns/pkt\t  316260 B/op", "new-flow-tcp", "735.0"},
		{"BenchmarkKernel/wrapper-baseline-vary-flow-2 \t 2\t 3395420 ns/op\t 26.00 ns/pkt\t 72 B/op", "wrapper-baseline-vary-flow", "26.00"},
	} {
		m := benchLine.FindStringSubmatch(tc.line)
		if m == nil || m[1] != tc.name || m[2] != tc.value {
			t.Errorf("%q: got %q, want %s %s", tc.line, m, tc.name, tc.value)
		}
	}
	if benchLine.MatchString("BenchmarkKernel/x-2 \t 2\t 100 ns/op") {
		t.Error("a line without ns/pkt matched")
	}
}
