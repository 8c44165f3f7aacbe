package study

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A path is a resolved field path: the steps from a root type (sim.Scenario
// or a balancer's Config) to one field, as they appear in that type's JSON
// form, and the field's type.
type path struct {
	steps []step
	leaf  reflect.Type
	// name is the canonical spelling: lowerCamel field names
	// ("traffic.fragmentRate", "backends[0].weight"), whatever case the
	// study used.
	name string
}

// A step is a JSON object key or, when key is "", a list index.
type step struct {
	key   string
	index int
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque reports whether t decodes itself from JSON (netip.Addr, an enum
// with UnmarshalText): a path ends there.
func opaque(t reflect.Type) bool {
	return t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) ||
		reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)
}

// resolvePath resolves s ("traffic.fragmentRate", "backends[1].weight")
// against root's JSON form. A segment matches a field's JSON name exactly
// or, failing that, case-insensitively, as encoding/json does when it
// decodes. prefix is prepended to the canonical name and to errors.
func resolvePath(root reflect.Type, s, prefix string) (path, error) {
	p := path{leaf: root, name: prefix}
	if s == "" {
		return p, fmt.Errorf("empty field path")
	}
	for seg := range strings.SplitSeq(s, ".") {
		name, indexes, err := splitIndexes(seg)
		if err != nil {
			return p, fmt.Errorf("%q: %v", s, err)
		}
		t := p.leaf
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || opaque(t) {
			return p, fmt.Errorf("%q: %s is a %v, which has no field %q", s, orRoot(p.name), p.leaf, name)
		}
		f, ok := jsonField(t, name)
		if !ok {
			return p, fmt.Errorf("%q: %v has no field %q (fields: %s)", s, t, name, strings.Join(fieldNames(t), ", "))
		}
		p.steps = append(p.steps, step{key: f.key})
		p.leaf = f.typ
		p.name = join(p.name, f.canonical)
		for _, i := range indexes {
			if k := p.leaf.Kind(); k != reflect.Slice && k != reflect.Array {
				return p, fmt.Errorf("%q: %s is a %v, not a list", s, p.name, p.leaf)
			}
			p.steps = append(p.steps, step{index: i})
			p.leaf = p.leaf.Elem()
			p.name += "[" + strconv.Itoa(i) + "]"
		}
	}
	return p, nil
}

func orRoot(name string) string {
	if name == "" {
		return "the root"
	}
	return name
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// splitIndexes splits "backends[1]" into "backends" and [1].
func splitIndexes(seg string) (string, []int, error) {
	name, rest, _ := strings.Cut(seg, "[")
	if name == "" {
		return "", nil, fmt.Errorf("empty field name in %q", seg)
	}
	if rest == "" {
		return name, nil, nil
	}
	var idx []int
	for _, part := range strings.Split("["+rest, "[")[1:] {
		num, ok := strings.CutSuffix(part, "]")
		i, err := strconv.Atoi(num)
		if !ok || err != nil || i < 0 {
			return "", nil, fmt.Errorf("bad index in %q: want [n] with n >= 0", seg)
		}
		idx = append(idx, i)
	}
	return name, idx, nil
}

// A field is a struct field as encoding/json sees it.
type field struct {
	key       string // its JSON object key
	canonical string // the study's spelling
	typ       reflect.Type
}

// jsonFields lists t's fields in its JSON form: exported, not tagged "-",
// named by the tag or the Go name, embedded structs' fields promoted.
func jsonFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct && !opaque(et) {
				out = append(out, jsonFields(et)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		f := field{key: sf.Name, canonical: lowerCamel(sf.Name), typ: ft}
		if name != "" {
			f.key, f.canonical = name, name
		}
		out = append(out, f)
	}
	return out
}

// jsonField finds name among t's JSON fields: an exact match of the key or
// the canonical name first, then a case-insensitive one.
func jsonField(t reflect.Type, name string) (field, bool) {
	fs := jsonFields(t)
	for _, f := range fs {
		if f.key == name || f.canonical == name {
			return f, true
		}
	}
	for _, f := range fs {
		if strings.EqualFold(f.key, name) {
			return f, true
		}
	}
	return field{}, false
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for _, f := range jsonFields(t) {
		out = append(out, f.canonical)
	}
	return out
}

// lowerCamel spells a Go field name as the simulator's errors do:
// FragmentRate → fragmentRate, MTU → mtu, UDPShare → udpShare,
// NsPerSTU → nsPerSTU, VIPs → vips.
func lowerCamel(s string) string {
	n := 0 // leading capitals
	for _, r := range s {
		if !unicode.IsUpper(r) {
			break
		}
		n += utf8.RuneLen(r)
	}
	switch {
	case n == 0:
		return s
	case n == len(s) || s[n:] == "s":
		return strings.ToLower(s)
	case n == 1:
		return strings.ToLower(s[:1]) + s[1:]
	}
	// "UDPShare": the last capital starts the next word.
	_, last := utf8.DecodeLastRuneInString(s[:n])
	return strings.ToLower(s[:n-last]) + s[n-last:]
}

// set stores v at p in a JSON tree decoded with UseNumber (objects are
// map[string]any, lists []any), creating objects that the tree leaves out
// (omitempty fields). A list index must exist.
func (p path) set(tree any, v any) (any, error) {
	if len(p.steps) == 0 {
		return v, nil
	}
	return setIn(tree, p.steps, v, p.name)
}

func setIn(node any, steps []step, v any, name string) (any, error) {
	s := steps[0]
	var get func() any
	var put func(any)
	if s.key != "" {
		obj, ok := node.(map[string]any)
		if !ok {
			if node != nil {
				return nil, fmt.Errorf("%s: not an object in the base", name)
			}
			obj = map[string]any{}
		}
		node, get, put = obj, func() any { return obj[s.key] }, func(c any) { obj[s.key] = c }
	} else {
		list, ok := node.([]any)
		if !ok || s.index >= len(list) {
			return nil, fmt.Errorf("%s: the base has %d elements there", name, len(list))
		}
		get, put = func() any { return list[s.index] }, func(c any) { list[s.index] = c }
	}
	if len(steps) > 1 {
		var err error
		if v, err = setIn(get(), steps[1:], v, name); err != nil {
			return nil, err
		}
	}
	put(v)
	return node, nil
}

// overlaps reports whether one of a and b is a prefix of the other: the
// two axes would set the same field.
func overlaps(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == b || strings.HasPrefix(b, a) && (b[len(a)] == '.' || b[len(a)] == '[')
}
