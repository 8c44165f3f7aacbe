// Command titanlb-beam is the titanlb command ([cli.Main]) with one more
// study runner, -runner beam, which runs a study's jobs as an Apache Beam
// pipeline: in this process on Beam's Prism runner by default, or on a
// Flink, Spark or Dataflow cluster when Beam's pipeline flags follow "--".
// The rows are the ones the local runner writes, byte for byte.
//
//	cd beam && go install ./cmd/titanlb-beam     # in a clone: the module replaces the library with ../
//	titanlb-beam study study.json -o rows.jsonl -runner beam
//	titanlb-beam study study.json -o rows.jsonl -runner beam -- --runner=flink --endpoint=localhost:8099 --environment_type=LOOPBACK
//	titanlb-beam study study.json -o rows.jsonl -runner beam -- --runner=dataflow --project=P --region=R --staging_location=gs://B/s --rows_staging=gs://B/rows
//
// After "--": Beam's flags, and two of its own: --rows_staging=DIR, the
// directory (local, or gs:// on a cluster) where workers leave rows for
// this process (default: the rows file's name + ".staging"), and
// --verbose, which shows Prism's and the SDK's informational log lines
// (hidden otherwise: warnings and errors only).
//
// A cluster starts this same binary as its workers (Beam's Go SDK does
// so on linux/amd64), which Beam calls with --worker=true: main hands such
// a call to beam.Init, which runs the SDK harness.
package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/titanlb/titanlb/beam/pipeline"
	"github.com/titanlb/titanlb/cmd/titanlb/cli"
	"github.com/titanlb/titanlb/study"
)

func main() {
	if worker(os.Args[1:]) {
		flag.Parse()
		beam.Init() // runs the harness and exits
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, cli.ProgressTo(os.Stderr))
	stop()
	os.Exit(code)
}

// run is the command with the Beam runner registered.
func run(ctx context.Context, args []string, stdout, stderr, progress io.Writer) int {
	return cli.Main(ctx, args, stdout, stderr, cli.Config{
		Runners:  map[string]cli.RunnerFunc{"beam": newRunner},
		Progress: progress,
	})
}

// newRunner parses Beam's flags (and --rows_staging) and returns the Beam
// runner for the rows file rows.
func newRunner(rows string, args []string) (study.Runner, error) {
	f, err := pipeline.ParseFlags(args)
	if err != nil {
		return nil, err
	}
	if !f.Verbose {
		// Prism and the SDK log each pipeline's steps through slog at
		// the level of Beam's log package, which beam.Init applies.
		beamlog.SetupLogging("warn", "text")
	}
	if f.Staging == "" {
		f.Staging = pipeline.DefaultStaging(rows)
	}
	return pipeline.Runner{Staging: f.Staging}, nil
}

// worker reports whether Beam started this binary as a worker.
func worker(args []string) bool {
	for _, a := range args {
		if a == "--worker" || strings.HasPrefix(a, "--worker=") || a == "-worker" || strings.HasPrefix(a, "-worker=") {
			return true
		}
	}
	return false
}
