package sim_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/sim"
)

func TestSweepMatchesSequentialRuns(t *testing.T) {
	var jobs []sim.Job
	for seed := range int64(6) {
		jobs = append(jobs, sim.Job{Scenario: mixed(seed), NewLB: newMaglev})
	}
	jobs = append(jobs, sim.Job{Scenario: mixed(1), NewLB: newPin})
	got, err := sim.Sweep(jobs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(jobs) {
		t.Fatalf("%d results for %d jobs", len(got), len(jobs))
	}
	for i, j := range jobs {
		want := mustRun(t, j.Scenario, j.NewLB)
		a, _ := json.Marshal(got[i])
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Errorf("job %d: sweep result differs from a sequential run", i)
		}
	}
}

func TestSweepErrors(t *testing.T) {
	bad := mixed(1)
	bad.Traffic.MTU = 20
	res, err := sim.Sweep([]sim.Job{{Scenario: mixed(1), NewLB: newMaglev}, {Scenario: bad, NewLB: newMaglev}})
	if err == nil || !strings.Contains(err.Error(), "sim: jobs[1]: sim: scenario.traffic.mtu 20") {
		t.Fatalf("error %v, want one naming jobs[1] and the field", err)
	}
	if !errors.Is(err, sim.ErrInvalid) {
		t.Errorf("error %v does not wrap ErrInvalid", err)
	}
	if res[0].Packets == 0 || res[1].Packets != 0 {
		t.Errorf("good job not run or bad job has a result: %d, %d packets", res[0].Packets, res[1].Packets)
	}
	if r, err := sim.Sweep(nil); err != nil || len(r) != 0 {
		t.Errorf("empty sweep: %v, %v", r, err)
	}
}
