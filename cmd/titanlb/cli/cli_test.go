package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/sim"
	"github.com/titanlb/titanlb/study"
)

const scenarioJSON = `{"Duration": 5000000, "Backends": [
	{"ID": 101, "Name": "101", "Addr": "10.0.0.101", "Weight": 1, "Up": true},
	{"ID": 102, "Name": "102", "Addr": "10.0.0.102", "Weight": 1, "Up": true}],
	"Traffic": {"Flows": 50, "Rate": 20000, "FragmentRate": 0.5}}`

const studyFile = `{"base": ` + scenarioJSON + `,
	"axes": [{"path": "traffic.reorder", "values": [0, 0.5]}],
	"balancers": ["titan", "cilium"], "seeds": 2}`

// call runs the command and returns its status, stdout and stderr.
func call(t *testing.T, cfg Config, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb, cfg)
	return code, out.String(), errb.String()
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	sc := write(t, "scenario.json", scenarioJSON)
	code, out, errs := call(t, Config{}, "run", sc)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res sim.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not a Result: %v\n%s", err, out)
	}
	if res.Balancer != "titan" || res.Fragments == 0 || res.Reliability != 1 {
		t.Errorf("titan on the scenario: %+v", res)
	}
	// Katran drops fragments; -seed changes the traffic; - reads stdin.
	code, out, errs = call(t, Config{Stdin: strings.NewReader(scenarioJSON)}, "run", "-balancer", "katran", "-seed", "9", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var kat sim.Result
	json.Unmarshal([]byte(out), &kat)
	if kat.Balancer != "katran" || kat.Seed != 9 || kat.Reliability >= 1 {
		t.Errorf("katran, seed 9: balancer %s seed %d reliability %v", kat.Balancer, kat.Seed, kat.Reliability)
	}
	// The balancer's Config from -config: Cilium in DSR mode skips SNAT's
	// lookups and tail call.
	code, out, _ = call(t, Config{}, "run", "-balancer", "cilium", "-config", `{"Mode": 1}`, sc)
	var dsr sim.Result
	json.Unmarshal([]byte(out), &dsr)
	code2, out2, _ := call(t, Config{}, "run", "-balancer", "cilium", sc)
	var snat sim.Result
	json.Unmarshal([]byte(out2), &snat)
	if code != 0 || code2 != 0 || dsr.AvgCost >= snat.AvgCost {
		t.Errorf("cilium DSR: %v STU/packet, SNAT %v: want DSR cheaper", dsr.AvgCost, snat.AvgCost)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", write(t, "bad.json", `{"Trafic": {}}`)}, `unknown field "Trafic"`},
		{[]string{"run", write(t, "mtu.json", strings.Replace(scenarioJSON, `"Flows": 50`, `"MTU": 20`, 1))}, "scenario.traffic.mtu 20: must be at least 68"},
		{[]string{"run", "-balancer", "maglev", sc}, `unknown balancer kind "maglev"`},
		{[]string{"run", "-config", "{nope", sc}, "-config"},
		{[]string{"run", "-balancer", "titan", "-config", `{"RingSize": 100}`, sc}, ""},
		{[]string{"run"}, "want one scenario file"},
	} {
		code, _, errs := call(t, Config{}, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want failure naming %q", tc.args[1:], code, errs, tc.want)
		}
	}
}

func TestStudyAndSummary(t *testing.T) {
	sf := write(t, "study.json", studyFile)
	rows := filepath.Join(filepath.Dir(sf), "rows.jsonl")
	code, out, errs := call(t, Config{}, "study", sf, "-o", rows, "-workers", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "8 jobs: 8 run now, 0 already in") {
		t.Errorf("report %q", out)
	}
	code, out, _ = call(t, Config{}, "study", "-o", rows, sf)
	if code != 0 || !strings.Contains(out, "8 jobs: 0 run now, 8 already in") {
		t.Errorf("rerun: exit %d, %q: want every job skipped", code, out)
	}
	code, out, _ = call(t, Config{}, "study", "-check", sf, "-o", rows)
	if code != 0 || !strings.Contains(out, "8 jobs: 2 balancers (titan, cilium), 1 axes (traffic.reorder)") || !strings.Contains(out, "8 of them done, 0 to run") {
		t.Errorf("-check: exit %d, %q", code, out)
	}

	code, out, errs = call(t, Config{}, "summary", rows, "-metrics", "reliability,affinity")
	if code != 0 {
		t.Fatalf("summary: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || strings.Join(strings.Fields(lines[0]), " ") != "traffic.reorder balancer n Reliability Affinity" {
		t.Fatalf("summary table:\n%s", out)
	}
	// Cilium drops fragments that overtake their first one: with reordering
	// its reliability is below 1, and below Titan's.
	if f := strings.Fields(lines[3]); f[0] != "0.5" || f[1] != "cilium" || f[3] == "1" {
		t.Errorf("cilium with reordering: %q, want reliability below 1", lines[3])
	}

	svg := filepath.Join(filepath.Dir(sf), "plot.svg")
	code, _, errs = call(t, Config{}, "summary", "-svg", svg, "-metric", "affinity", rows)
	if code != 0 {
		t.Fatalf("summary -svg: exit %d: %s", code, errs)
	}
	if data, err := os.ReadFile(svg); err != nil || !bytes.Contains(data, []byte("Affinity against traffic.reorder")) {
		t.Errorf("plot: %v, %.200s", err, data)
	}
	code, out, _ = call(t, Config{}, "summary", "-json", rows)
	var s study.Summary
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil || len(s.Groups) != 4 {
		t.Errorf("summary -json: exit %d, %v, %d groups", code, err, len(s.Groups))
	}
	code, out, _ = call(t, Config{}, "summary", "-list", rows)
	if code != 0 || !strings.Contains(out, "axes: traffic.reorder") || !strings.Contains(out, "  LatencyP99\n") {
		t.Errorf("summary -list: %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"summary", "-metrics", "reliabilty", rows}, `no metric "reliabilty"`},
		{[]string{"summary", "-svg", svg, "-axis", "node.cpus", rows}, `-axis "node.cpus"`},
		{[]string{"summary", "-svg", svg, "-metric", "nope", rows}, `-metric "nope"`},
		{[]string{"summary", filepath.Join(t.TempDir(), "none.jsonl")}, "no such file"},
	} {
		code, _, errs := call(t, Config{}, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want failure naming %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestStudyErrors(t *testing.T) {
	sf := write(t, "study.json", studyFile)
	rows := filepath.Join(t.TempDir(), "rows.jsonl")
	bad := write(t, "bad.json", strings.Replace(studyFile, `"traffic.reorder"`, `"traffic.reordr"`, 1))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"study", bad, "-o", rows}, 2, `axes[0].path: "traffic.reordr"`},
		{[]string{"study", sf}, 2, "-o: name the rows file"},
		{[]string{"study", sf, "-o", rows, "-runner", "beam"}, 2, "go install ./cmd/titanlb-beam"},
		{[]string{"study", sf, "-o", rows, "-runner", "spark"}, 2, `-runner "spark": this build has local`},
		{[]string{"study", sf, "-o", rows, "--", "--runner=flink"}, 2, "the local runner takes no arguments after --"},
		{[]string{"study", sf, "-o", filepath.Join(t.TempDir(), "no", "rows.jsonl")}, 1, "no such file or directory"},
		{[]string{"study", "-workers", "-1", sf, "-o", rows}, 2, "-workers -1"},
	} {
		code, _, errs := call(t, Config{Missing: map[string]string{"beam": BeamMissing}}, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %q", tc.args[1:], code, errs, tc.code, tc.want)
		}
	}
}

// fakeRunner records what the command handed it and runs jobs locally.
type fakeRunner struct {
	args []string
	jobs int
}

func (f *fakeRunner) Run(ctx context.Context, st *study.Study, jobs iter.Seq[study.Job], emit func(study.Row) error) error {
	for j := range jobs {
		f.jobs++
		row, err := st.Run(j)
		if err != nil {
			return err
		}
		if err := emit(row); err != nil {
			return err
		}
	}
	return nil
}

func TestStudyRunnerFlags(t *testing.T) {
	sf := write(t, "study.json", studyFile)
	rows := filepath.Join(t.TempDir(), "rows.jsonl")
	f := &fakeRunner{}
	cfg := Config{Runners: map[string]RunnerFunc{"fake": func(out string, args []string) (study.Runner, error) {
		if out != rows {
			t.Errorf("runner made for %q, want %q", out, rows)
		}
		f.args = args
		return f, nil
	}}}
	code, _, errs := call(t, cfg, "study", sf, "-runner", "fake", "-o", rows, "--", "--runner=flink", "--endpoint=localhost:8099")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Join(f.args, " ") != "--runner=flink --endpoint=localhost:8099" || f.jobs != 8 {
		t.Errorf("runner got args %q and %d jobs; want the arguments after -- and 8 jobs", f.args, f.jobs)
	}
	if code, _, errs := call(t, cfg, "study", sf, "-o", rows, "-runner", "nope"); code != 2 || !strings.Contains(errs, "this build has local, fake") {
		t.Errorf("unknown runner: exit %d, %q", code, errs)
	}
}

func TestHelp(t *testing.T) {
	code, _, errs := call(t, Config{})
	if code != 2 || !strings.Contains(errs, "usage: titanlb <command>") {
		t.Errorf("no arguments: exit %d, %q", code, errs)
	}
	code, out, _ := call(t, Config{}, "help")
	if code != 0 || !strings.Contains(out, "summary  summarize a rows file") {
		t.Errorf("help: exit %d, %q", code, out)
	}
	for cmd, want := range map[string]string{
		"run":     "prints its\nsim.Result as JSON",
		"study":   "rerunning the same command resumes",
		"summary": "95%\nconfidence interval",
	} {
		code, _, errs := call(t, Config{}, cmd, "-h")
		if code != 0 || !strings.Contains(errs, "usage: titanlb "+cmd) || !strings.Contains(errs, want) {
			t.Errorf("%s -h: exit %d, %q", cmd, code, errs)
		}
		code, _, errs = call(t, Config{}, "help", cmd)
		if code != 0 || !strings.Contains(errs, want) {
			t.Errorf("help %s: exit %d", cmd, code)
		}
	}
	if code, _, errs := call(t, Config{}, "sweep"); code != 2 || !strings.Contains(errs, `unknown command "sweep"`) {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
}
