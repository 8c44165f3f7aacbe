package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCheckQuoted checks that a quoted output is compared (a stale one
// fails, a masked difference does not), that other commands are left
// alone, and that update rewrites the stale block only.
func TestCheckQuoted(t *testing.T) {
	doc := "# x\n\n```\n$ echo a b\nout a b (1ms)\n```\n\n```\n$ echoes no\nleft\n```\n\n```\n$ echo c\nold\n```\n"
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args []string) string { return "out " + strings.Join(args, " ") + " (2ms)\n" }
	mask := regexp.MustCompile(`\(\d+ms\)`)
	var fake errRecorder
	if n := CheckQuoted(&fake, path, "echo", run, mask, false); n != 2 {
		t.Errorf("%d blocks, want 2 (echoes is another command)", n)
	}
	if len(fake.errors) != 1 || !strings.Contains(fake.errors[0], `"echo c" is stale`) {
		t.Errorf("errors %q, want the stale block of echo c alone", fake.errors)
	}
	fake = errRecorder{}
	CheckQuoted(&fake, path, "echo", run, mask, true)
	got, _ := os.ReadFile(path)
	if want := strings.Replace(strings.Replace(doc, "old\n", "out c (2ms)\n", 1), "(1ms)", "(2ms)", 1); string(got) != want || len(fake.errors) != 0 {
		t.Errorf("after update:\n%s\nwant:\n%s\nerrors %q", got, want, fake.errors)
	}
}

// errRecorder is a testing.TB that records errors instead of failing.
type errRecorder struct {
	testing.TB
	errors []string
}

func (r *errRecorder) Helper()                   {}
func (r *errRecorder) Logf(string, ...any)       {}
func (r *errRecorder) Errorf(f string, a ...any) { r.errors = append(r.errors, fmt.Sprintf(f, a...)) }
func (r *errRecorder) Fatal(a ...any)            { panic(fmt.Sprint(a...)) }
func (r *errRecorder) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
