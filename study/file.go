package study

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/titanlb/titanlb/sim"
)

// File is a study file's JSON form: a base scenario, the axes that vary
// it, the balancers that run each point, and the seeds each runs with.
//
//	{
//	  "base": {"Duration": 1000000000, "Backends": [...], "Traffic": {"Flows": 10000}},
//	  "axes": [
//	    {"path": "traffic.fragmentRate", "values": [0, 0.25, 0.5, 0.75, 1]},
//	    {"path": "balancer.titan.fragTableSize", "values": [1024, 8192]}
//	  ],
//	  "balancers": ["titan", "katran", {"name": "titan-all", "kind": "titan", "config": {"OrphanAdmission": 2}}],
//	  "seeds": 20
//	}
type File struct {
	// Description says what the study is for; nothing reads it.
	Description string `json:"description,omitempty"`
	// Base is the scenario every job starts from (sim.Scenario's JSON
	// form; durations in nanoseconds). Its Seed is replaced by each seed.
	Base sim.Scenario `json:"base"`
	// Axes vary the base: every combination of their values is a point of
	// the grid.
	Axes []Axis `json:"axes"`
	// Balancers run every point; each is a name or a [Balancer] object.
	Balancers []Balancer `json:"balancers"`
	// Seeds each point runs with: a list of seeds, or a count n meaning
	// 1..n. Absent: the base's Seed alone.
	Seeds Seeds `json:"seeds,omitzero"`
}

// Axis is one dimension of a study's grid: a field path and its values.
//
// A path names a field of sim.Scenario's JSON form ("traffic.fragmentRate",
// "node.cpus", "backends[0].weight"), or, behind "balancer.<name>.", a
// field of that study balancer's configuration
// ("balancer.titan.fragTableSize"); its values then vary that balancer's
// jobs only. Segments match JSON names as encoding/json does (exactly,
// else ignoring case). Each value must decode as the field's type.
type Axis struct {
	Path   string            `json:"path"`
	Values []json.RawMessage `json:"values"`
}

// Balancer is one balancer of a study: Name labels its rows and its axes
// ("balancer.<name>.<path>"); Kind is the registered kind it builds
// (empty: Name); Config is decoded on top of the kind's base
// configuration. In a study file a bare string "titan" stands for
// {"name": "titan"}.
type Balancer struct {
	Name   string          `json:"name"`
	Kind   string          `json:"kind,omitempty"`
	Config json.RawMessage `json:"config,omitempty"`
}

// UnmarshalJSON accepts a name or an object.
func (b *Balancer) UnmarshalJSON(data []byte) error {
	if s := bytes.TrimSpace(data); len(s) > 0 && s[0] == '"' {
		*b = Balancer{}
		return json.Unmarshal(s, &b.Name)
	}
	type plain Balancer
	var p plain
	if err := decodeStrict(data, &p); err != nil {
		return err
	}
	*b = Balancer(p)
	return nil
}

// Seeds are the seeds of a study. In JSON: a list [1, 2, 7] or a count n
// (1..n).
type Seeds []int64

// MaxSeeds bounds a seed count.
const MaxSeeds = 1_000_000

// UnmarshalJSON accepts a list of seeds or a count.
func (s *Seeds) UnmarshalJSON(data []byte) error {
	if d := bytes.TrimSpace(data); len(d) > 0 && d[0] != '[' {
		var n float64
		if err := json.Unmarshal(d, &n); err != nil {
			return fmt.Errorf("want a list of seeds or a count: %w", err)
		}
		if n != math.Trunc(n) || n < 1 || n > MaxSeeds {
			return fmt.Errorf("count %v: want a whole number between 1 and %d", n, MaxSeeds)
		}
		*s = make(Seeds, int(n))
		for i := range *s {
			(*s)[i] = int64(i + 1)
		}
		return nil
	}
	return json.Unmarshal(data, (*[]int64)(s))
}
