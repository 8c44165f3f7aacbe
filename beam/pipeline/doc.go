// Package pipeline runs TitanLB studies ([github.com/titanlb/titanlb/study])
// as Apache Beam pipelines with the Beam Go SDK. It lives in a module of
// its own, github.com/titanlb/titanlb/beam, so that the library and its
// examples never download Beam (some 140 MB of modules).
//
// # Running
//
// [Runner] is a [study.Runner]: give it to [study.Execute] and the jobs
// missing from the rows file run as a pipeline — the pending job indexes
// as [Span]s, expanded, reshuffled across workers, each job run with
// study.Study.Run ([Rows]) — and their rows land in the rows file exactly
// as the local runner writes them (the tests compare the two, byte for
// byte). By default the pipeline runs in this process on Beam's Prism
// runner; Beam's own flags ([ParseFlags]: --runner=flink
// --endpoint=HOST:8099, --runner=dataflow --project=..., ...) send it to a
// cluster unchanged, with Runner.Staging on storage the workers and this
// process share (gs://...).
//
// Workers write rows to shard files in the staging directory, each
// renamed complete every few rows; this process takes complete shards
// while the pipeline runs and when it ends, so an interrupted pipeline
// leaves its finished rows to the next run, as the local runner does.
//
// # Registration
//
// Beam's Go SDK finds DoFns, types and functions on its workers by name,
// from registrations made in init functions (this package registers its
// own). A study's custom balancers come from Runner.Registry, a function
// returning a [study.Registry] that the program registers with
// beam.RegisterFunction in its init; workers call it, no global map is
// involved.
//
// The command github.com/titanlb/titanlb/beam/cmd/titanlb-beam is titanlb
// with -runner beam; docs/studies.md measures both runners.
package pipeline
