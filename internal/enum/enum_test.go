package enum_test

import (
	"testing"

	"github.com/titanlb/titanlb/internal/enum"
)

type kind uint8

var names = []string{"", "one", "two"}

func TestString(t *testing.T) {
	for v, want := range map[kind]string{0: "kind(0)", 1: "one", 2: "two", 3: "kind(3)", 255: "kind(255)"} {
		if got := enum.String(names, v, "kind"); got != want {
			t.Errorf("String(%d) = %q, want %q", v, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = enum.String(names, kind(2), "kind") }); n != 0 {
		t.Errorf("String of a named value allocates %v times", n)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for v := range kind(4) {
		b, err := enum.Marshal(names, v, "test: unknown kind")
		if v == 0 || v == 3 {
			if err == nil || err.Error() != "test: unknown kind "+string('0'+byte(v)) {
				t.Errorf("Marshal(%d) = %q, %v; want the error naming %d", v, b, err, v)
			}
			continue
		}
		var got kind
		if err := enum.Unmarshal(names, b, &got, "test: unknown kind"); err != nil || got != v {
			t.Errorf("Unmarshal(Marshal(%d)) = %d, %v", v, got, err)
		}
	}
	for _, b := range []string{"", "three", "One"} {
		v := kind(2)
		if err := enum.Unmarshal(names, []byte(b), &v, "test: unknown kind"); err == nil || err.Error() != `test: unknown kind "`+b+`"` || v != 2 {
			t.Errorf("Unmarshal(%q) = %d, %v; want the error quoting it and the value left", b, v, err)
		}
	}
}
