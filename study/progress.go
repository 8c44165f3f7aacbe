package study

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line progress bar, redrawn in place with a
// carriage return: jobs done of total, the rate, and the time left.
type progress struct {
	w      io.Writer
	total  int
	start  time.Time
	last   time.Time
	now    func() time.Time
	done   int
	drawn  bool
	period time.Duration
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, now: time.Now, period: 200 * time.Millisecond}
	p.start = p.now()
	p.draw()
	return p
}

// update records done jobs and redraws at most every period (and always
// for the last job).
func (p *progress) update(done int) {
	p.done = done
	if t := p.now(); t.Sub(p.last) >= p.period || done == p.total {
		p.draw()
	}
}

func (p *progress) draw() {
	p.last = p.now()
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(p.last.Sub(p.start)))
	p.drawn = true
}

// line is the bar for the jobs done after elapsed.
func (p *progress) line(elapsed time.Duration) string {
	const width = 24
	fill := 0
	if p.total > 0 {
		fill = width * p.done / p.total
	}
	s := fmt.Sprintf("[%s%s] %d/%d jobs", strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.done, p.total)
	if p.done == 0 || elapsed <= 0 {
		return s
	}
	rate := float64(p.done) / elapsed.Seconds()
	left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
	if p.done == p.total {
		return fmt.Sprintf("%s  %s jobs/s  took %v", s, rateString(rate), elapsed.Round(time.Second))
	}
	return fmt.Sprintf("%s  %s jobs/s  %v left", s, rateString(rate), left.Round(time.Second))
}

func rateString(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.2g", r)
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.drawn {
		p.draw()
		fmt.Fprintln(p.w)
	}
}
