package pipeline

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/titanlb/titanlb/study"
)

// The Go SDK finds DoFns, element types and functions by name on every
// worker; it requires them registered in init, before beam.Init.
func init() {
	register.DoFn2x0[Span, func(int)](&expandFn{})
	register.DoFn2x1[int, func(string), error](&runFn{})
	register.DoFn2x1[context.Context, string, error](&writeFn{})
	register.Emitter1[int]()
	register.Emitter1[string]()
	beam.RegisterType(reflect.TypeFor[Span]())
}

// Span is the jobs Lo <= index < Hi of a study: the pending jobs travel
// as spans, so that a pipeline of millions of jobs stays small.
type Span struct{ Lo, Hi int }

// Spans gathers job indexes (in increasing order) into spans.
func Spans(indexes []int) []Span {
	var out []Span
	for _, i := range indexes {
		if n := len(out); n > 0 && out[n-1].Hi == i {
			out[n-1].Hi++
			continue
		}
		out = append(out, Span{i, i + 1})
	}
	return out
}

// Rows adds to s the transforms that run the jobs in spans of the study
// whose file is src and return their rows: a PCollection of strings, each
// one row's JSON line without its newline, exactly as the local runner
// writes it. The jobs are reshuffled so that a runner spreads them over
// its workers. registry is the name of a function returning the
// balancer registry (see [Runner].Registry); "" means study.NewRegistry.
func Rows(s beam.Scope, src []byte, registry string, spans []Span) beam.PCollection {
	s = s.Scope("titanlb.study")
	sp := beam.CreateList(s, spans)
	jobs := beam.ParDo(s, &expandFn{}, sp)
	jobs = beam.Reshuffle(s, jobs)
	return beam.ParDo(s, &runFn{Study: src, Registry: registry}, jobs)
}

// expandFn emits every index of a span.
type expandFn struct{}

func (*expandFn) ProcessElement(sp Span, emit func(int)) {
	for i := sp.Lo; i < sp.Hi; i++ {
		emit(i)
	}
}

// runFn runs one job of the study and emits its row. Fields are encoded
// into the pipeline; the study is compiled once per DoFn instance.
type runFn struct {
	Study    []byte // the study file
	Registry string // a registered func() *study.Registry, or ""

	st *study.Study
}

var registryType = reflect.TypeFor[func() *study.Registry]()

// resolveRegistry returns the registry named by a registered function.
func resolveRegistry(name string) (*study.Registry, error) {
	if name == "" {
		return study.NewRegistry(), nil
	}
	fn, err := runtime.ResolveFunction(name, registryType)
	if err != nil {
		return nil, fmt.Errorf("pipeline: registry function %s: %w (register it with beam.RegisterFunction in init)", name, err)
	}
	f, ok := fn.(func() *study.Registry)
	if !ok {
		return nil, fmt.Errorf("pipeline: registry function %s is a %T, not a func() *study.Registry", name, fn)
	}
	return f(), nil
}

func (f *runFn) Setup() error {
	reg, err := resolveRegistry(f.Registry)
	if err != nil {
		return err
	}
	f.st, err = study.Parse(f.Study, reg)
	return err
}

func (f *runFn) ProcessElement(i int, emit func(string)) error {
	j, err := f.st.Job(i)
	if err != nil {
		return err
	}
	row, err := f.st.Run(j)
	if err != nil {
		return err
	}
	line, err := row.MarshalLine()
	if err != nil {
		return err
	}
	emit(string(line[:len(line)-1]))
	return nil
}

// writeFn writes rows into shard files of Dir (any Beam filesystem): each
// shard is written under a temporary name and renamed to NAME.jsonl when
// complete, at the end of a bundle or every Every rows, so that the driver
// can take rows while the pipeline runs and a killed pipeline leaves
// whole shards. A retried bundle writes new shards; the driver drops rows
// it already has.
type writeFn struct {
	Dir   string
	Every int

	fs    filesystem.Interface
	w     io.WriteCloser
	bw    *bufio.Writer
	name  string
	count int
}

// ShardSuffix names complete shard files; others are being written.
const ShardSuffix = ".jsonl"

func (f *writeFn) Setup(ctx context.Context) error {
	fs, err := filesystem.New(ctx, f.Dir)
	f.fs = fs
	return err
}

func (f *writeFn) ProcessElement(ctx context.Context, line string) error {
	if f.w == nil {
		var b [12]byte
		rand.Read(b[:])
		f.name = join(f.Dir, hex.EncodeToString(b[:]))
		w, err := f.fs.OpenWrite(ctx, f.name+".tmp")
		if err != nil {
			return err
		}
		f.w, f.bw, f.count = w, bufio.NewWriter(w), 0
	}
	f.bw.WriteString(line)
	if err := f.bw.WriteByte('\n'); err != nil {
		return err
	}
	if f.count++; f.Every > 0 && f.count >= f.Every {
		return f.seal(ctx)
	}
	return nil
}

func (f *writeFn) FinishBundle(ctx context.Context) error { return f.seal(ctx) }

// seal completes the current shard: flush, close, rename.
func (f *writeFn) seal(ctx context.Context) error {
	if f.w == nil {
		return nil
	}
	w := f.w
	f.w = nil
	if err := f.bw.Flush(); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	r, ok := f.fs.(filesystem.Renamer)
	if !ok {
		return fmt.Errorf("pipeline: the filesystem of %s cannot rename files", f.Dir)
	}
	return r.Rename(ctx, f.name+".tmp", f.name+ShardSuffix)
}

func (f *writeFn) Teardown() error {
	if f.fs != nil {
		return f.fs.Close()
	}
	return nil
}

// join joins a Beam filesystem directory and a name ("gs://b/d" + "x").
func join(dir, name string) string {
	return strings.TrimSuffix(dir, "/") + "/" + name
}
