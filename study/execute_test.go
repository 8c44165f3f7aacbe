package study

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
)

// sortedLines returns the file's lines, sorted (rows arrive in completion
// order).
func sortedLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	slices.Sort(lines)
	return lines
}

func TestExecuteAndResume(t *testing.T) {
	st := mustParse(t, studyJSON(tinyAxes, tinyBalancers, `2`), nil)
	dir := t.TempDir()
	full := filepath.Join(dir, "full.jsonl")
	rep, err := Execute(context.Background(), st, full, Local{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Jobs != st.Len() || rep.Ran != st.Len() || rep.Skipped != 0 || rep.Left != 0 {
		t.Fatalf("first run: %+v, want all %d jobs run", rep, st.Len())
	}
	want := sortedLines(t, full)
	if len(want) != st.Len() {
		t.Fatalf("%d lines for %d jobs", len(want), st.Len())
	}

	// A rerun runs nothing and leaves the file alone.
	rep, err = Execute(context.Background(), st, full, Local{}, Options{})
	if err != nil || rep.Ran != 0 || rep.Skipped != st.Len() {
		t.Fatalf("rerun: %+v, %v; want every job skipped", rep, err)
	}
	if got := sortedLines(t, full); !slices.Equal(got, want) {
		t.Fatal("a rerun changed the rows")
	}

	// A run cancelled part way, then killed in the middle of a line, then
	// resumed, ends with the same rows as the run that was never stopped.
	part := filepath.Join(dir, "part.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	var emitted atomic.Int32
	r := runnerFunc(func(ctx context.Context, st *Study, jobs iter.Seq[Job], emit func(Row) error) error {
		return Local{Workers: 1}.Run(ctx, st, jobs, func(row Row) error {
			if emitted.Add(1) == 5 {
				cancel()
			}
			return emit(row)
		})
	})
	rep, err = Execute(ctx, st, part, r, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: err = %v, want context.Canceled", err)
	}
	if rep.Ran < 5 || rep.Ran >= st.Len() || rep.Left != st.Len()-rep.Ran {
		t.Fatalf("cancelled run: %+v; want at least 5 rows and some left", rep)
	}
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(want[len(want)-1][:100]) // a kill during a write
	f.Close()
	ran := rep.Ran
	rep, err = Execute(context.Background(), st, part, Local{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Repaired != 100 || rep.Skipped != ran || rep.Ran != st.Len()-ran {
		t.Fatalf("resumed run: %+v; want the 100-byte partial line cut, %d skipped, %d run", rep, ran, st.Len()-ran)
	}
	if got := sortedLines(t, part); !slices.Equal(got, want) {
		t.Fatal("the resumed study's rows differ from the uninterrupted run's")
	}
}

type runnerFunc func(ctx context.Context, st *Study, jobs iter.Seq[Job], emit func(Row) error) error

func (f runnerFunc) Run(ctx context.Context, st *Study, jobs iter.Seq[Job], emit func(Row) error) error {
	return f(ctx, st, jobs, emit)
}

func TestOpenRowsRejects(t *testing.T) {
	st := mustParse(t, studyJSON(tinyAxes, tinyBalancers, `1`), nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "rows.jsonl")
	if _, err := Execute(context.Background(), st, path, Local{}, Options{}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)

	// Another base: every row is foreign.
	other := mustParse(t, []byte(strings.Replace(string(studyJSON(tinyAxes, tinyBalancers, `1`)), `"Flows": 50`, `"Flows": 51`, 1)), nil)
	if _, err := OpenRows(path, other); err == nil || !strings.Contains(err.Error(), "rows.jsonl:1: a row of a study with another base scenario") {
		t.Errorf("another base: %v", err)
	}
	// Another configuration of cilium: its rows are foreign, the others not.
	cil := mustParse(t, studyJSON(tinyAxes, `["titan", "katran", {"name": "cilium", "config": {"Mode": 1}}]`, `1`), nil)
	if _, err := OpenRows(path, cil); err == nil || !strings.Contains(err.Error(), "a row of balancer cilium with another configuration") {
		t.Errorf("another cilium config: %v", err)
	}
	// One more balancer and one more seed: the rows stay valid.
	more := mustParse(t, studyJSON(tinyAxes, `["titan", "katran", "cilium", "katran-naive"]`, `2`), nil)
	if n, err := CountDone(path, more); err != nil || n != st.Len() {
		t.Errorf("extended study: %d done, %v; want the %d rows kept", n, err, st.Len())
	}
	// A damaged line in the middle is an error naming it, and the file is untouched.
	lines := strings.SplitAfter(string(good), "\n")
	lines[2] = "{oops\n"
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(strings.Join(lines, "")), 0o644)
	before, _ := os.ReadFile(bad)
	if _, err := OpenRows(bad, st); err == nil || !strings.Contains(err.Error(), "bad.jsonl:3: not a row") {
		t.Errorf("damaged line: %v", err)
	}
	if after, _ := os.ReadFile(bad); !bytes.Equal(before, after) {
		t.Error("OpenRows changed a file it refused")
	}
	if n, err := CountDone(filepath.Join(dir, "none.jsonl"), st); n != 0 || err != nil {
		t.Errorf("CountDone of a missing file: %d, %v", n, err)
	}
}

// Local holds one job per worker: it does not start a job while the rows
// of the jobs it ran are not taken.
func TestLocalBoundsJobsInFlight(t *testing.T) {
	reg := NewRegistry()
	var started atomic.Int32
	Register(reg, "counted", titan.Config{}, func(c titan.Config) (balancer.Balancer, error) {
		started.Add(1)
		return titan.New(c)
	})
	st := mustParse(t, studyJSON(`[{"path": "traffic.reorder", "values": [0, 0.5]}]`, `["counted"]`, `50`), reg)
	started.Store(0)
	const workers = 3
	release := make(chan struct{})
	var mu sync.Mutex
	var got int
	done := make(chan error)
	go func() {
		done <- Local{Workers: workers}.Run(context.Background(), st, st.Jobs(), func(Row) error {
			<-release
			mu.Lock()
			got++
			mu.Unlock()
			return nil
		})
	}()
	for i := range 20 {
		// Each worker holds one row, blocked in emit; none starts another.
		for started.Load() < workers {
			time.Sleep(time.Millisecond) // the workers start their first jobs
		}
		if s := int(started.Load()); s > workers+i {
			t.Fatalf("after %d rows taken, %d jobs started: more than one per worker (%d)", i, s, workers)
		}
		release <- struct{}{}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got != st.Len() || int(started.Load()) != st.Len() {
		t.Fatalf("%d rows, %d jobs started; want %d", got, started.Load(), st.Len())
	}
}

func TestLocalReportsFailures(t *testing.T) {
	reg := NewRegistry()
	var calls atomic.Int32
	Register(reg, "flaky", titan.Config{}, func(c titan.Config) (balancer.Balancer, error) {
		if calls.Add(1) > 1 && c.FragTableSize == 64 { // the first call is Parse's check
			return nil, errors.New("no table for you")
		}
		return titan.New(c)
	})
	st := mustParse(t, studyJSON(`[{"path": "balancer.flaky.fragTableSize", "values": [64, 128]}]`, `["flaky"]`, `3`), reg)
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	rep, err := Execute(context.Background(), st, path, Local{MaxErrors: 2}, Options{})
	if err == nil || !strings.Contains(err.Error(), "no table for you") || !strings.Contains(err.Error(), "1 more jobs failed") {
		t.Fatalf("err = %v; want two failures in full and one counted", err)
	}
	if rep.Ran != 3 || rep.Left != 3 {
		t.Fatalf("%+v: want the 3 good jobs' rows and 3 left", rep)
	}
}

func TestExecuteOutputFailureStops(t *testing.T) {
	st := mustParse(t, studyJSON(tinyAxes, tinyBalancers, `1`), nil)
	if _, err := Execute(context.Background(), st, filepath.Join(t.TempDir(), "missing", "rows.jsonl"), Local{}, Options{}); err == nil {
		t.Fatal("a rows file in a missing directory gave no error")
	}
	// A runner handing back a row of another study is refused.
	bogus := runnerFunc(func(ctx context.Context, st *Study, jobs iter.Seq[Job], emit func(Row) error) error {
		for j := range jobs {
			row, err := st.Run(j)
			if err != nil {
				return err
			}
			row.Seed++ // no longer the job its ID names
			return emit(row)
		}
		return nil
	})
	_, err := Execute(context.Background(), st, filepath.Join(t.TempDir(), "rows.jsonl"), bogus, Options{})
	if err == nil || !strings.Contains(err.Error(), "not a row of this study") {
		t.Fatalf("err = %v, want the foreign row refused", err)
	}
}

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, total: 40}
	for _, tc := range []struct {
		done    int
		elapsed float64 // seconds
		want    string
	}{
		{0, 0, "[........................] 0/40 jobs"},
		{10, 5, "[######..................] 10/40 jobs  2 jobs/s  15s left"},
		{40, 8, "[########################] 40/40 jobs  5 jobs/s  took 8s"},
	} {
		p.done = tc.done
		if got := p.line(secs(tc.elapsed)); got != tc.want {
			t.Errorf("done %d after %vs: %q, want %q", tc.done, tc.elapsed, got, tc.want)
		}
	}
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
