package study

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"reflect"
	"strings"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

// MaxJobs bounds the jobs of one study.
const MaxJobs = 10_000_000

// ErrInvalid is matched (errors.Is) by every error [Parse] returns for a
// bad study.
var ErrInvalid = errors.New("invalid study")

// invalid returns a study error naming where: "study: axes[1].values[2]
// "x": ...".
func invalid(where string, format string, args ...any) error {
	return fmt.Errorf("study: %s: %s: %w", where, fmt.Sprintf(format, args...), ErrInvalid)
}

// Study is a compiled study: a [File] checked against a [Registry], its
// grid expanded into [Job]s on demand. It is read-only and safe for
// concurrent use.
type Study struct {
	source      []byte // the study file, as given
	reg         *Registry
	base        []byte // the base scenario's JSON
	axes        []axis
	bals        []bal
	seeds       []int64
	perSeed     int // jobs per seed: the sum of the balancers' grid sizes
	fingerprint string
}

// axis is a compiled [Axis].
type axis struct {
	path   path
	bal    int // -1: a scenario axis; else the balancer it configures
	values []value
}

// value is one value of an axis: canonical JSON, as the field's type
// marshals it, and the same as a JSON tree to set.
type value struct {
	canon json.RawMessage
	tree  any
}

// bal is a study balancer, compiled.
type bal struct {
	name string
	kind *kind
	base []byte // its effective configuration's JSON (kind base + config)
	// fingerprint is the study's, "/", and a hash of kind and base.
	fingerprint string
	axes        []int // indexes of the axes that apply to its jobs, in study order
	jobs        int   // its grid size: the product of those axes' lengths
	first       int   // the index of its first job within a seed
}

// Load reads and compiles the study file at path; see [Parse].
func Load(path string, reg *Registry) (*Study, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	return Parse(data, reg)
}

// Parse decodes a study file ([File]) and compiles it against reg (nil:
// [NewRegistry]). Everything that can be checked before a job runs is:
// unknown fields, field paths and balancer kinds, values of the wrong
// type, empty or duplicate axes, values and balancers, overlapping axes,
// and each point's scenario ([sim.Scenario.Validate]) and balancer
// configuration (its constructor runs once per distinct configuration).
// The error names the place: "study: axes[1].values[2] \"x\": ...".
func Parse(data []byte, reg *Registry) (*Study, error) {
	if reg == nil {
		reg = NewRegistry()
	}
	var f File
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("study: %w: %w", err, ErrInvalid)
	}
	st := &Study{source: bytes.Clone(data), reg: reg}
	if err := st.compile(f); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *Study) compile(f File) error {
	var err error
	if st.base, err = json.Marshal(f.Base); err != nil {
		return invalid("base", "%v", err)
	}
	if err := st.compileBalancers(f.Balancers); err != nil {
		return err
	}
	if err := st.compileAxes(f.Axes); err != nil {
		return err
	}
	st.seeds = f.Seeds
	if len(st.seeds) == 0 {
		if f.Seeds != nil {
			return invalid("seeds", "empty list")
		}
		st.seeds = []int64{f.Base.Seed}
	}
	seen := map[int64]int{}
	for i, s := range st.seeds {
		if j, dup := seen[s]; dup {
			return invalid(fmt.Sprintf("seeds[%d]", i), "%d listed twice (seeds[%d])", s, j)
		}
		seen[s] = i
	}
	total := 0
	for i := range st.bals {
		b := &st.bals[i]
		b.jobs = 1
		for ai, a := range st.axes {
			if a.bal == -1 || a.bal == i {
				b.axes = append(b.axes, ai)
			}
		}
		for _, ai := range b.axes {
			b.jobs *= len(st.axes[ai].values)
			if b.jobs > MaxJobs {
				return invalid("axes", "more than %d jobs", MaxJobs)
			}
		}
		b.first = total
		total += b.jobs
	}
	if total*len(st.seeds) > MaxJobs || total > MaxJobs {
		return invalid("axes", "%d points x %d seeds: more than %d jobs", total, len(st.seeds), MaxJobs)
	}
	st.perSeed = total
	if err := st.checkPoints(); err != nil {
		return err
	}
	st.computeFingerprints()
	return nil
}

func (st *Study) compileBalancers(bs []Balancer) error {
	if len(bs) == 0 {
		return invalid("balancers", "none: name at least one (registered: %s)", strings.Join(st.reg.Kinds(), ", "))
	}
	seen := map[string]int{}
	for i, b := range bs {
		where := fmt.Sprintf("balancers[%d]", i)
		if err := checkName(b.Name); err != nil {
			return invalid(where+".name", "%q: %v", b.Name, err)
		}
		if j, dup := seen[b.Name]; dup {
			return invalid(where+".name", "%q listed twice (balancers[%d])", b.Name, j)
		}
		seen[b.Name] = i
		kn := b.Kind
		if kn == "" {
			kn = b.Name
		}
		k, ok := st.reg.kinds[kn]
		if !ok {
			return invalid(where, "unknown balancer kind %q (registered: %s)", kn, strings.Join(st.reg.Kinds(), ", "))
		}
		c, err := k.decode(b.Config)
		if err != nil {
			return invalid(where+".config", "%s: %v", k.typ, err)
		}
		base, err := json.Marshal(c)
		if err != nil {
			return invalid(where+".config", "%v", err)
		}
		st.bals = append(st.bals, bal{name: b.Name, kind: k, base: base})
	}
	return nil
}

func (st *Study) compileAxes(as []Axis) error {
	baseTree, err := decodeTree(st.base)
	if err != nil {
		return invalid("base", "%v", err)
	}
	for i, a := range as {
		where := fmt.Sprintf("axes[%d]", i)
		ax := axis{bal: -1}
		root, rest, tree := reflect.TypeFor[sim.Scenario](), a.Path, baseTree
		prefix := ""
		if first, name, ok := strings.Cut(a.Path, "."); ok && strings.EqualFold(first, "balancer") {
			bname, r, _ := strings.Cut(name, ".")
			bi := -1
			for j, b := range st.bals {
				if b.name == bname {
					bi = j
				}
			}
			if bi < 0 {
				return invalid(where+".path", "%q: no balancer %q in balancers", a.Path, bname)
			}
			ax.bal, rest, root, prefix = bi, r, st.bals[bi].kind.typ, "balancer."+bname
			if tree, err = decodeTree(st.bals[bi].base); err != nil {
				return invalid(where+".path", "%v", err)
			}
			if rest == "" {
				return invalid(where+".path", "%q: name a field of %v after the balancer", a.Path, root)
			}
		}
		if a.Path == "seed" || strings.EqualFold(a.Path, "seed") {
			return invalid(where+".path", "%q: the seed is not an axis; list seeds under \"seeds\"", a.Path)
		}
		p, err := resolvePath(root, rest, prefix)
		if err != nil {
			return invalid(where+".path", "%v", err)
		}
		ax.path = p
		if _, err := p.set(tree, nil); err != nil {
			return invalid(where+".path", "%v", err)
		}
		for j, prev := range st.axes {
			if overlaps(prev.path.name, p.name) {
				return invalid(where+".path", "%q sets what axes[%d] %q sets", p.name, j, prev.path.name)
			}
		}
		if len(a.Values) == 0 {
			return invalid(where+".values", "%s: no values", p.name)
		}
		seen := map[string]int{}
		for j, raw := range a.Values {
			vwhere := fmt.Sprintf("%s.values[%d] %s", where, j, raw)
			v := reflect.New(p.leaf)
			if err := decodeStrict(raw, v.Interface()); err != nil {
				return invalid(vwhere, "%s is a %v: %v", p.name, p.leaf, err)
			}
			canon, err := json.Marshal(v.Elem().Interface())
			if err != nil {
				return invalid(vwhere, "%v", err)
			}
			if k, dup := seen[string(canon)]; dup {
				return invalid(vwhere, "listed twice (values[%d])", k)
			}
			seen[string(canon)] = j
			t, err := decodeTree(canon)
			if err != nil {
				return invalid(vwhere, "%v", err)
			}
			ax.values = append(ax.values, value{canon: canon, tree: t})
		}
		st.axes = append(st.axes, ax)
	}
	return nil
}

// decodeTree decodes JSON into maps, lists and json.Numbers, so that it
// re-encodes without losing precision.
func decodeTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// checkPoints validates every point's scenario and every balancer
// configuration once, before any job runs.
func (st *Study) checkPoints() error {
	var scen []int // the scenario axes
	for i, a := range st.axes {
		if a.bal == -1 {
			scen = append(scen, i)
		}
	}
	for point := range product(st.axes, scen) {
		sc, err := st.scenario(point)
		if err == nil {
			err = sc.Validate()
		}
		if err != nil {
			return fmt.Errorf("study: point %s: %w: %w", st.describe(point), err, ErrInvalid)
		}
	}
	for bi, b := range st.bals {
		var own []int
		for _, ai := range b.axes {
			if st.axes[ai].bal == bi {
				own = append(own, ai)
			}
		}
		for point := range product(st.axes, own) {
			newLB, err := st.newLB(bi, point)
			if err == nil {
				var lb balancer.Balancer
				if lb, err = newLB(); err == nil && lb == nil {
					err = errors.New("constructor returned a nil balancer")
				}
			}
			if err != nil {
				where := "balancers[" + fmt.Sprint(bi) + "] " + b.name
				if len(own) > 0 {
					where += " at " + st.describe(point)
				}
				return fmt.Errorf("study: %s: %w: %w", where, err, ErrInvalid)
			}
		}
	}
	return nil
}

// product yields every combination of the values of the axes at idx, as
// a value index per axis of st (-1 for the others); the last axis varies
// fastest.
func product(axes []axis, idx []int) iter.Seq[[]int] {
	return func(yield func([]int) bool) {
		point := make([]int, len(axes))
		for i := range point {
			point[i] = -1
		}
		for _, ai := range idx {
			point[ai] = 0
		}
		for {
			if !yield(point) {
				return
			}
			k := len(idx) - 1
			for ; k >= 0; k-- {
				ai := idx[k]
				point[ai]++
				if point[ai] < len(axes[ai].values) {
					break
				}
				point[ai] = 0
			}
			if k < 0 {
				return
			}
		}
	}
}

// describe names a point by its axes' values: "traffic.mtu=20".
func (st *Study) describe(point []int) string {
	var parts []string
	for i, v := range point {
		if v >= 0 {
			parts = append(parts, st.axes[i].path.name+"="+string(st.axes[i].values[v].canon))
		}
	}
	if len(parts) == 0 {
		return "base"
	}
	return strings.Join(parts, ", ")
}

// scenario returns the base with the point's scenario axes set (the seed
// is left to the caller).
func (st *Study) scenario(point []int) (sim.Scenario, error) {
	var sc sim.Scenario
	data, err := st.apply(st.base, -1, point)
	if err != nil {
		return sc, err
	}
	err = decodeStrict(data, &sc)
	return sc, err
}

// newLB returns the constructor of balancer bi configured at point.
func (st *Study) newLB(bi int, point []int) (func() (balancer.Balancer, error), error) {
	b := st.bals[bi]
	data, err := st.apply(b.base, bi, point)
	if err != nil {
		return nil, err
	}
	c, err := b.kind.decode(data)
	if err != nil {
		return nil, err
	}
	return func() (balancer.Balancer, error) { return b.kind.newLB(c) }, nil
}

// apply returns base (JSON) with the values at point of the axes of bal
// (-1: the scenario's) set.
func (st *Study) apply(base []byte, bal int, point []int) ([]byte, error) {
	tree, err := decodeTree(base)
	if err != nil {
		return nil, err
	}
	for i, v := range point {
		if v < 0 || st.axes[i].bal != bal {
			continue
		}
		if tree, err = st.axes[i].path.set(tree, st.axes[i].values[v].tree); err != nil {
			return nil, err
		}
	}
	return json.Marshal(tree)
}

// computeFingerprints hashes what jobs share and no parameter names: the
// base scenario (the study's fingerprint) and each balancer's kind and
// configuration (its own). A row carries both, "base/balancer", so that
// rows computed from another base, or another configuration of their
// balancer, are not mixed with this study's; adding a balancer, a seed or
// an axis value keeps the rows already computed.
func (st *Study) computeFingerprints() {
	st.fingerprint = hash(st.base)
	for i := range st.bals {
		b := &st.bals[i]
		data, _ := json.Marshal(struct {
			Kind   string          `json:"kind"`
			Config json.RawMessage `json:"config"`
		}{b.kind.name, b.base}) // b.base came from json.Marshal
		b.fingerprint = st.fingerprint + "/" + hash(data)
	}
}

// checkRow reports whether a row (its line in name) may sit beside this
// study's rows: the same base, and for a balancer of the study, its
// configuration.
func (st *Study) checkRow(name string, line int, h rowHeader) error {
	base, _, _ := strings.Cut(h.Study, "/")
	if base != st.fingerprint {
		return fmt.Errorf("%s:%d: a row of a study with another base scenario (fingerprint %s, this study's %s): write to another file", name, line, base, st.fingerprint)
	}
	var bn string
	json.Unmarshal(h.Params[ParamBalancer], &bn)
	for _, b := range st.bals {
		if b.name == bn && b.fingerprint != h.Study {
			return fmt.Errorf("%s:%d: a row of balancer %s with another configuration (fingerprint %s, this study's %s): write to another file", name, line, bn, h.Study, b.fingerprint)
		}
	}
	return nil
}

// hash is the first 16 hex digits of data's SHA-256.
func hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// Source returns the study file the study was parsed from.
func (st *Study) Source() []byte { return bytes.Clone(st.source) }

// Fingerprint identifies the study's base scenario. A [Row] carries it
// and its balancer's configuration's (Row.Study: "base/balancer"), so that
// rows computed from another base or configuration are not mixed with
// this study's.
func (st *Study) Fingerprint() string { return st.fingerprint }

// Len returns the number of jobs: points x balancers x seeds.
func (st *Study) Len() int { return st.perSeed * len(st.seeds) }

// Axes returns the canonical paths of the study's axes, in order.
func (st *Study) Axes() []string {
	var out []string
	for _, a := range st.axes {
		out = append(out, a.path.name)
	}
	return out
}

// Balancers returns the study's balancer names, in order.
func (st *Study) Balancers() []string {
	var out []string
	for _, b := range st.bals {
		out = append(out, b.name)
	}
	return out
}
