package study

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/balancer/titan"
)

// Registry maps the balancer kinds a study may name to their configuration
// types and constructors. [NewRegistry] returns one with the built-in
// kinds; [Register] adds custom ones. A Registry is filled before use and
// then only read, so one may serve concurrent runs.
type Registry struct {
	kinds map[string]*kind
}

// kind is a registered balancer kind with its configuration type erased.
type kind struct {
	name string
	typ  reflect.Type // the configuration type C
	// decode decodes a configuration, on top of the registered base, into
	// a C (returned as any).
	decode func(cfg []byte) (any, error)
	// newLB builds a balancer from a C that decode returned.
	newLB func(c any) (balancer.Balancer, error)
}

// The built-in kinds of [NewRegistry].
const (
	Titan       = "titan"        // titan.New, configured by titan.Config
	Katran      = "katran"       // katran.New: every IPv4 fragment dropped, as Katran does
	KatranNaive = "katran-naive" // katran.New with Config.Naive: fragments hashed like whole packets
	Cilium      = "cilium"       // cilium.New, configured by cilium.Config
)

// NewRegistry returns a registry holding the built-in kinds: [Titan],
// [Katran], [KatranNaive] and [Cilium].
func NewRegistry() *Registry {
	r := &Registry{kinds: map[string]*kind{}}
	must(Register(r, Titan, titan.Config{}, asBalancer(titan.New)))
	must(Register(r, Katran, katran.Config{}, asBalancer(katran.New)))
	must(Register(r, KatranNaive, katran.Config{Naive: true}, asBalancer(katran.New)))
	must(Register(r, Cilium, cilium.Config{}, asBalancer(cilium.New)))
	return r
}

func must(err error) {
	if err != nil {
		panic(err) // the built-in registrations are fixed and valid
	}
}

func asBalancer[C any, B balancer.Balancer](newLB func(C) (B, error)) func(C) (balancer.Balancer, error) {
	return func(c C) (balancer.Balancer, error) { return newLB(c) }
}

// Register adds the balancer kind name to r: a study's balancer of this
// kind is configured by a C, starting from base, with its "config" object
// and its axes (balancer.<name>.<field path>) decoded on top, field paths
// resolved against C's JSON form; newLB builds one balancer per run, from
// that run's goroutine. C must round-trip through encoding/json.
//
// The name must be new to r and use only letters, digits, '-' and '_'.
func Register[C any](r *Registry, name string, base C, newLB func(C) (balancer.Balancer, error)) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("study: register %q: %v", name, err)
	}
	if newLB == nil {
		return fmt.Errorf("study: register %q: nil constructor", name)
	}
	if _, dup := r.kinds[name]; dup {
		return fmt.Errorf("study: register %q: already registered", name)
	}
	b, err := json.Marshal(base)
	if err != nil {
		return fmt.Errorf("study: register %q: base config: %w", name, err)
	}
	if r.kinds == nil {
		r.kinds = map[string]*kind{}
	}
	r.kinds[name] = &kind{
		name: name,
		typ:  reflect.TypeFor[C](),
		decode: func(cfg []byte) (any, error) {
			var c C
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, err
			}
			if len(cfg) > 0 {
				if err := decodeStrict(cfg, &c); err != nil {
					return nil, err
				}
			}
			return c, nil
		},
		newLB: func(c any) (balancer.Balancer, error) { return newLB(c.(C)) },
	}
	return nil
}

// Kinds returns the registered kind names, sorted.
func (r *Registry) Kinds() []string {
	var out []string
	for k := range r.kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// New returns a constructor for a balancer of the registered kind name,
// configured by config (JSON decoded on top of the kind's base; empty: the
// base itself). It is what `titanlb run` uses.
func (r *Registry) New(name string, config []byte) (func() (balancer.Balancer, error), error) {
	k, ok := r.kinds[name]
	if !ok {
		return nil, fmt.Errorf("study: unknown balancer kind %q (registered: %v)", name, r.Kinds())
	}
	c, err := k.decode(config)
	if err != nil {
		return nil, fmt.Errorf("study: %s config: %w", name, err)
	}
	return func() (balancer.Balancer, error) { return k.newLB(c) }, nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%q: use only letters, digits, '-' and '_'", c)
		}
	}
	return nil
}

// decodeStrict decodes one JSON value into v, rejecting unknown fields
// and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}
