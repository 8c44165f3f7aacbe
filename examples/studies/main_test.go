package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/study"
)

// The embedded study is the one docs/studies.md describes: it compiles,
// 400 jobs, and its base is the compare example's scenario.
func TestFragmentationStudy(t *testing.T) {
	st, err := study.Parse(fragmentation, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Len() != 400 || strings.Join(st.Axes(), ",") != "traffic.fragmentRate,traffic.reorder" ||
		strings.Join(st.Balancers(), ",") != "titan,katran,katran-naive,cilium" {
		t.Errorf("%d jobs, axes %v, balancers %v", st.Len(), st.Axes(), st.Balancers())
	}
	j, _ := st.Job(0)
	sc, err := st.Scenario(j)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Traffic.Flows != 10000 || len(sc.Backends) != 3 || sc.Duration.Seconds() != 1 {
		t.Errorf("base: %d flows, %d backends, %v", sc.Traffic.Flows, len(sc.Backends), sc.Duration)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	small := strings.NewReplacer(`"Flows": 10000`, `"Flows": 200`, `"Duration": 1000000000`, `"Duration": 10000000`,
		`"seeds": 10`, `"seeds": 2`).Replace(string(fragmentation))
	file := filepath.Join(dir, "small.json")
	os.WriteFile(file, []byte(small), 0o644)
	out, rows := filepath.Join(dir, "out"), filepath.Join(dir, "rows.jsonl")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-study", file, "-o", out, "-rows", rows}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "80 jobs (80 run, 0 already done)") {
		t.Errorf("output %q", stdout.String())
	}
	var s study.Summary
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil || json.Unmarshal(data, &s) != nil || len(s.Groups) != 40 {
		t.Fatalf("summary.json: %v, %d groups; want 40", err, len(s.Groups))
	}
	for _, name := range []string{"summary.txt", "reliability.svg", "cost.svg"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if svg, _ := os.ReadFile(filepath.Join(out, "cost.svg")); !bytes.Contains(svg, []byte("AvgCost against traffic.fragmentRate")) {
		t.Error("cost.svg is not the cost plot")
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"-study", file, "-o", out, "-rows", rows}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "80 jobs (0 run, 80 already done)") {
		t.Errorf("rerun with -rows: exit %d, %q; want every job resumed from the rows", code, stdout.String())
	}
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-study", filepath.Join(dir, "missing.json")}} {
		if code := run(context.Background(), args, &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}
