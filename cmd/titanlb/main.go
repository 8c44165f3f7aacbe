// Command titanlb runs TitanLB simulations from the shell: one scenario
// (titanlb run), a study — a grid of scenarios x balancers x seeds, with
// rows that resume — (titanlb study), and its summary with confidence
// intervals and plots (titanlb summary).
//
//	go install github.com/titanlb/titanlb/cmd/titanlb@latest
//	titanlb study examples/studies/fragmentation.json -o rows.jsonl
//	titanlb summary -svg reliability.svg rows.jsonl
//
// This build runs studies on this machine's cores; the Apache Beam build,
// github.com/titanlb/titanlb/beam/cmd/titanlb-beam, adds -runner beam.
// The command is [cli.Main]; docs/studies.md walks through a study.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/titanlb/titanlb/cmd/titanlb/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg := cli.Config{Missing: map[string]string{"beam": cli.BeamMissing}, Progress: cli.ProgressTo(os.Stderr)}
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, cfg)
	stop()
	os.Exit(code)
}
