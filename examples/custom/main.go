// Command custom shows how to plug your own balancer into the simulator:
// [Affinity] (affinity.go, under 80 lines) implements [balancer.Balancer]
// with a stateless client-affinity strategy, and runs beside Titan through
// [sim.Run] on the same scenario. It prints both results: what a
// fragment-safe design without state gains in cost, and what it loses in
// balance when few clients open many flows.
//
//	go run ./examples/custom
//	go run ./examples/custom -clients 5 -frag 50 -reorder 20
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run returns 0 on success, 1 when a simulation fails, 2 for bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("custom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: custom [flags]\n\nRuns a custom client-affinity balancer beside Titan on the same simulated traffic.\n\nflags:\n")
		fs.PrintDefaults()
	}
	flows := fs.Int("flows", 2000, "flows in the scenario")
	clients := fs.Int("clients", 20, "client hosts the flows come from (0: one per flow)")
	frag := fs.Float64("frag", 50, "`percent` of datagrams larger than the MTU (fragmented)")
	reorder := fs.Float64("reorder", 20, "`percent` of fragmented datagrams reordered")
	seed := fs.Int64("seed", 1, "seed of the scenario")
	dur := fs.Duration("duration", 300*time.Millisecond, "simulated time")
	asJSON := fs.Bool("json", false, "print both results as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "custom: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case *frag < 0 || *frag > 100:
		return bad("-frag %v: must be a percentage between 0 and 100", *frag)
	case *reorder < 0 || *reorder > 100:
		return bad("-reorder %v: must be a percentage between 0 and 100", *reorder)
	case *dur <= 0:
		return bad("-duration %v: must be positive", *dur)
	}

	sc := sim.Scenario{Seed: *seed, Duration: *dur, Backends: sim.Backends(3)}
	sc.Traffic.Flows, sc.Traffic.Clients = *flows, *clients
	sc.Traffic.FragmentRate, sc.Traffic.Reorder = *frag/100, *reorder/100
	if err := sc.Validate(); err != nil {
		return bad("%v", err) // names the field: flows, clients
	}
	lbs := []func() (balancer.Balancer, error){
		func() (balancer.Balancer, error) { return titan.New(titan.Config{}) },
		func() (balancer.Balancer, error) { return &Affinity{}, nil },
	}
	var results []sim.Result
	for _, newLB := range lbs {
		r, err := sim.Run(sc, newLB)
		if err != nil {
			fmt.Fprintf(stderr, "custom: %v\n", err)
			return 1
		}
		results = append(results, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			fmt.Fprintf(stderr, "custom: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "%d flows from %d clients, %.0f%% fragmented, %.0f%% of those reordered, %v simulated, seed %d\n\n",
		sc.Traffic.Flows, *clients, *frag, *reorder, *dur, *seed)
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "balancer\treliability\tfrag accuracy\taffinity\tavg cost (STU)\tload 101/102/103\timbalance\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.1f\t%s\t%.2f\t\n", r.Balancer, r.Reliability, r.FragmentAccuracy, r.Affinity, r.AvgCost, load(r, sc.Backends), r.Imbalance)
	}
	tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		fmt.Fprintln(stdout, strings.TrimRight(line, " "))
	}
	fmt.Fprintln(stdout, "\nimbalance: the busiest backend's packets / the mean (1.00 is perfectly even)")
	return 0
}

// load returns the backends' shares of the delivered packets as
// "33/33/34" (percent, in the order of bs).
func load(r sim.Result, bs []balancer.Backend) string {
	var total uint64
	for _, b := range bs {
		total += r.PerBackend[b.RingName()]
	}
	if total == 0 {
		return "-"
	}
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("%.0f", 100*float64(r.PerBackend[b.RingName()])/float64(total))
	}
	return strings.Join(parts, "/")
}
