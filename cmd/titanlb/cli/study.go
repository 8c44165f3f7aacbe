package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/titanlb/titanlb/study"
)

const studyAbout = `Runs a study: every point of a grid (a base scenario varied along axes)
for every balancer and every seed, one job each. Each job appends one JSON
line to the rows file: its id, parameters, seed and full sim.Result. Jobs
already in the file are skipped, so rerunning the same command resumes a
study that was interrupted (Ctrl-C keeps the finished rows).

A study file (JSON):

  {
    "base": {"Duration": 1000000000, "Backends": [...], "Traffic": {"Flows": 10000}},
    "axes": [
      {"path": "traffic.fragmentRate", "values": [0, 0.25, 0.5, 0.75, 1]},
      {"path": "balancer.titan.fragTableSize", "values": [1024, 8192]}
    ],
    "balancers": ["titan", "katran", "katran-naive", "cilium"],
    "seeds": 10
  }

An axis path names a field of sim.Scenario's JSON form, or of a balancer's
Config behind balancer.<name>. Mistakes (unknown paths, values of the wrong
type, empty axes, duplicate balancers) are reported, naming the place,
before any job runs. -check stops there.

Runners: local runs the jobs on every core; beam runs them as an Apache
Beam pipeline (the titanlb-beam build), in process on Prism unless Beam
pipeline flags after -- choose another runner.

  titanlb study study.json -o rows.jsonl
  titanlb study -check study.json
  titanlb-beam study study.json -o rows.jsonl -runner beam -- --runner=flink --endpoint=localhost:8099
`

func cmdStudy(ctx context.Context, args []string, stdout, stderr io.Writer, cfg Config) int {
	c := newCommand("study", "[flags] study.json|- -o rows.jsonl [-- runner flags]", studyAbout, stderr)
	out := c.fs.String("o", "", "the rows `file` (JSON Lines) to append to; required unless -check")
	runner := c.fs.String("runner", "local", "where jobs run: "+cfg.runnerNames())
	workers := c.fs.Int("workers", 0, "jobs at once for the local runner (0: every core)")
	check := c.fs.Bool("check", false, "check the study and count its jobs (and those already in -o); run nothing")
	quiet := c.fs.Bool("q", false, "no progress bar (there is none when standard error is not a terminal)")
	pos, rest, status := c.parse(args)
	if status >= 0 {
		return status
	}
	if len(pos) != 1 {
		return c.fail("want one study file, got %d arguments", len(pos))
	}
	data, err := readArg(pos[0], cfg.stdin())
	if err != nil {
		fmt.Fprintf(stderr, "titanlb study: %v\n", err)
		return 1
	}
	st, err := study.Parse(data, cfg.Registry)
	if err != nil {
		if errors.Is(err, study.ErrInvalid) {
			fmt.Fprintf(stderr, "titanlb study: %s: %v\n", pos[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "titanlb study: %v\n", err)
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: %d jobs: %d balancers (%s), %d axes (%s)\n", pos[0], st.Len(),
			len(st.Balancers()), strings.Join(st.Balancers(), ", "), len(st.Axes()), strings.Join(st.Axes(), ", "))
		if *out != "" {
			done, err := study.CountDone(*out, st)
			if err != nil {
				fmt.Fprintf(stderr, "titanlb study: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "%s: %d of them done, %d to run\n", *out, done, st.Len()-done)
		}
		return 0
	}
	if *out == "" {
		return c.fail("-o: name the rows file")
	}
	if *workers < 0 {
		return c.fail("-workers %d: must be 0 (every core) or more", *workers)
	}
	var r study.Runner
	switch mk, ok := cfg.Runners[*runner]; {
	case *runner == "local":
		if len(rest) > 0 {
			return c.fail("the local runner takes no arguments after --, got %q", rest)
		}
		r = study.Local{Workers: *workers}
	case ok:
		if r, err = mk(*out, rest); err != nil {
			return c.fail("-runner %s: %v", *runner, err)
		}
	case cfg.Missing[*runner] != "":
		fmt.Fprintf(stderr, "titanlb study: -runner %s: %s\n", *runner, cfg.Missing[*runner])
		return 2
	default:
		return c.fail("-runner %q: this build has %s", *runner, cfg.runnerNames())
	}
	opt := study.Options{}
	if !*quiet {
		opt.Progress = cfg.Progress
	}
	rep, err := study.Execute(ctx, st, *out, r, opt)
	fmt.Fprintf(stdout, "%s: %d jobs: %d run now, %d already in %s, %d left (%v)\n",
		pos[0], rep.Jobs, rep.Ran, rep.Skipped, *out, rep.Left, rep.Elapsed.Round(time.Millisecond))
	if rep.Repaired > 0 {
		fmt.Fprintf(stdout, "%s: cut off a partial last line of %d bytes (an interrupted run)\n", *out, rep.Repaired)
	}
	if err != nil {
		fmt.Fprintf(stderr, "titanlb study: %v\n", err)
		if rep.Left > 0 {
			fmt.Fprintf(stderr, "titanlb study: %d jobs left: run the same command again to resume\n", rep.Left)
		}
		return 1
	}
	return 0
}
