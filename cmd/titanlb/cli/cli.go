// Package cli is the titanlb command as a function, [Main], so that a
// build with more runners (github.com/titanlb/titanlb/beam/cmd/titanlb-beam
// adds Apache Beam) shares every line of it, and so that its tests call it
// with arguments and writers instead of a built binary.
//
// Subcommands:
//
//	titanlb run scenario.json                       one scenario, its sim.Result as JSON
//	titanlb study study.json -o rows.jsonl          a study's jobs, one row each, resumable
//	titanlb summary rows.jsonl [-svg plot.svg]      mean and 95% CI per group; a plot
//
// Each has -h. Exit status: 0 success, 1 a failure (a job, a file), 2 a
// usage error (bad flags or input files, a study that does not compile).
package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/titanlb/titanlb/study"
)

// RunnerFunc makes a study runner for the rows file rows from the
// arguments that follow "--" on the command line (for Beam: its pipeline
// flags, such as --runner=flink --endpoint=host:8099).
type RunnerFunc func(rows string, args []string) (study.Runner, error)

// Config is what the build brings to [Main].
type Config struct {
	// Registry holds the balancer kinds studies and `run` may name (nil:
	// study.NewRegistry()).
	Registry *study.Registry
	// Runners are the study runners besides "local", by the name -runner
	// takes.
	Runners map[string]RunnerFunc
	// Progress receives the progress bar of `study` (nil: none). The
	// command passes its standard error when that is a terminal.
	Progress io.Writer
	// Stdin is what a file argument "-" reads (nil: os.Stdin).
	Stdin io.Reader
	// Missing explains a runner this build lacks, by name; -runner with
	// that name prints it.
	Missing map[string]string
}

// BeamMissing is what the plain titanlb build says to -runner beam.
const BeamMissing = `this titanlb is built without the Apache Beam runner, which lives in a
module of its own so that the library does not download Beam. Build the
Beam build, which has the same subcommands and flags, from a clone of the
repository (its module replaces the library with ../, which go install
pkg@version refuses):

	git clone https://github.com/titanlb/titanlb && cd titanlb/beam
	go install ./cmd/titanlb-beam
	titanlb-beam study study.json -o rows.jsonl -runner beam [-- beam pipeline flags]`

const usage = `usage: titanlb <command> [flags] [arguments]

Simulates XDP load balancers (Titan, Katran, Cilium and their variants)
with the TitanLB digital twin.

commands:
  run      run one scenario; print its result as JSON
  study    run a study (a grid of scenarios x balancers x seeds) into a rows file
  summary  summarize a rows file: mean and 95% CI per group; plot a metric

Run 'titanlb <command> -h' for a command's flags. docs/studies.md in the
repository explains study files, rows and summaries with a worked example.
`

// Main runs the titanlb command with args (without the program name) and
// returns its exit status. ctx cancels a running study: its finished rows
// are kept and a rerun resumes it.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, cfg Config) int {
	if cfg.Registry == nil {
		cfg.Registry = study.NewRegistry()
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr, cfg)
	case "study":
		return cmdStudy(ctx, args[1:], stdout, stderr, cfg)
	case "summary":
		return cmdSummary(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return Main(ctx, []string{args[1], "-h"}, stdout, stderr, cfg)
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "titanlb: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// runnerNames lists the runners of this build.
func (cfg Config) runnerNames() string {
	names := []string{"local"}
	for n := range cfg.Runners {
		names = append(names, n)
	}
	slices.Sort(names[1:])
	return strings.Join(names, ", ")
}
