package study

import (
	"encoding/json"
	"fmt"
	"iter"

	"github.com/titanlb/titanlb/sim"
)

// ParamBalancer is the [Params] key of a job's balancer name.
const ParamBalancer = "balancer"

// Params are a job's parameters: its balancer's name under
// [ParamBalancer], and the canonical path of every axis that applies to
// it with that axis's value, as canonical JSON (the value decoded into
// the field's type and marshalled again: 0.50 and 5e-1 are both 0.5).
// They marshal as a JSON object with sorted keys.
type Params map[string]json.RawMessage

// Job is one run of a study: a balancer at one point of the grid, with
// one seed.
type Job struct {
	// ID is derived from Params and Seed alone (the first 16 hex digits of
	// the SHA-256 of {"params":...,"seed":...} in canonical JSON), so it
	// is the same in every run of the study, on every runner, whatever the
	// order of the study's axes, balancers or seeds.
	ID string
	// Index is the job's place in the study's expansion: seeds vary
	// slowest, then balancers in study order, then axes in study order,
	// the last fastest.
	Index    int
	Balancer string
	Params   Params
	Seed     int64

	bal   int
	point []int // value index per study axis; -1 where the axis does not apply
}

// Job returns the job at index i, 0 <= i < Len().
func (st *Study) Job(i int) (Job, error) {
	if i < 0 || i >= st.Len() {
		return Job{}, fmt.Errorf("study: job %d: out of range [0, %d)", i, st.Len())
	}
	seed := st.seeds[i/st.perSeed]
	r := i % st.perSeed
	bi := len(st.bals) - 1
	for bi > 0 && st.bals[bi].first > r {
		bi--
	}
	b := st.bals[bi]
	r -= b.first
	point := make([]int, len(st.axes))
	for k := range point {
		point[k] = -1
	}
	for k := len(b.axes) - 1; k >= 0; k-- {
		n := len(st.axes[b.axes[k]].values)
		point[b.axes[k]] = r % n
		r /= n
	}
	j := Job{Index: i, Balancer: b.name, Seed: seed, bal: bi, point: point,
		Params: Params{ParamBalancer: mustJSON(b.name)}}
	for k, v := range point {
		if v >= 0 {
			j.Params[st.axes[k].path.name] = st.axes[k].values[v].canon
		}
	}
	j.ID = JobID(j.Params, seed)
	return j, nil
}

// Jobs yields every job of the study in index order. It computes each
// job as it goes: a study of millions of jobs is not held in memory.
func (st *Study) Jobs() iter.Seq[Job] {
	return func(yield func(Job) bool) {
		for i := range st.Len() {
			j, _ := st.Job(i) // in range
			if !yield(j) {
				return
			}
		}
	}
}

// JobID returns the ID of the job with params and seed (see [Job].ID).
func JobID(params Params, seed int64) string {
	data, _ := json.Marshal(struct { // maps marshal with sorted keys
		Params Params `json:"params"`
		Seed   int64  `json:"seed"`
	}{params, seed})
	return hash(data)
}

func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// Scenario returns job j's scenario: the base with j's axes set and j's
// seed.
func (st *Study) Scenario(j Job) (sim.Scenario, error) {
	j, err := st.Job(j.Index)
	if err != nil {
		return sim.Scenario{}, err
	}
	sc, err := st.scenario(j.point)
	if err != nil {
		return sc, fmt.Errorf("study: job %s: %w", j.ID, err)
	}
	sc.Seed = j.Seed
	return sc, nil
}

// Run runs job j (the job at j.Index) with [sim.Run] and returns its row.
// Jobs are deterministic: the same study and job give the same row,
// byte for byte, on any runner.
func (st *Study) Run(j Job) (Row, error) {
	j, err := st.Job(j.Index)
	if err != nil {
		return Row{}, err
	}
	sc, err := st.scenario(j.point)
	if err != nil {
		return Row{}, fmt.Errorf("study: job %s: %w", j.ID, err)
	}
	sc.Seed = j.Seed
	newLB, err := st.newLB(j.bal, j.point)
	if err != nil {
		return Row{}, fmt.Errorf("study: job %s: %w", j.ID, err)
	}
	res, err := sim.Run(sc, newLB)
	if err != nil {
		return Row{}, fmt.Errorf("study: job %s (%s, seed %d): %w", j.ID, st.describe(j.point), j.Seed, err)
	}
	return Row{ID: j.ID, Study: st.bals[j.bal].fingerprint, Params: j.Params, Seed: j.Seed, Result: res}, nil
}
