// Command replay runs a packet capture through a balancer model and writes
// the balancer's decisions back as captures for Wireshark: the forwarded
// packets IPIP-encapsulated as the XDP program emits them, and the dropped
// or passed ones in a pcapng file whose interface names are the drop
// reasons.
//
//	go run ./examples/replay                                   # the committed sample trace
//	go run ./examples/replay -in capture.pcapng -balancer cilium -out fwd.pcap -dropped drops.pcapng
package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/internal/cmdflag"
	"github.com/titanlb/titanlb/sim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

var models = map[string]func() (balancer.Balancer, error){
	"titan":  func() (balancer.Balancer, error) { return titan.New(titan.Config{}) },
	"katran": func() (balancer.Balancer, error) { return katran.New(katran.Config{}) },
	"cilium": func() (balancer.Balancer, error) { return cilium.New(cilium.Config{}) },
}

// run returns 0 on success, 1 when reading, simulating or writing fails,
// 2 for bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	fs := cmdflag.New("replay", "usage: replay [-in FILE] [-balancer NAME] [-backends N] [-out FILE] [-dropped FILE]\n", stderr)
	in := fs.String("in", "sim/testdata/trace.pcap", "capture to replay (pcap or pcapng; Ethernet or raw IPv4)")
	model := fs.String("balancer", "titan", "balancer model: titan, katran or cilium")
	backends := fs.Int("backends", 3, "number of backends (IDs 101..., addresses 10.0.0.101...)")
	out := fs.String("out", "", "write forwarded packets (IPIP-encapsulated) to this pcap file")
	dropped := fs.String("dropped", "", "write dropped and passed packets to this pcapng file")
	if status, ok := fs.ParseArgs(args); !ok {
		return status
	}
	newLB, ok := models[*model]
	switch {
	case !ok:
		return fs.Bad("-balancer %q: must be one of %v", *model, slices.Sorted(maps.Keys(models)))
	case *backends < 1 || *backends > 150:
		return fs.Bad("-backends %d: must be between 1 and 150", *backends)
	}

	f, err := os.Open(*in)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	trace, err := sim.ReadTrace(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "replay: %s: %v\n", *in, err)
		return 1
	}
	sc := sim.Scenario{Backends: sim.Backends(*backends)}
	sc.Traffic.Trace = trace
	res, rec, err := sim.RunRecorded(sc, newLB)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d frames through %s\n", *in, len(trace.Packets), res.Balancer)
	fmt.Fprintf(stdout, "  datagrams %d, fragments %d, reliability %.4f, fragment accuracy %.4f, affinity %.4f\n",
		res.Datagrams, res.Fragments, res.Reliability, res.FragmentAccuracy, res.Affinity)
	fmt.Fprintf(stdout, "  avg cost %.1f STU, p99 latency %v\n", res.AvgCost, res.LatencyP99)
	for _, name := range slices.Sorted(maps.Keys(res.PerBackend)) {
		fmt.Fprintf(stdout, "  backend %s: %d packets\n", name, res.PerBackend[name])
	}
	for _, reason := range slices.Sorted(maps.Keys(res.Drops)) {
		fmt.Fprintf(stdout, "  drop %q: %d\n", reason, res.Drops[reason])
	}
	for _, w := range []struct {
		path  string
		write func(io.Writer, sim.Recording) error
	}{{*out, sim.WriteDecisions}, {*dropped, sim.WriteDropped}} {
		if w.path == "" {
			continue
		}
		if err := writeFile(w.path, rec, w.write); err != nil {
			fmt.Fprintf(stderr, "replay: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", w.path)
	}
	return 0
}

// writeFile writes rec to path with write, atomically: a write that fails
// (a full disk) leaves the file as it was.
func writeFile(path string, rec sim.Recording, write func(io.Writer, sim.Recording) error) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if err := write(w, rec); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
}
