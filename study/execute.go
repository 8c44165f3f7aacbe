package study

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// Runner runs jobs of a study. It calls emit with each job's row, from
// any goroutine; emit blocks while the output catches up, which bounds
// the rows in flight, and returns an error when the output failed, after
// which the runner should stop. Run returns when every job has run or
// ctx is done; the error joins the jobs that failed. The jobs' rows must
// be those [Study.Run] returns: runners differ in where jobs run, not in
// what they produce.
//
// [Local] runs jobs on this machine's cores; the Beam runner
// (github.com/titanlb/titanlb/beam/pipeline, a module of its own) runs
// them on Apache Beam.
type Runner interface {
	Run(ctx context.Context, st *Study, jobs iter.Seq[Job], emit func(Row) error) error
}

// Options configure [Execute].
type Options struct {
	// Progress, when not nil, receives a progress bar redrawn in place
	// (jobs done, rate, time left): give it a terminal, never a file.
	Progress io.Writer
	// Buffer bounds the rows waiting to be written (0: 64).
	Buffer int
}

// Report is what [Execute] did.
type Report struct {
	Jobs     int           // jobs in the study
	Skipped  int           // jobs whose rows were already in the file
	Ran      int           // rows appended by this run
	Left     int           // jobs still without a row: failed (see the error) or not run (cancelled)
	Repaired int64         // bytes of a partial last line cut off the file
	Elapsed  time.Duration // wall time of the run
}

// Execute runs the jobs of st whose rows are not yet in the rows file at
// path with r, appending one row per job as it finishes (see [Rows]): a
// study stopped by a failure, a cancelled ctx or a kill resumes where it
// stopped when Execute is called again. The error joins the failed jobs'
// errors and any output error.
func Execute(ctx context.Context, st *Study, path string, r Runner, opt Options) (Report, error) {
	start := time.Now()
	rep := Report{Jobs: st.Len()}
	rows, err := OpenRows(path, st)
	if err != nil {
		return rep, err
	}
	rep.Repaired = rows.Repaired()
	initial := rows.Len()
	// The pending jobs, by index: the runner's goroutines read this while
	// the writer adds to rows.
	pending, todo := 0, make([]uint64, (st.Len()+63)/64)
	for j := range st.Jobs() {
		if rows.Has(j.ID) {
			rep.Skipped++
		} else {
			pending++
			todo[j.Index/64] |= 1 << (j.Index % 64)
		}
	}
	jobs := func(yield func(Job) bool) {
		for i := range st.Len() {
			if todo[i/64]&(1<<(i%64)) == 0 {
				continue
			}
			j, _ := st.Job(i) // in range
			if !yield(j) {
				return
			}
		}
	}
	if pending == 0 {
		rep.Elapsed = time.Since(start)
		return rep, rows.Close()
	}
	var bar *progress
	if opt.Progress != nil {
		bar = newProgress(opt.Progress, pending)
	}
	buf := opt.Buffer
	if buf <= 0 {
		buf = 64
	}
	// One writer owns the file: rows arrive on a channel, each is one
	// write, and the file is synced whenever the channel runs dry.
	ch := make(chan Row, buf)
	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		var err error
		for row := range ch {
			if err != nil {
				continue // drain: the runner is told through emit
			}
			if err = rows.Append(row); err == nil && len(ch) == 0 {
				err = rows.Sync()
			}
			if err != nil {
				close(stop)
				continue
			}
			rep.Ran = rows.Len() - initial
			if bar != nil {
				bar.update(rep.Ran)
			}
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		werr <- err
	}()
	emit := func(row Row) error {
		if err := st.checkRow("row", 0, rowHeader{row.ID, row.Study, row.Params}); err != nil || row.ID != JobID(row.Params, row.Seed) {
			return fmt.Errorf("study: row %s: not a row of this study (%v)", row.ID, err)
		}
		select {
		case ch <- row:
			return nil
		case <-stop:
			return errors.New("study: the rows file failed")
		}
	}
	rerr := r.Run(ctx, st, jobs, emit)
	close(ch)
	err = <-werr
	if bar != nil {
		bar.finish()
	}
	rep.Left = pending - rep.Ran
	rep.Elapsed = time.Since(start)
	if err == nil && rerr == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return rep, errors.Join(err, rerr)
}
