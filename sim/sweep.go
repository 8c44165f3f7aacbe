package sim

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/titanlb/titanlb/balancer"
)

// Job is one run of a sweep: a scenario and the balancer to run it with.
type Job struct {
	Scenario Scenario
	NewLB    func() (balancer.Balancer, error)
}

// Sweep runs jobs concurrently, one goroutine per job with at most
// GOMAXPROCS running at once, and returns their results in the order of
// jobs. Each run is independent and deterministic, so the results are the
// same as running the jobs one by one. Every job runs even if some fail;
// the error joins the failures, each prefixed with its job index
// ("sim: jobs[3]: ..."), and the failed jobs' results are zero.
//
// NewLB is called from the job's goroutine: it must not share a balancer
// between jobs.
func Sweep(jobs []Job) ([]Result, error) {
	res := make([]Result, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := Run(jobs[i].Scenario, jobs[i].NewLB)
			if err != nil {
				errs[i] = fmt.Errorf("sim: jobs[%d]: %w", i, err)
				return
			}
			res[i] = r
		}()
	}
	wg.Wait()
	var joined []error
	for _, err := range errs {
		if err != nil {
			joined = append(joined, err)
		}
	}
	if len(joined) > 0 {
		return res, errors.Join(joined...)
	}
	return res, nil
}
