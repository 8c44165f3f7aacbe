// Command compare runs Titan, Katran and Cilium on the same scenario across
// fragmentation rates and prints what each one delivers and what it costs:
// Reliability (datagrams reassembled whole at one backend / sent),
// FragmentAccuracy, the average cost per packet in STU, the p99 latency and
// the drops, then a verdict of a few sentences computed from those rows.
// Every figure is read from a [sim.Result]; the scenarios run in parallel
// with [sim.Sweep]. `compare -h` explains each column.
//
//	go run ./examples/compare                       # 0, 25, 50, 75, 100% fragmentation
//	go run ./examples/compare -frag 100 -reorder 20 # one rate, 20% of fragmented datagrams reordered
//	go run ./examples/compare -naive                # adds the naive stateless Katran of the original design
//	go run ./examples/compare -json                 # the rows with their full results
//	go run ./examples/compare -svg compare.svg      # reliability and cost against fragmentation
//	go run ./examples/compare -services             # one VIP with two services of different pools, per service
//	go run ./examples/compare -ipv6                 # the same over IPv6 (VIP, clients and backends)
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/sim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the command's flags, parsed.
type options struct {
	flows    int
	backends int
	frags    []float64 // shares, 0..1
	reorder  float64   // share, 0..1
	seed     int64
	duration time.Duration
	naive    bool
	json     bool
	svg      string
	services bool // one VIP with two services (servicesScenario)
	ipv6     bool // IPv6 VIP, clients and backends
	ns       bool // a column of the mean cost in cost.Calibrated()'s nanoseconds
}

// Row is one balancer at one fragmentation rate.
type Row struct {
	FragmentRate float64    `json:"fragment_rate"`
	Balancer     string     `json:"balancer"`
	Result       sim.Result `json:"result"`
}

// lane is a balancer under comparison.
type lane struct {
	name string
	new  func() (balancer.Balancer, error)
}

// lanes returns the balancers under comparison: Titan first (the verdict
// measures the others against it), and with o.naive the naive Katran last.
func lanes(o options) []lane {
	ls := []lane{
		{"titan", func() (balancer.Balancer, error) { return titan.New(titan.Config{}) }},
		{"katran", func() (balancer.Balancer, error) { return katran.New(katran.Config{}) }},
		{"cilium", func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) }},
	}
	if o.naive {
		ls = append(ls, lane{"katran-naive", func() (balancer.Balancer, error) { return katran.New(katran.Config{Naive: true}) }})
	}
	return ls
}

// run is the command: it returns 0 on success, 1 when the simulation fails
// or a file cannot be written, 2 for bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rows, out, err := compare(o)
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 1
	}
	if o.svg != "" {
		// A full disk or a crash leaves the old plot or the new one, never
		// half of one.
		if err := atomicfile.WriteFile(o.svg, []byte(plot(rows, o)), 0o644); err != nil {
			fmt.Fprintf(stderr, "compare: -svg: %v\n", err)
			return 1
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			fmt.Fprintf(stderr, "compare: %v\n", err)
			return 1
		}
		return 0
	}
	if o.services {
		printServices(stdout, rows, o, out)
		return 0
	}
	printTable(stdout, rows, o)
	fmt.Fprintln(stdout)
	for _, s := range out {
		fmt.Fprint(stdout, wrap(s, 80))
	}
	for _, s := range verdict(rows) {
		fmt.Fprint(stdout, wrap(s, 80))
	}
	if o.svg != "" {
		fmt.Fprintf(stdout, "plot written to %s\n", o.svg)
	}
	return 0
}

func parse(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage())
		fs.PrintDefaults()
	}
	fs.IntVar(&o.flows, "flows", 10000, "flows in the scenario")
	fs.IntVar(&o.backends, "backends", 3, "backends, named 101, 102, ...")
	frag := fs.String("frag", "0,25,50,75,100", "fragmentation `rates` in percent: one rate or a comma-separated list")
	reorder := fs.Float64("reorder", 0, "`percent` of fragmented datagrams whose fragments arrive out of order")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the scenario")
	fs.DurationVar(&o.duration, "duration", time.Second, "simulated time per run")
	fs.BoolVar(&o.naive, "naive", false, "add katran-naive: Katran with fragments balanced like whole packets (katran.Config{Naive: true})")
	fs.BoolVar(&o.json, "json", false, "print the rows with their full results as JSON")
	fs.StringVar(&o.svg, "svg", "", "write a plot of reliability and cost against fragmentation to `file`")
	fs.BoolVar(&o.services, "services", false, "one VIP with two UDP services whose pools overlap: a row per service (sim.Scenario.Services)")
	fs.BoolVar(&o.ipv6, "ipv6", false, "IPv6 VIP, clients and backends (sim.Traffic.IPv6Share, sim.Backends6)")
	fs.BoolVar(&o.ns, "ns", false, "add the column "+nsColumn.name+": each row's operations priced by cost.Calibrated()")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	bad := func(format string, a ...any) (options, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintf(stderr, "compare: %v\n", err)
		fs.Usage()
		return o, err
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if o.flows < 1 {
		return bad("-flows %d: must be at least 1", o.flows)
	}
	if o.backends < 1 || o.backends > 1000 {
		return bad("-backends %d: must be between 1 and 1000", o.backends)
	}
	if o.duration <= 0 {
		return bad("-duration %v: must be positive", o.duration)
	}
	if o.services && o.backends < 2 {
		return bad("-backends %d: -services needs at least 2 (two pools)", o.backends)
	}
	if o.services && o.svg != "" {
		return bad("-svg: plots the default comparison, not -services")
	}
	if *reorder < 0 || *reorder > 100 {
		return bad("-reorder %v: must be a percentage between 0 and 100", *reorder)
	}
	o.reorder = *reorder / 100
	fr, err := parseRates(*frag)
	if err != nil {
		return bad("-frag %q: %v", *frag, err)
	}
	o.frags = fr
	return o, nil
}

// parseRates reads "0,25,50" (percent) as shares, in the order given.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSuffix(strings.TrimSpace(f), "%")
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 || v > 100 {
			return nil, fmt.Errorf("rate %d %q: want a percentage between 0 and 100", i+1, f)
		}
		if slices.Contains(out, v/100) {
			return nil, fmt.Errorf("rate %d %q: listed twice", i+1, f)
		}
		out = append(out, v/100)
	}
	return out, nil
}

// scenario is the one scenario every balancer runs, at fragmentation rate
// f: the default one, IPv6 with -ipv6, or with -services
// [servicesScenario].
func scenario(o options, f float64) sim.Scenario {
	if o.services {
		return servicesScenario(o, f)
	}
	sc := sim.Scenario{
		Seed:     o.seed,
		Duration: o.duration,
		Backends: sim.Backends(o.backends),
	}
	sc.Traffic.Flows = o.flows
	sc.Traffic.FragmentRate = f
	sc.Traffic.Reorder = o.reorder
	if o.ipv6 {
		sc.Backends = sim.Backends6(o.backends)
		sc.Traffic.IPv6Share = 1
	}
	return sc
}

// compare runs every lane at every rate and returns the rows, rate-major in
// the order of o.frags, then in the order of lanes, and a note for each
// lane left out because it cannot run the scenario (no services, no
// IPv6).
func compare(o options) ([]Row, []string, error) {
	var ls []lane
	var out []string
	for _, l := range lanes(o) {
		if err := configure(l, scenario(o, 0)); err != nil {
			out = append(out, fmt.Sprintf("%s left out: %s.", l.name, strings.TrimPrefix(err.Error(), l.name+": ")))
			continue
		}
		ls = append(ls, l)
	}
	var jobs []sim.Job
	for _, f := range o.frags {
		for _, l := range ls {
			jobs = append(jobs, sim.Job{Scenario: scenario(o, f), NewLB: l.new})
		}
	}
	results, err := sim.Sweep(jobs)
	if err != nil {
		return nil, nil, err
	}
	rows := make([]Row, len(results))
	for i, r := range results {
		rows[i] = Row{FragmentRate: o.frags[i/len(ls)], Balancer: ls[i%len(ls)].name, Result: r}
	}
	return rows, out, nil
}

func drops(r sim.Result) uint64 { return total(r.Drops) }

// printTable prints the scenario and one line per row. The output is the
// simulation's alone (no wall time), so the same flags print the same
// bytes.
func printTable(w io.Writer, rows []Row, o options) {
	family := ""
	if o.ipv6 {
		family = "IPv6 "
	}
	fmt.Fprintf(w, "%d %sbackends, %d flows, %v simulated per run, %.0f%% reordered, seed %d (%d runs)\n\n",
		o.backends, family, o.flows, o.duration, 100*o.reorder, o.seed, len(rows))
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range columns {
		fmt.Fprintf(tw, "%s\t", c.name)
		if o.ns && c.name == "avg cost (STU)" {
			fmt.Fprintf(tw, "%s\t", nsColumn.name)
		}
	}
	fmt.Fprintln(tw)
	for i, r := range rows {
		if i > 0 && r.FragmentRate != rows[i-1].FragmentRate {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t")
		}
		fa := "-"
		if r.Result.Fragments > 0 {
			fa = fmt.Sprintf("%.4f", r.Result.FragmentAccuracy)
		}
		stu := fmt.Sprintf("%.1f", r.Result.AvgCost)
		if o.ns {
			stu += fmt.Sprintf("\t%.1f", calibratedNs(r.Result))
		}
		fmt.Fprintf(tw, "%.0f%%\t%s\t%.4f\t%s\t%s\t%v\t%d\t%d\t\n",
			100*r.FragmentRate, r.Balancer, r.Result.Reliability, fa, stu,
			r.Result.LatencyP99, drops(r.Result), r.Result.Packets)
	}
	tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// nsColumn is the column -ns adds after the STU.
var nsColumn = struct{ name, help string }{"calibrated ns", `the same operations priced by cost.Calibrated(): the
kernel nanoseconds per packet they predict, each kind of
read and write at its measured price (docs/calibration.md)`}

// calibratedNs returns r's mean cost per processed packet in
// cost.Calibrated()'s nanoseconds, from its operation counts.
func calibratedNs(r sim.Result) float64 {
	if r.Processed == 0 {
		return 0
	}
	m := cost.Calibrated()
	var stu float64
	for op := range cost.NumOps {
		stu += float64(r.OpCounts[op.String()]) * float64(m.Cost(op))
	}
	return m.Nanoseconds(stu / float64(r.Processed))
}

// columns are the table's columns with what each means: the table's
// header and the explanations of -h come from this one list.
var columns = []struct{ name, help string }{
	{"frag", "share of datagrams larger than the MTU, sent as IPv4 fragments"},
	{"balancer", `titan: stateful, tracks fragments by IP ID;
katran: stateless Maglev, drops every fragment, as Katran does;
cilium: tail-call pipeline, tracks fragments, drops those that
arrive before their first fragment;
katran-naive (-naive): katran.Config{Naive: true}, fragments
balanced like whole packets. It is the naive stateless balancer
of the original design, whose "Katran about 50%" is its frag
accuracy: the first fragment lands right, a later one 1 time in N.`},
	{"reliability", "datagrams reassembled whole at one backend / datagrams sent"},
	{"frag accuracy", `fragments that reached their datagram's first-fragment
backend / fragments sent ("-": no fragments)`},
	{"avg cost (STU)", `Simulation Time Units per packet processed (hash 10, map
read 20, map write 60, encapsulation 40) for each operation
the design's source performs. Katran costs about twice Titan
even at 0%: the model charges Katran's real lookups, its
statistics counters included. An established flow costs 10
map reads and the encapsulation in Katran's balancer.bpf.c
(240 STU), 1 hash, 3 reads and the encapsulation in Titan
(110 STU); the packages' docs list every packet type. A
balancer that drops looks cheaper: a drop costs little.`},
	{"p99 latency", "99th percentile of queueing plus service time at the LB node"},
	{"drops", `packets lost for any reason: at the balancer, in the node's
queues, in the backends' reassembly (sim.Result.Drops)`},
	{"packets", "packets the clients sent, each fragment counted"},
}

// usage returns the head of -h: what the command does and what each
// column means; the flags follow.
func usage() string {
	var b strings.Builder
	b.WriteString(`usage: compare [flags]

Runs Titan, Katran and Cilium on the same simulated traffic across
fragmentation rates, prints one row per rate and balancer, and ends with a
verdict computed from the rows.

columns:
`)
	for _, c := range columns {
		for i, line := range strings.Split(c.help, "\n") {
			name := ""
			if i == 0 {
				name = c.name
			}
			fmt.Fprintf(&b, "  %-16s%s\n", name, line)
		}
	}
	fmt.Fprintf(&b, "  %-16s%s\n", nsColumn.name, "(-ns) "+strings.ReplaceAll(nsColumn.help, "\n", "\n"+strings.Repeat(" ", 18)))
	b.WriteString(`
with -services, one row per rate, balancer and service; service is the
VIP:port/protocol, affinity the delivered packets that reached their flow's
backend / delivered (sim.ServiceResult), and the other columns are the
service's own. A balancer that does not serve services (or, with -ipv6,
IPv6 backends) is left out, and the output says why.

flags:
`)
	return b.String()
}
