package cmdflag_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/internal/cmdflag"
)

func ExampleSet_Bad() {
	fs := cmdflag.New("demo", "usage: demo [-n N]\n", os.Stdout)
	n := fs.Int("n", 1, "how many")
	if status, ok := fs.ParseArgs([]string{"-n", "0"}); !ok {
		fmt.Println("status", status)
		return
	}
	if *n < 1 {
		fmt.Println("status", fs.Bad("-n %d: must be at least 1", *n))
	}
	// Output:
	// demo: -n 0: must be at least 1
	// usage: demo [-n N]
	//   -n int
	//     	how many (default 1)
	// status 2
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		ok     bool
		status int
		stderr string // what stderr must contain; "" for nothing at all
	}{
		{"flags", []string{"-n", "3"}, true, 0, ""},
		{"help", []string{"-h"}, false, 0, "usage: demo [-n N]\n  -n int"},
		{"bad flag", []string{"-x"}, false, 2, "flag provided but not defined: -x\nusage: demo"},
		{"bad value", []string{"-n", "three"}, false, 2, `invalid value "three" for flag -n`},
		{"argument", []string{"-n", "3", "extra"}, false, 2, "demo: unexpected argument \"extra\"\nusage: demo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			fs := cmdflag.New("demo", "usage: demo [-n N]\n", &stderr)
			n := fs.Int("n", 1, "how many")
			status, ok := fs.ParseArgs(tc.args)
			if ok != tc.ok || status != tc.status {
				t.Errorf("ParseArgs(%q) = %d, %v; want %d, %v", tc.args, status, ok, tc.status, tc.ok)
			}
			if ok && *n != 3 {
				t.Errorf("-n = %d, want 3", *n)
			}
			if got := stderr.String(); tc.stderr == "" && got != "" || !strings.Contains(got, tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", got, tc.stderr)
			}
		})
	}
}
