// Package kbench measures XDP programs in the kernel and fits the cost
// model to the measurements: the research tooling behind cost.Calibrated()
// and the kernel benchmarks of docs/benchmarks.md. It is internal: its
// shapes change as the calibration grows (more programs, finer
// operations), and nothing outside this module builds on it.
//
// A [Target] is a program loaded with its benchmark wrappers, which run
// the datapath on a frame many times per BPF_PROG_TEST_RUN call and
// restore the frame each time ([BenchOptions]). [Paths] lists the paths
// of the Titan program that are measured, each with the operations the
// program performs on it; [Calibrate] measures every path on a
// Target of its own (a [Loader] provides them), interleaved over rounds,
// subtracts the wrapper's own time, checks from the op counters that the
// packets took their path, and [FitModel] prices each operation.
// [FitRatios] fits them with measurements of other programs too (a
// [Sample] the side-by-side harness, internal/cmd/katranbench, writes
// of Katran's program and Titan's) and the ratios between programs.
// [Pool] merges calibrations into one (medians over all their rounds).
// [Misses], [OffModelMisses] and [Speed] check a model's predictions
// against a calibration; [Explain] checks it as another host allows, at
// prices fitted to the calibration and within [HostBand] of the model's.
//
// Package xdp's tests provide the Target of the Titan program and run
// TestCalibrate, TestCalibratedPredictsKernel and the kernel benchmarks
// (BenchmarkKernel, BenchmarkFragmentRatio, BenchmarkFragTableSize); the
// method and the figures are in docs/calibration.md and
// docs/benchmarks.md.
package kbench

import (
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// Vary says how the benchmark wrapper changes the frame between
// iterations.
type Vary uint32

// The variations.
const (
	VaryNone     Vary = iota // every iteration the same frame: an established flow, a known datagram
	VaryFlow                 // the inner source address + the iteration count: every packet a new flow
	VaryDatagram             // the IP ID + the iteration count: every fragment a new datagram's
	NumVary                  // the number of variations
)

// BenchOptions configure [Target].Bench.
type BenchOptions struct {
	// Repeat is the number of iterations in the kernel; 0 means 1.
	Repeat int
	// Vary says how the frame changes between iterations.
	Vary Vary
	// Baseline runs the wrapper around a function that returns XDP_PASS
	// instead of the datapath: the wrapper's own cost.
	Baseline bool
}

// Counters are a Target's cumulative packet and operation counts.
type Counters struct {
	Packets uint64
	Ops     [cost.NumOps]uint64 // the operations performed, as the cost model names them
}

// A Target is an XDP program loaded in the kernel with its benchmark
// wrappers.
type Target interface {
	// Run runs the program once on frame (to set up state).
	Run(frame []byte) error
	// Bench returns the kernel-measured time per packet of the wrapper
	// on frame. The wrapper runs the real datapath against the program's
	// live tables and counters: varied frames insert entries as real
	// traffic would, and every iteration counts in Counters.
	Bench(frame []byte, o BenchOptions) (time.Duration, error)
	// Counters returns the program's counters so far.
	Counters() (Counters, error)
	// Close releases the program.
	Close() error
}

// A Loader loads the program path is measured on, with path's options,
// every state table of tableSize entries, and the backends bs (to which
// path's [Path.Backends] has been applied).
type Loader func(path Path, tableSize int, bs []balancer.Backend) (Target, error)
