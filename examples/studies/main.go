// Command studies runs a study with the [study] package — the library
// behind `titanlb study` and `titanlb summary` — and writes its summary
// and two plots. Its default study, fragmentation.json, is the compare
// example's question asked with 10 seeds and with reordering: 5
// fragmentation rates x 2 reorder shares x 4 balancers x 10 seeds, 400
// jobs.
//
//	go run ./examples/studies                                 # regenerates docs/studies/fragmentation/
//	go run ./examples/studies -study my.json -o out -rows rows.jsonl
//
// It writes, in the -o directory: summary.txt (the table `titanlb summary`
// prints), summary.json (every metric of every group: mean, sd, 95% CI),
// reliability.svg and cost.svg (Reliability and AvgCost against the
// fragmentation rate, a line per balancer and reorder share). Rows go to a
// temporary file unless -rows names one, which then resumes.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/study"
)

//go:embed fragmentation.json
var fragmentation []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command: 0 on success, 1 when a job or a file fails, 2 for
// bad flags or a bad study.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("studies", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: studies [flags]\n\nRuns a study (default: fragmentation.json, embedded) on every core and writes its summary\nand plots of Reliability and AvgCost against traffic.fragmentRate.\n\nflags:\n")
		fs.PrintDefaults()
	}
	file := fs.String("study", "", "the study `file` (default: the embedded fragmentation.json)")
	out := fs.String("o", filepath.Join("docs", "studies", "fragmentation"), "the `directory` for summary.txt, summary.json, reliability.svg and cost.svg")
	rowsPath := fs.String("rows", "", "the rows `file` to append to and resume from (default: a temporary file)")
	axis := fs.String("axis", "traffic.fragmentRate", "the `axis` the plots run along")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "studies: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	src := fragmentation
	if *file != "" {
		var err error
		if src, err = os.ReadFile(*file); err != nil {
			fmt.Fprintf(stderr, "studies: %v\n", err)
			return 1
		}
	}
	st, err := study.Parse(src, nil) // nil: the built-in balancers
	if err != nil {
		fmt.Fprintf(stderr, "studies: %v\n", err)
		return 2
	}
	rows := *rowsPath
	if rows == "" {
		dir, err := os.MkdirTemp("", "studies-")
		if err != nil {
			fmt.Fprintf(stderr, "studies: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		rows = filepath.Join(dir, "rows.jsonl")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "studies: %v\n", err)
		return 1
	}

	start := time.Now()
	rep, err := study.Execute(ctx, st, rows, study.Local{}, study.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "studies: %v (%d jobs left; with -rows, rerun to resume)\n", err, rep.Left)
		return 1
	}
	fmt.Fprintf(stdout, "%d jobs (%d run, %d already done) in %v\n", rep.Jobs, rep.Ran, rep.Skipped, time.Since(start).Round(time.Second))

	s, err := study.SummarizeFile(rows)
	if err != nil {
		fmt.Fprintf(stderr, "studies: %v\n", err)
		return 1
	}
	for _, o := range outputs(s, *axis) {
		path := filepath.Join(*out, o.name)
		if err := atomicfile.Write(path, 0o644, o.write); err != nil {
			fmt.Fprintf(stderr, "studies: %s: %v\n", path, err)
			return 1
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	return 0
}

// output is one file the command writes from a study's summary.
type output struct {
	name  string
	write func(io.Writer) error
}

// outputs are the files written from s, plotted along axis: those
// committed under docs/studies/fragmentation, which TestCommittedOutputs
// renders again from the committed summary.json.
func outputs(s *study.Summary, axis string) []output {
	return []output{
		{"summary.txt", func(w io.Writer) error { return s.WriteTable(w, nil) }},
		{"summary.json", func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			return enc.Encode(s)
		}},
		{"reliability.svg", func(w io.Writer) error { return s.Plot(w, "Reliability", axis) }},
		{"cost.svg", func(w io.Writer) error { return s.Plot(w, "AvgCost", axis) }},
	}
}
