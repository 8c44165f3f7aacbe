package main

import (
	"flag"
	"testing"

	"github.com/titanlb/titanlb/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the outputs quoted in README.md from fresh runs")

// TestREADMEOutputs re-runs the command whose output README.md quotes and
// requires that output byte for byte; -update refreshes it.
func TestREADMEOutputs(t *testing.T) {
	if testutil.CheckQuoted(t, "README.md", "go run ./examples/custom", testutil.Command(t, run), nil, *update) == 0 {
		t.Error("README.md quotes no output of the command")
	}
}
