package study

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"sync"
)

// Local is the [Runner] that uses this machine's cores: Workers
// goroutines each run one job at a time with [sim.Run] (as [sim.Sweep]
// does) and hand its row on before taking the next, so memory holds one
// job per worker, however many jobs the study has. A cancelled context
// stops it taking jobs; the jobs running finish and their rows are kept.
type Local struct {
	// Workers is the number of jobs run at once (0: GOMAXPROCS).
	Workers int
	// MaxErrors bounds the job errors Run reports in full (0: 10); the
	// rest are counted.
	MaxErrors int
}

var _ Runner = Local{}

// Run runs jobs, each with st.Run, and emits their rows.
func (l Local) Run(ctx context.Context, st *Study, jobs iter.Seq[Job], emit func(Row) error) error {
	n := l.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan Job)
	var (
		mu     sync.Mutex
		errs   []error
		failed int
		fatal  error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		if max := l.maxErrors(); len(errs) < max {
			errs = append(errs, err)
		}
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for j := range ch {
				row, err := st.Run(j)
				if err != nil {
					fail(err)
					continue
				}
				if err := emit(row); err != nil {
					mu.Lock()
					if fatal == nil {
						fatal = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	for j := range jobs {
		select {
		case ch <- j:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(ch)
	wg.Wait()
	if failed > len(errs) {
		errs = append(errs, fmt.Errorf("study: %d more jobs failed", failed-len(errs)))
	}
	return errors.Join(append([]error{fatal}, errs...)...)
}

func (l Local) maxErrors() int {
	if l.MaxErrors > 0 {
		return l.MaxErrors
	}
	return 10
}
