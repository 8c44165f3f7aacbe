package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const studyFile = `{
  "base": {"Duration": 10000000, "Backends": [
    {"ID": 101, "Name": "101", "Addr": "10.0.0.101", "Weight": 1, "Up": true},
    {"ID": 102, "Name": "102", "Addr": "10.0.0.102", "Weight": 1, "Up": true}],
    "Traffic": {"Flows": 100, "Rate": 20000, "FragmentRate": 0.5}},
  "axes": [{"path": "traffic.reorder", "values": [0, 0.5]}],
  "balancers": ["titan", "cilium"],
  "seeds": 3
}`

func call(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, nil)
	return code, out.String(), errb.String()
}

func sorted(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l := strings.SplitAfter(string(data), "\n")
	slices.Sort(l)
	return l
}

// titanlb-beam study -runner beam writes the rows titanlb study writes
// with the local runner, and its summary is the same.
func TestStudyOnBeam(t *testing.T) {
	dir := t.TempDir()
	sf := filepath.Join(dir, "study.json")
	os.WriteFile(sf, []byte(studyFile), 0o644)
	local, viaBeam := filepath.Join(dir, "local.jsonl"), filepath.Join(dir, "beam.jsonl")
	if code, _, errs := call(t, "study", sf, "-o", local); code != 0 {
		t.Fatalf("local: exit %d: %s", code, errs)
	}
	code, out, errs := call(t, "study", sf, "-o", viaBeam, "-runner", "beam", "--", "--job_name=titanlb-test")
	if code != 0 {
		t.Fatalf("beam: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "12 jobs: 12 run now") {
		t.Errorf("report: %q", out)
	}
	if !slices.Equal(sorted(t, local), sorted(t, viaBeam)) {
		t.Fatal("the Beam runner's rows differ from the local runner's")
	}
	if _, err := os.Stat(viaBeam + ".staging"); !os.IsNotExist(err) {
		t.Errorf("the default staging directory %s.staging is left behind: %v", viaBeam, err)
	}
	_, a, _ := call(t, "summary", local)
	_, b, _ := call(t, "summary", viaBeam)
	if a != b || !strings.Contains(a, "cilium") {
		t.Errorf("summaries differ:\n%s\n%s", a, b)
	}
	if code, _, errs := call(t, "study", sf, "-o", viaBeam, "-runner", "beam", "--", "--no_such_flag"); code != 2 || !strings.Contains(errs, "no_such_flag") {
		t.Errorf("a bad Beam flag: exit %d, %q", code, errs)
	}
}

func TestWorkerArgs(t *testing.T) {
	if !worker([]string{"--worker=true", "--id=1"}) || worker([]string{"study", "s.json"}) {
		t.Error("worker() misreads Beam's worker invocation")
	}
}
