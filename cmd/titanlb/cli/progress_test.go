package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The progress bar goes to a terminal only: a pipe or a file gets none,
// and a study run without one writes nothing to standard error.
func TestProgressOnlyOnATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, file := range []*os.File{w, f, nil} {
		if p := ProgressTo(file); p != nil {
			t.Errorf("ProgressTo(%v) = %v: want no progress bar off a terminal", file, p)
		}
	}
	if pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err == nil {
		if ProgressTo(pty) == nil {
			t.Error("ProgressTo(a pseudo-terminal) = nil: want the bar")
		}
		pty.Close()
	} else {
		t.Logf("no pseudo-terminal to check the bar is drawn on one: %v", err)
	}

	sf := write(t, "study.json", studyFile)
	rows := filepath.Join(filepath.Dir(sf), "rows.jsonl")
	if code, _, errs := call(t, Config{Progress: ProgressTo(w)}, "study", sf, "-o", rows); code != 0 || errs != "" {
		t.Errorf("study with standard error on a pipe: exit %d, stderr %q; want nothing", code, errs)
	}
	var bar strings.Builder
	os.Remove(rows)
	if code, _, _ := call(t, Config{Progress: &bar}, "study", sf, "-o", rows); code != 0 || !strings.Contains(bar.String(), "8/8 jobs") {
		t.Errorf("study with a progress writer: exit %d, bar %q", code, bar.String())
	}
}
