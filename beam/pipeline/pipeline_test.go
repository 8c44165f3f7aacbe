package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/study"
)

// built counts the balancers testRegistry's "counted" kind built: Prism
// runs the workers in this process, so the test sees what they ran.
var built atomic.Int64

// testRegistry adds a kind that counts its runs; workers find it by name.
func testRegistry() *study.Registry {
	reg := study.NewRegistry()
	study.Register(reg, "counted", titan.Config{}, func(c titan.Config) (balancer.Balancer, error) {
		built.Add(1)
		return titan.New(c)
	})
	return reg
}

func init() { beam.RegisterFunction(testRegistry) }

const smallStudy = `{
  "base": {"Duration": 10000000, "Backends": [
    {"ID": 101, "Name": "101", "Addr": "10.0.0.101", "Weight": 1, "Up": true},
    {"ID": 102, "Name": "102", "Addr": "10.0.0.102", "Weight": 1, "Up": true},
    {"ID": 103, "Name": "103", "Addr": "10.0.0.103", "Weight": 1, "Up": true}],
    "Traffic": {"Flows": 100, "Rate": 20000}},
  "axes": [
    {"path": "traffic.fragmentRate", "values": [0, 0.5, 1]},
    {"path": "traffic.reorder", "values": [0, 0.3]},
    {"path": "balancer.titan.fragTableSize", "values": [64, 1024]}
  ],
  "balancers": ["titan", "katran", "katran-naive", "cilium"],
  "seeds": 2
}`

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.SplitAfter(string(data), "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	slices.Sort(out)
	return out
}

// The same study on the local runner and on Beam (Prism) gives the same
// rows, byte for byte.
func TestSameRowsAsLocal(t *testing.T) {
	st, err := study.Parse([]byte(smallStudy), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local, viaBeam := filepath.Join(dir, "local.jsonl"), filepath.Join(dir, "beam.jsonl")
	if _, err := study.Execute(context.Background(), st, local, study.Local{}, study.Options{}); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, "staging")
	rep, err := study.Execute(context.Background(), st, viaBeam, Runner{Staging: staging}, study.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ran != st.Len() {
		t.Fatalf("beam run: %+v, want %d rows", rep, st.Len())
	}
	a, b := lines(t, local), lines(t, viaBeam)
	if len(a) != st.Len() || !slices.Equal(a, b) {
		t.Fatalf("local gave %d rows, beam %d; equal: %v", len(a), len(b), slices.Equal(a, b))
	}
	if _, err := os.Stat(filepath.Join(staging, st.Fingerprint())); !os.IsNotExist(err) {
		t.Errorf("the staging directory is left behind: %v", err)
	}
}

// A Beam run resumes: rows already in the file are not run again, and
// complete shards a killed run left in staging are taken without running
// their jobs; partial shards are ignored.
func TestResume(t *testing.T) {
	src := strings.Replace(smallStudy, `"titan", "katran", "katran-naive", "cilium"`, `"counted"`, 1)
	src = strings.Replace(src, `"balancer.titan.fragTableSize"`, `"balancer.counted.fragTableSize"`, 1)
	st, err := study.Parse([]byte(src), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	full := filepath.Join(dir, "full.jsonl")
	if _, err := study.Execute(context.Background(), st, full, study.Local{}, study.Options{}); err != nil {
		t.Fatal(err)
	}
	want := lines(t, full) // 24 rows
	// The rows file holds the first 6 rows; a killed pipeline left 5 more
	// in a complete shard and a partial shard.
	rows := filepath.Join(dir, "rows.jsonl")
	os.WriteFile(rows, []byte(strings.Join(want[:6], "")), 0o644)
	staging := filepath.Join(dir, "staging")
	sub := filepath.Join(staging, st.Fingerprint())
	os.MkdirAll(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "old"+ShardSuffix), []byte(strings.Join(want[6:11], "")), 0o644)
	os.WriteFile(filepath.Join(sub, "dead.tmp"), []byte(want[11][:50]), 0o644)

	built.Store(0)
	rep, err := study.Execute(context.Background(), st, rows, Runner{Staging: staging, Registry: testRegistry}, study.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped != 6 || rep.Ran != len(want)-6 {
		t.Errorf("%+v: want 6 skipped and %d appended", rep, len(want)-6)
	}
	// Each worker's DoFn builds one balancer when it checks the study;
	// beyond those, only the 13 jobs without a row ran.
	if n := built.Load(); n < 13 || n > 13+4 {
		t.Errorf("%d balancers built: want the 13 jobs left (and a few checks), not the %d of the study", n, len(want))
	}
	if got := lines(t, rows); !slices.Equal(got, want) {
		t.Fatalf("resumed rows differ from a full run's (%d rows, want %d)", len(got), len(want))
	}
	if _, err := os.Stat(sub); !os.IsNotExist(err) {
		t.Errorf("staging left behind: %v", err)
	}
}

func TestSpans(t *testing.T) {
	got := Spans([]int{0, 1, 2, 5, 7, 8})
	if want := []Span{{0, 3}, {5, 6}, {7, 9}}; !slices.Equal(got, want) {
		t.Errorf("Spans = %v, want %v", got, want)
	}
	if Spans(nil) != nil {
		t.Error("Spans(nil) is not empty")
	}
}

func TestParseFlags(t *testing.T) {
	f, err := ParseFlags([]string{"--rows_staging=gs://b/x", "--job_name=t1", "--verbose"})
	if err != nil || f.Staging != "gs://b/x" || !f.Verbose {
		t.Errorf("ParseFlags: %+v, %v", f, err)
	}
	if _, err := ParseFlags([]string{"--no_such_flag=1"}); err == nil || !strings.Contains(err.Error(), "no_such_flag") {
		t.Errorf("an unknown flag: %v", err)
	}
	if got := DefaultStaging("gs://b/rows.jsonl"); got != "gs://b/rows.jsonl.staging" {
		t.Errorf("DefaultStaging = %q", got)
	}
}

func TestRegistryMustBeRegistered(t *testing.T) {
	st, err := study.Parse([]byte(smallStudy), nil)
	if err != nil {
		t.Fatal(err)
	}
	unregistered := func() *study.Registry { return study.NewRegistry() }
	_, err = study.Execute(context.Background(), st, filepath.Join(t.TempDir(), "rows.jsonl"), Runner{Registry: unregistered}, study.Options{})
	if err == nil || !strings.Contains(err.Error(), "register it with beam.RegisterFunction") {
		t.Errorf("an unregistered registry function: %v", err)
	}
}
