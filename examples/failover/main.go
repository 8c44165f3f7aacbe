// Command failover takes backend 103 down in the middle of a run and brings
// it back: it prints the Maglev ring's shares before, during and after
// (from the very ring builder the balancers use), how many slots moved, and
// for Titan, Katran and Cilium the flows disrupted and the Reliability and
// Affinity through the change, beside the same scenario without it.
//
//	go run ./examples/failover
//	go run ./examples/failover -down 100ms -up 400ms -frag 30
package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/cmdflag"
	"github.com/titanlb/titanlb/sim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// victim is the backend that fails.
const victim balancer.BackendID = 103

type lane struct {
	name string
	new  func() (balancer.Balancer, error)
}

func lanes() []lane {
	return []lane{
		{"titan", func() (balancer.Balancer, error) { return titan.New(titan.Config{}) }},
		{"katran", func() (balancer.Balancer, error) { return katran.New(katran.Config{}) }},
		{"cilium", func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) }},
	}
}

// run returns 0 on success, 1 when a simulation fails, 2 for bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	fs := cmdflag.New("failover", "usage: failover [flags]\n\nTakes backend 103 down mid-run and back up; prints ring shares, disrupted flows and reliability.\n\nflags:\n", stderr)
	flows := fs.Int("flows", 2000, "flows in the scenario")
	frag := fs.Float64("frag", 30, "`percent` of datagrams larger than the MTU (fragmented)")
	dur := fs.Duration("duration", 600*time.Millisecond, "simulated time")
	down := fs.Duration("down", 200*time.Millisecond, "when 103 goes down")
	up := fs.Duration("up", 400*time.Millisecond, "when 103 comes back (after -down, at most -duration)")
	seed := fs.Int64("seed", 1, "seed of the scenario")
	if status, ok := fs.ParseArgs(args); !ok {
		return status
	}
	switch {
	case *frag < 0 || *frag > 100:
		return fs.Bad("-frag %v: must be a percentage between 0 and 100", *frag)
	case *dur <= 0:
		return fs.Bad("-duration %v: must be positive", *dur)
	case *down <= 0 || *down >= *dur:
		return fs.Bad("-down %v: must be after the start and before -duration %v", *down, *dur)
	case *up <= *down || *up > *dur:
		return fs.Bad("-up %v: must be after -down %v and at most -duration %v", *up, *down, *dur)
	}

	o := options{flows: *flows, frag: *frag / 100, dur: *dur, down: *down, up: *up, seed: *seed}
	if sc := o.scenario(); sc.Validate() != nil {
		return fs.Bad("%v", sc.Validate())
	}
	rep, err := failover(o)
	if err != nil {
		fmt.Fprintf(stderr, "failover: %v\n", err)
		return 1
	}
	rep.print(stdout, o)
	return 0
}

// options are the parsed flags.
type options struct {
	flows         int
	frag          float64 // share
	dur, down, up time.Duration
	seed          int64
}

// scenario is the steady scenario; the failover adds the two events.
func (o options) scenario() sim.Scenario {
	sc := sim.Scenario{Seed: o.seed, Duration: o.dur, Backends: sim.Backends(3)}
	sc.Traffic.Flows, sc.Traffic.FragmentRate = o.flows, o.frag
	return sc
}

// report is what the command found.
type report struct {
	rings  [3]*balancer.Ring // all up, 103 down, 103 back up
	lanes  []string
	steady []sim.Result // per lane, 103 up throughout
	failed []sim.Result // per lane, 103 down at o.down and up at o.up
}

// failover builds the rings and runs every lane with and without the
// failure.
func failover(o options) (report, error) {
	var rep report
	bs := sim.Backends(3)
	for i, up := range []bool{true, false, true} {
		bs[2].Up = up
		r, err := balancer.NewRing(bs, 0)
		if err != nil {
			return rep, err
		}
		rep.rings[i] = r
	}
	steady := o.scenario()
	fail := steady
	fail.Events = []sim.Event{sim.BackendDown(o.down, victim), sim.BackendUp(o.up, victim)}
	var jobs []sim.Job
	for _, l := range lanes() {
		rep.lanes = append(rep.lanes, l.name)
		jobs = append(jobs, sim.Job{Scenario: steady, NewLB: l.new}, sim.Job{Scenario: fail, NewLB: l.new})
	}
	res, err := sim.Sweep(jobs)
	if err != nil {
		return rep, err
	}
	for i := 0; i < len(res); i += 2 {
		rep.steady = append(rep.steady, res[i])
		rep.failed = append(rep.failed, res[i+1])
	}
	return rep, nil
}

func (rep report) print(w io.Writer, o options) {
	bs := sim.Backends(3)
	before, during, after := rep.rings[0], rep.rings[1], rep.rings[2]
	fmt.Fprintf(w, "Maglev ring, %d slots: share of slots per backend\n\n", len(before.Slots))
	t := newTable(w)
	fmt.Fprintln(t, "ring\t101\t102\t103\tslots moved\t")
	fmt.Fprintf(t, "all up\t%s\t-\t\n", shares(before, bs))
	fmt.Fprintf(t, "103 down\t%s\t%s\t\n", shares(during, bs), moved(before, during))
	fmt.Fprintf(t, "103 back up\t%s\t%s\t\n", shares(after, bs), moved(during, after))
	t.flush()
	own := float64(count(before, victim)) / float64(len(before.Slots))
	fmt.Fprintf(w, "\n103 owned %.2f%% of the slots: those had to move; anything above is Maglev's extra disruption.\n\n", 100*own)

	fmt.Fprintf(w, "%d flows, %.0f%% fragmented, %v simulated; 103 down at %v, up at %v; seed %d\n\n", o.flows, 100*o.frag, o.dur, o.down, o.up, o.seed)
	t = newTable(w)
	fmt.Fprintln(t, "balancer\treliability\t(steady)\taffinity\t(steady)\tflows moved\tflows disrupted\t103's packets\tdrops\t")
	for i, name := range rep.lanes {
		r, base := rep.failed[i], rep.steady[i]
		fmt.Fprintf(t, "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%d\t%d\t%d\t%s\t\n", name, r.Reliability, base.Reliability,
			r.Affinity, base.Affinity, r.Moved, r.Disrupted, r.PerBackend[victim.String()], drops(r))
	}
	t.flush()
	fmt.Fprintln(w, "\n(steady): the same scenario with 103 up throughout. Flows moved: their backend went down;\nflows disrupted: moved by the change although their backend stayed up.")
}

// table is a tabwriter whose lines lose their trailing blanks.
type table struct {
	*tabwriter.Writer
	buf strings.Builder
	w   io.Writer
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.Writer = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	return t
}

func (t *table) flush() {
	t.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(t.buf.String(), "\n"), "\n") {
		fmt.Fprintln(t.w, strings.TrimRight(line, " "))
	}
}

func count(r *balancer.Ring, id balancer.BackendID) int {
	n := 0
	for _, s := range r.Slots {
		if s == uint32(id) {
			n++
		}
	}
	return n
}

func shares(r *balancer.Ring, bs []balancer.Backend) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("%.2f%%", 100*float64(count(r, b.ID))/float64(len(r.Slots)))
	}
	return strings.Join(parts, "\t")
}

func moved(a, b *balancer.Ring) string {
	n := 0
	for i := range a.Slots {
		if a.Slots[i] != b.Slots[i] {
			n++
		}
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(len(a.Slots)))
}

// drops prints the drops by reason, "0" when there are none.
func drops(r sim.Result) string {
	var parts []string
	for _, reason := range slices.Sorted(maps.Keys(r.Drops)) {
		if n := r.Drops[reason]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", reason, n))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}
