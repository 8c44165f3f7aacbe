// Package enum names the values of the small enumerations (uint8
// constants) of the public packages, one way for all: a table of names
// indexed by value, in which "" marks a value without a name.
//
// [String] is the String method of such a type, [Marshal] and [Unmarshal]
// its MarshalText and UnmarshalText: a value without a name prints as
// kind(n) and neither encodes nor decodes. None of them allocates for a
// named value, and none keeps state.
package enum

import (
	"fmt"
	"strconv"
)

// String returns names[v], or kind(v) when v has no name ("policy(7)").
func String[T ~uint8](names []string, v T, kind string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return kind + "(" + strconv.Itoa(int(v)) + ")"
}

// Marshal returns v's name, or an error "<what> <v>" when it has none
// (what is, for instance, "sim: unknown event kind").
func Marshal[T ~uint8](names []string, v T, what string) ([]byte, error) {
	if int(v) >= len(names) || names[v] == "" {
		return nil, fmt.Errorf("%s %d", what, uint8(v))
	}
	return []byte(names[v]), nil
}

// Unmarshal sets *v to the value named b, or leaves it and returns an
// error "<what> <b quoted>" when no value has that name.
func Unmarshal[T ~uint8](names []string, b []byte, v *T, what string) error {
	for i, n := range names {
		if n != "" && string(b) == n {
			*v = T(i)
			return nil
		}
	}
	return fmt.Errorf("%s %q", what, b)
}
