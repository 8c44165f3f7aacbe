package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the outputs quoted in README.md and ../../README.md, and ../../docs/compare.svg, from fresh runs")

// plotPath is the plot the root README shows, and plotArgs the command
// that draws it, from the repository's root.
const plotPath = "../../docs/compare.svg"

var plotArgs = []string{"-svg", "docs/compare.svg"}

// TestREADMEOutputs re-runs every command whose output a README quotes
// (this example's and the repository's) and requires the same output
// byte for byte, so that the figures quoted are the simulation's
// and cannot drift from it. After a change to a model, refresh them with
//
//	go test ./examples/compare -run TestREADMEOutputs -update
func TestREADMEOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quoted commands at full size")
	}
	outputs := map[string]string{} // the root README quotes a run of this one's
	run := func(args []string) string {
		key := strings.Join(args, " ")
		if _, ok := outputs[key]; !ok {
			outputs[key] = runFull(t, args...)
		}
		return outputs[key]
	}
	for _, path := range []string{"README.md", "../../README.md"} {
		if n := testutil.CheckQuoted(t, path, "go run ./examples/compare", run, nil, *update); n == 0 {
			t.Errorf("%s quotes no output of the command", path)
		}
	}
}

// TestPlotCommitted redraws the root README's plot with its documented
// command and requires the committed file to be that drawing.
func TestPlotCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command at full size")
	}
	path := filepath.Join(t.TempDir(), "compare.svg")
	runFull(t, plotArgs[0], path)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := atomicfile.WriteFile(plotPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if committed, err := os.ReadFile(plotPath); err != nil || !bytes.Equal(got, committed) {
		t.Errorf("%s (%v) is not what `go run ./examples/compare %s` draws now; redraw it with that command or -update",
			plotPath, err, strings.Join(plotArgs, " "))
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"](docs/compare.svg)", "go run ./examples/compare " + strings.Join(plotArgs, " ")} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("the README lacks %q", want)
		}
	}
}
