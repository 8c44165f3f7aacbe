package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local staging paths
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/titanlb/titanlb/study"
)

// Runner is the [study.Runner] that runs jobs as an Apache Beam pipeline
// ([Rows], then a sink writing shards into Staging), on the runner Beam's
// flags select (--runner; by default Prism, in this process). The driver
// (this process) takes the complete shards as they appear and hands their
// rows to the study's output, then removes them.
type Runner struct {
	// Staging is a directory, on a filesystem Beam knows (a local path,
	// gs://...), that the workers write rows to and this process reads;
	// on a cluster it must be shared. A study's shards go to a
	// subdirectory named by its fingerprint; shards a killed run left
	// there are taken first. Empty: a temporary local directory.
	Staging string
	// Registry returns the balancer registry; every worker calls it, so
	// it must be a top-level function registered with
	// beam.RegisterFunction in an init function. Nil: study.NewRegistry.
	Registry func() *study.Registry
	// ShardRows bounds the rows of one shard (0: 16), so that rows reach
	// the output while a long bundle runs.
	ShardRows int
}

var _ study.Runner = Runner{}

// Run runs jobs of st on Beam and emits their rows. beam.Init is called
// if it has not been; Beam's flags must be parsed before (see
// [ParseFlags]).
func (r Runner) Run(ctx context.Context, st *study.Study, jobs iter.Seq[study.Job], emit func(study.Row) error) error {
	var regName string
	if r.Registry != nil {
		regName = reflectx.FunctionName(r.Registry)
		if _, err := resolveRegistry(regName); err != nil {
			return err
		}
	}
	pending := map[string]int{} // ID → index
	for j := range jobs {
		pending[j.ID] = j.Index
	}
	if len(pending) == 0 {
		return nil
	}
	dir := r.Staging
	if dir == "" {
		tmp, err := os.MkdirTemp("", "titanlb-beam-")
		if err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	dir = join(dir, st.Fingerprint())
	fs, err := filesystem.New(ctx, dir)
	if err != nil {
		return fmt.Errorf("pipeline: staging %s: %w", dir, err)
	}
	defer fs.Close()
	// Shards of an earlier, killed run of this study come first.
	imp := &importer{fs: fs, dir: dir, emit: emit, done: map[string]bool{}}
	if err := imp.sweep(ctx, pending); err != nil {
		return err
	}
	if len(pending) == 0 {
		return imp.clean(ctx)
	}
	var idx []int
	for _, i := range pending {
		idx = append(idx, i)
	}
	slices.Sort(idx)

	if !beam.Initialized() {
		beam.Init()
	}
	p, s := beam.NewPipelineWithRoot()
	rows := Rows(s, st.Source(), regName, Spans(idx))
	every := r.ShardRows
	if every <= 0 {
		every = 16
	}
	beam.ParDo0(s, &writeFn{Dir: dir, Every: every}, rows)

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- beamx.Run(pctx, p) }()
	tick := time.NewTicker(shardPoll)
	defer tick.Stop()
	var perr error
	for waiting := true; waiting; {
		select {
		case perr = <-done:
			waiting = false
		case <-tick.C:
			if err := imp.sweep(ctx, pending); err != nil {
				cancel()
				<-done
				return err
			}
		}
	}
	if err := imp.sweep(ctx, pending); err != nil {
		return err
	}
	if perr != nil {
		return fmt.Errorf("pipeline: %w", perr)
	}
	if len(pending) > 0 {
		return fmt.Errorf("pipeline: the pipeline succeeded but %d jobs have no row in %s", len(pending), dir)
	}
	return imp.clean(ctx)
}

// shardPoll is how often the driver looks for complete shards.
const shardPoll = time.Second

// importer takes complete shards from the staging directory.
type importer struct {
	fs   filesystem.Interface
	dir  string
	emit func(study.Row) error
	done map[string]bool // shards taken
}

// sweep emits the rows of the complete shards not yet taken and removes
// their jobs from pending.
func (im *importer) sweep(ctx context.Context, pending map[string]int) error {
	names, err := im.fs.List(ctx, join(im.dir, "*"+ShardSuffix))
	if err != nil {
		return fmt.Errorf("pipeline: listing %s: %w", im.dir, err)
	}
	slices.Sort(names)
	for _, name := range names {
		if im.done[name] {
			continue
		}
		if err := im.take(ctx, name, pending); err != nil {
			return err
		}
		im.done[name] = true
	}
	return nil
}

func (im *importer) take(ctx context.Context, name string, pending map[string]int) error {
	rc, err := im.fs.OpenRead(ctx, name)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		var row study.Row
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return fmt.Errorf("pipeline: %s:%d: %w", name, n, err)
		}
		if err := im.emit(row); err != nil {
			return fmt.Errorf("pipeline: %s:%d: %w", name, n, err)
		}
		delete(pending, row.ID)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("pipeline: %s: %w", name, err)
	}
	return nil
}

// clean removes the study's shards and, when local, its subdirectory and
// the staging directory if that is then empty.
func (im *importer) clean(ctx context.Context) error {
	names, err := im.fs.List(ctx, join(im.dir, "*"))
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if rm, ok := im.fs.(filesystem.Remover); ok {
		for _, n := range names {
			if err := rm.Remove(ctx, n); err != nil {
				return fmt.Errorf("pipeline: %w", err)
			}
		}
	}
	if !strings.Contains(im.dir, "://") {
		os.Remove(im.dir)
		os.Remove(filepath.Dir(im.dir)) // the staging directory, if now empty
	}
	return nil
}

// Flags are this package's own flags, which [ParseFlags] takes beside
// Beam's.
type Flags struct {
	// Staging (--rows_staging=DIR) is [Runner].Staging.
	Staging string
	// Verbose (--verbose) asks for Prism's and the SDK's informational
	// log lines, which a command may otherwise hide.
	Verbose bool
}

// ParseFlags parses Beam's pipeline flags (--runner, --endpoint,
// --environment_type, --job_name, ...: every flag the Beam packages
// registered on flag.CommandLine) from args, returning an error instead of
// exiting, and this package's [Flags]. Beam's flags are global to the
// SDK; ParseFlags sets them.
func ParseFlags(args []string) (Flags, error) {
	var f Flags
	fs := flag.NewFlagSet("beam", flag.ContinueOnError)
	fs.SetOutput(discard{})
	flag.CommandLine.VisitAll(func(fl *flag.Flag) { fs.Var(fl.Value, fl.Name, fl.Usage) })
	fs.StringVar(&f.Staging, "rows_staging", "", "directory (a Beam filesystem path) where workers leave rows for the driver")
	fs.BoolVar(&f.Verbose, "verbose", false, "show Prism's and the SDK's informational log lines")
	if err := fs.Parse(args); err != nil {
		return f, fmt.Errorf("beam flags: %w", err)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("beam flags: unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// DefaultStaging is the staging directory beside a local rows file.
func DefaultStaging(rows string) string {
	if strings.Contains(rows, "://") {
		return rows + ".staging"
	}
	abs, err := filepath.Abs(rows)
	if err != nil {
		abs = rows
	}
	return abs + ".staging"
}
