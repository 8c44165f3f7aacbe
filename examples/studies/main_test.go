package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// committed is where the default study's outputs are committed.
var committed = filepath.Join("..", "..", "docs", "studies", "fragmentation")

const regenerate = "regenerate them with `go run ./examples/studies` (docs/studies.md)"

// The committed outputs are what the code makes of the committed
// summary.json: its table and plots are rendered again here, and one
// cell of the study (fragmentation 50%, reordering 20%, every balancer,
// 10 seeds) is run again and must give the committed means and intervals,
// figure for figure. A change of a model's behaviour or costs fails here
// until the outputs are regenerated.
func TestCommittedOutputs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(committed, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s study.Summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Groups) != 40 || strings.Join(s.Axes, ",") != "traffic.fragmentRate,traffic.reorder" {
		t.Fatalf("committed summary.json: %d groups along %v; want the 40 of fragmentation.json", len(s.Groups), s.Axes)
	}
	for _, o := range outputs(&s, "traffic.fragmentRate") {
		var buf bytes.Buffer
		if err := o.write(&buf); err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(committed, o.name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("docs/studies/fragmentation/%s is not what the code renders from summary.json: %s", o.name, regenerate)
		}
	}
	if testing.Short() {
		t.Skip("-short: the committed figures are not re-run")
	}

	var file map[string]any
	if err := json.Unmarshal(fragmentation, &file); err != nil {
		t.Fatal(err)
	}
	file["axes"] = []any{
		map[string]any{"path": "traffic.fragmentRate", "values": []float64{0.5}},
		map[string]any{"path": "traffic.reorder", "values": []float64{0.2}},
	}
	cell, _ := json.Marshal(file)
	st, err := study.Parse(cell, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := filepath.Join(t.TempDir(), "rows.jsonl")
	if _, err := study.Execute(context.Background(), st, rows, study.Local{}, study.Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := study.SummarizeFile(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Groups) != 4 {
		t.Fatalf("the cell gave %d groups, want 4 balancers", len(got.Groups))
	}
	key := func(p study.Params) string { b, _ := json.Marshal(p); return string(b) }
	want := map[string]study.Group{}
	for _, g := range s.Groups {
		want[key(g.Params)] = g
	}
	for _, g := range got.Groups {
		w, ok := want[key(g.Params)]
		if !ok {
			t.Errorf("%s: no such group in the committed summary.json", key(g.Params))
			continue
		}
		for _, m := range slices.Sorted(maps.Keys(w.Stats)) {
			if c := w.Stats[m]; g.Stats[m] != c { // a metric the cell's rows lack is 0 in them
				t.Errorf("%s %s: the code gives %+v, docs/studies/fragmentation/summary.json %+v: %s",
					key(g.Params), m, g.Stats[m], c, regenerate)
			}
		}
		for m := range g.Stats {
			if _, ok := w.Stats[m]; !ok {
				t.Errorf("%s: the code gives a metric %s that docs/studies/fragmentation/summary.json lacks: %s", key(g.Params), m, regenerate)
			}
		}
	}
}
