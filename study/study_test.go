package study

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

// tinyBase is a scenario that runs in about a millisecond.
const tinyBase = `{"Duration": 5000000, "Backends": [
	{"ID": 101, "Name": "101", "Addr": "10.0.0.101", "Weight": 1, "Up": true},
	{"ID": 102, "Name": "102", "Addr": "10.0.0.102", "Weight": 1, "Up": true},
	{"ID": 103, "Name": "103", "Addr": "10.0.0.103", "Weight": 1, "Up": true}],
	"Traffic": {"Flows": 50, "Rate": 20000}}`

// studyJSON is a small study with a scenario axis, a balancer axis and
// three seeds: 3·(2+1+1)·... see TestJobs.
func studyJSON(axes, balancers, seeds string) []byte {
	return []byte(`{"base": ` + tinyBase + `, "axes": ` + axes + `, "balancers": ` + balancers + `, "seeds": ` + seeds + `}`)
}

const (
	tinyAxes      = `[{"path": "traffic.fragmentRate", "values": [0, 0.5, 1]}, {"path": "balancer.titan.fragTableSize", "values": [64, 4096]}]`
	tinyBalancers = `["titan", "katran", "cilium"]`
)

func mustParse(t testing.TB, data []byte, reg *Registry) *Study {
	t.Helper()
	st, err := Parse(data, reg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, axes, balancers, seeds string
		want                         string // in the error
	}{
		{"unknown path", `[{"path": "traffic.fragmentRat", "values": [0]}]`, tinyBalancers, `1`,
			`axes[0].path: "traffic.fragmentRat": sim.Traffic has no field "fragmentRat"`},
		{"unknown top field", `[{"path": "trafic.mtu", "values": [0]}]`, tinyBalancers, `1`,
			`axes[0].path: "trafic.mtu": sim.Scenario has no field "trafic"`},
		{"path into a number", `[{"path": "traffic.mtu.x", "values": [0]}]`, tinyBalancers, `1`,
			`traffic.mtu is a int, which has no field "x"`},
		{"unknown balancer field", `[{"path": "balancer.titan.fragTable", "values": [1]}]`, tinyBalancers, `1`,
			`axes[0].path: "fragTable": titan.Config has no field "fragTable"`},
		{"axis of a balancer not in the study", `[{"path": "balancer.foo.x", "values": [1]}]`, tinyBalancers, `1`,
			`axes[0].path: "balancer.foo.x": no balancer "foo" in balancers`},
		{"wrong type", `[{"path": "traffic.fragmentRate", "values": [0, "half"]}]`, tinyBalancers, `1`,
			`axes[0].values[1] "half": traffic.fragmentRate is a float64`},
		{"wrong type in a balancer", `[{"path": "balancer.titan.fragTableSize", "values": [1.5]}]`, tinyBalancers, `1`,
			`axes[0].values[0] 1.5: balancer.titan.fragTableSize is a int`},
		{"empty axis", `[{"path": "traffic.reorder", "values": []}]`, tinyBalancers, `1`,
			`axes[0].values: traffic.reorder: no values`},
		{"duplicate value", `[{"path": "traffic.reorder", "values": [0.5, 0.50]}]`, tinyBalancers, `1`,
			`axes[0].values[1] 0.50: listed twice (values[0])`},
		{"duplicate axis", `[{"path": "traffic.reorder", "values": [0]}, {"path": "Traffic.Reorder", "values": [1]}]`, tinyBalancers, `1`,
			`axes[1].path: "traffic.reorder" sets what axes[0] "traffic.reorder" sets`},
		{"overlapping axes", `[{"path": "traffic", "values": [{}]}, {"path": "traffic.mtu", "values": [1500]}]`, tinyBalancers, `1`,
			`axes[1].path: "traffic.mtu" sets what axes[0] "traffic" sets`},
		{"seed axis", `[{"path": "seed", "values": [1]}]`, tinyBalancers, `1`, `axes[0].path: "seed": the seed is not an axis`},
		{"index beyond the base", `[{"path": "backends[3].weight", "values": [2]}]`, tinyBalancers, `1`,
			`axes[0].path: backends[3].weight: the base has 3 elements there`},
		{"bad index", `[{"path": "backends[x].weight", "values": [2]}]`, tinyBalancers, `1`, `bad index in "backends[x]"`},
		{"duplicate balancer", `[]`, `["titan", "katran", "titan"]`, `1`, `balancers[2].name: "titan" listed twice (balancers[0])`},
		{"unknown kind", `[]`, `["titan", "maglev"]`, `1`, `balancers[1]: unknown balancer kind "maglev"`},
		{"bad name", `[]`, `[{"name": "my.lb", "kind": "titan"}]`, `1`, `balancers[0].name: "my.lb"`},
		{"no balancers", `[]`, `[]`, `1`, `balancers: none`},
		{"bad config field", `[]`, `[{"name": "t", "kind": "titan", "config": {"FragTableSise": 1}}]`, `1`,
			`balancers[0].config: titan.Config: json: unknown field "FragTableSise"`},
		{"bad scenario point", `[{"path": "traffic.mtu", "values": [1500, 20]}]`, tinyBalancers, `1`,
			`point traffic.mtu=20: sim: scenario.traffic.mtu 20: must be at least 68`},
		{"bad balancer point", `[{"path": "balancer.titan.ringSize", "values": [65537, 100]}]`, tinyBalancers, `1`,
			`balancers[0] titan at balancer.titan.ringSize=100: titan: config.RingSize 100: not prime`},
		{"duplicate seed", `[]`, tinyBalancers, `[1, 2, 1]`, `seeds[2]: 1 listed twice (seeds[0])`},
		{"no seeds", `[]`, tinyBalancers, `[]`, `seeds: empty list`},
		{"bad seed count", `[]`, tinyBalancers, `2.5`, `count 2.5: want a whole number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(studyJSON(tc.axes, tc.balancers, tc.seeds), nil)
			if err == nil {
				t.Fatalf("no error; want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q is not ErrInvalid", err)
			}
		})
	}
}

func TestParseUnknownFileField(t *testing.T) {
	_, err := Parse([]byte(`{"base": {"Trafic": {}}, "balancers": ["titan"]}`), nil)
	if err == nil || !strings.Contains(err.Error(), `unknown field "Trafic"`) {
		t.Fatalf("err = %v, want the unknown base field named", err)
	}
	_, err = Parse([]byte(`{"base": {}, "balancers": ["titan"], "axis": []}`), nil)
	if err == nil || !strings.Contains(err.Error(), `unknown field "axis"`) {
		t.Fatalf("err = %v, want the unknown study field named", err)
	}
}

func TestJobs(t *testing.T) {
	st := mustParse(t, studyJSON(tinyAxes, tinyBalancers, `3`), nil)
	// Per seed: titan 3 rates x 2 table sizes, katran 3, cilium 3.
	if got, want := st.Len(), 3*(6+3+3); got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	ids := map[string]bool{}
	count := map[string]int{}
	for j := range st.Jobs() {
		if ids[j.ID] {
			t.Fatalf("job %d: ID %s repeated", j.Index, j.ID)
		}
		ids[j.ID] = true
		count[j.Balancer]++
		_, hasTable := j.Params["balancer.titan.fragTableSize"]
		if hasTable != (j.Balancer == "titan") {
			t.Errorf("job %d (%s): params %v: the titan axis must apply to titan only", j.Index, j.Balancer, j.Params)
		}
		if string(j.Params[ParamBalancer]) != `"`+j.Balancer+`"` {
			t.Errorf("job %d: params balancer %s, want %q", j.Index, j.Params[ParamBalancer], j.Balancer)
		}
		if j.ID != JobID(j.Params, j.Seed) {
			t.Errorf("job %d: ID %s is not JobID of its params", j.Index, j.ID)
		}
	}
	if count["titan"] != 18 || count["katran"] != 9 || count["cilium"] != 9 {
		t.Errorf("jobs per balancer %v, want titan 18, katran 9, cilium 9", count)
	}
	first, _ := st.Job(0)
	if first.Seed != 1 || first.Balancer != "titan" || string(first.Params["traffic.fragmentRate"]) != "0" ||
		string(first.Params["balancer.titan.fragTableSize"]) != "64" {
		t.Errorf("job 0 = %+v, want seed 1, titan, rate 0, table 64", first)
	}
	second, _ := st.Job(1)
	if string(second.Params["balancer.titan.fragTableSize"]) != "4096" {
		t.Errorf("job 1 params %v: the last axis must vary fastest", second.Params)
	}
	if _, err := st.Job(st.Len()); err == nil {
		t.Error("Job(Len()) gave no error")
	}
}

// IDs depend on the parameters and seed only: not on the order of axes,
// balancers or seeds, nor on how a value is spelled.
func TestJobIDsStable(t *testing.T) {
	a := mustParse(t, studyJSON(tinyAxes, tinyBalancers, `[1, 2]`), nil)
	b := mustParse(t, studyJSON(
		`[{"path": "Balancer.titan.FragTableSize", "values": [4096, 64]}, {"path": "TRAFFIC.fragmentrate", "values": [1.0, 5e-1, 0]}]`,
		`["cilium", "katran", "titan"]`, `[2, 1]`), nil)
	idsOf := func(st *Study) []string {
		var ids []string
		for j := range st.Jobs() {
			ids = append(ids, j.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if !slices.Equal(idsOf(a), idsOf(b)) {
		t.Fatal("reordering axes, balancers and seeds, or respelling paths and values, changed the job IDs")
	}
	if a.Fingerprint() != b.Fingerprint() {
		t.Errorf("fingerprints %s and %s differ for the same base", a.Fingerprint(), b.Fingerprint())
	}
	c := mustParse(t, []byte(strings.Replace(string(studyJSON(tinyAxes, tinyBalancers, `[1, 2]`)), `"Flows": 50`, `"Flows": 60`, 1)), nil)
	if c.Fingerprint() == a.Fingerprint() {
		t.Error("another base kept the fingerprint")
	}
	if !slices.Equal(idsOf(a), idsOf(c)) {
		t.Error("the IDs depend on the base; they should depend on the parameters only")
	}
}

func TestScenarioAndConfigApplied(t *testing.T) {
	reg := NewRegistry()
	var seen []titan.Config
	if err := Register(reg, "probe", titan.Config{HintTableSize: 7}, func(c titan.Config) (balancer.Balancer, error) {
		seen = append(seen, c)
		return titan.New(c)
	}); err != nil {
		t.Fatal(err)
	}
	st := mustParse(t, studyJSON(
		`[{"path": "backends[1].weight", "values": [3]}, {"path": "traffic.reorder", "values": [0.25]}, {"path": "balancer.probe.fragTableSize", "values": [128]}]`,
		`[{"name": "probe", "config": {"ConnTableSize": 512}}]`, `[42]`), reg)
	seen = nil // Parse built one of each configuration to check it
	j, _ := st.Job(0)
	sc, err := st.Scenario(j)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Seed != 42 || sc.Backends[1].Weight != 3 || sc.Backends[0].Weight != 1 || sc.Traffic.Reorder != 0.25 || sc.Traffic.Flows != 50 {
		t.Errorf("scenario: seed %d, weights %d %d, reorder %v, flows %d; want 42, 1 3, 0.25, 50",
			sc.Seed, sc.Backends[0].Weight, sc.Backends[1].Weight, sc.Traffic.Reorder, sc.Traffic.Flows)
	}
	row, err := st.Run(j)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("constructor called %d times, want 1", len(seen))
	}
	if c := seen[0]; c.HintTableSize != 7 || c.ConnTableSize != 512 || c.FragTableSize != 128 {
		t.Errorf("config %+v: want the registered base (HintTableSize 7), the study's config (ConnTableSize 512) and the axis (FragTableSize 128)", c)
	}
	if row.Result.Datagrams == 0 || row.Result.Seed != 42 || row.Seed != 42 || row.ID != j.ID || !strings.HasPrefix(row.Study, st.Fingerprint()+"/") {
		t.Errorf("row %+v: want the job's ID, seed 42, the study's fingerprint and a run's result", row)
	}
	// The base is not changed by a job: another scenario from it is the same.
	sc2, _ := st.Scenario(j)
	a, _ := json.Marshal(sc)
	b, _ := json.Marshal(sc2)
	if string(a) != string(b) {
		t.Error("building a job's scenario twice gave two scenarios")
	}
}

// A run of a job is deterministic: the same row, byte for byte.
func TestRunDeterministic(t *testing.T) {
	st := mustParse(t, studyJSON(tinyAxes, tinyBalancers, `2`), nil)
	j, _ := st.Job(3)
	r1, err := st.Run(j)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := st.Run(j)
	l1, _ := r1.MarshalLine()
	l2, _ := r2.MarshalLine()
	if string(l1) != string(l2) {
		t.Fatal("two runs of one job gave different rows")
	}
	other, _ := st.Job(3 + st.Len()/2) // the same point, the other seed
	r3, _ := st.Run(other)
	if r3.Result.Datagrams == r1.Result.Datagrams && r3.Result.AvgCost == r1.Result.AvgCost {
		t.Error("another seed gave the same result")
	}
}

func TestRegister(t *testing.T) {
	reg := NewRegistry()
	newLB := func(titan.Config) (balancer.Balancer, error) { return titan.New(titan.Config{}) }
	if err := Register(reg, "titan", titan.Config{}, newLB); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("registering titan twice: %v", err)
	}
	if err := Register(reg, "a b", titan.Config{}, newLB); err == nil {
		t.Error("a name with a space was accepted")
	}
	if err := Register[titan.Config](reg, "nil", titan.Config{}, nil); err == nil {
		t.Error("a nil constructor was accepted")
	}
	var zero Registry
	if err := Register(&zero, "mine", titan.Config{}, newLB); err != nil {
		t.Errorf("the zero Registry: %v", err)
	}
	if got := zero.Kinds(); !slices.Equal(got, []string{"mine"}) {
		t.Errorf("Kinds = %v", got)
	}
	if want := []string{Cilium, Katran, KatranNaive, Titan}; !slices.Equal(reg.Kinds(), want) {
		t.Errorf("NewRegistry kinds %v, want %v", reg.Kinds(), want)
	}
	if _, err := reg.New("katran", []byte(`{"LRUSize": "big"}`)); err == nil || !strings.Contains(err.Error(), "katran config") {
		t.Errorf("a bad config: %v", err)
	}
	newNaive, err := reg.New(KatranNaive, nil)
	if err != nil {
		t.Fatal(err)
	}
	// katran-naive lets fragments through where katran drops them.
	sc := sim.Scenario{Duration: 5e6, Backends: sim.Backends(3)}
	sc.Traffic.Flows, sc.Traffic.FragmentRate = 50, 1
	newKatran, _ := reg.New(Katran, nil)
	naive, err1 := sim.Run(sc, newNaive)
	plain, err2 := sim.Run(sc, newKatran)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if naive.Delivered <= plain.Delivered {
		t.Errorf("katran-naive delivered %d packets, katran %d: naive should deliver fragments", naive.Delivered, plain.Delivered)
	}
}

func TestLowerCamel(t *testing.T) {
	for in, want := range map[string]string{
		"FragmentRate": "fragmentRate", "MTU": "mtu", "UDPShare": "udpShare", "NsPerSTU": "nsPerSTU",
		"VIPs": "vips", "CTMapSizeTCP": "ctMapSizeTCP", "Seed": "seed", "fleet": "fleet", "ID": "id",
	} {
		if got := lowerCamel(in); got != want {
			t.Errorf("lowerCamel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSeeds(t *testing.T) {
	st := mustParse(t, studyJSON(`[]`, `["titan"]`, `4`), nil)
	var seeds []int64
	for j := range st.Jobs() {
		seeds = append(seeds, j.Seed)
	}
	if !slices.Equal(seeds, []int64{1, 2, 3, 4}) {
		t.Errorf("seeds 4 gave %v", seeds)
	}
	st = mustParse(t, []byte(`{"base": `+strings.Replace(tinyBase, `{"Duration"`, `{"Seed": 9, "Duration"`, 1)+`, "balancers": ["titan"]}`), nil)
	if j, _ := st.Job(0); st.Len() != 1 || j.Seed != 9 {
		t.Errorf("no seeds: %d jobs, seed %d; want the base's seed 9 alone", st.Len(), j.Seed)
	}
}
