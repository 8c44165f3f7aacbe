// Package study runs grids of simulations: a base [sim.Scenario], axes
// that vary it, balancers, and seeds. A study is data (a JSON [File]); its
// results are rows (JSON Lines, one per job) and a [Summary] of them.
//
// # Studies
//
// [Parse] (or [Load]) checks a study file against a [Registry] of
// balancer kinds ([NewRegistry]: titan, katran, katran-naive, cilium;
// [Register] adds custom ones by name) and reports any mistake, naming
// its place, before a job runs: "study: axes[1].path
// \"traffic.fragmentRat\": sim.Traffic has no field ...". An [Axis] path
// names a field of the JSON form of sim.Scenario ("traffic.fragmentRate")
// or of one balancer's configuration ("balancer.titan.fragTableSize").
// The jobs are every point of the grid, for every balancer, for every
// seed ([Study.Jobs]); a [Job]'s ID is a hash of its parameters and seed,
// stable across runs and runners.
//
// # Running
//
// [Execute] runs the jobs missing from a rows file with a [Runner] and
// appends one [Row] per job as it finishes (one write of a whole line,
// O_APPEND, then fsync), so an interrupted study resumes where it
// stopped: rerun it with the same output. [Local] runs jobs on every
// core, one job per worker in memory. The Beam runner, in the separate
// module github.com/titanlb/titanlb/beam, runs the same jobs as an Apache
// Beam pipeline and yields the same rows; this package does not import
// Beam.
//
// # Summaries
//
// [Summarize] groups rows by everything but the seed and gives, per
// metric (every number of [sim.Result]), the mean and the 95% confidence
// interval of the mean (Student's t); [Summary.WriteTable] prints it and
// [Summary.Plot] draws a metric against an axis, a line per balancer, as
// SVG.
//
// The command github.com/titanlb/titanlb/cmd/titanlb does all of this
// from the shell; docs/studies.md has a worked study and its figures.
package study
