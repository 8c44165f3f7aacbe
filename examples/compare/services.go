package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

// servicesScenario is the -services scenario at fragmentation rate f: one
// VIP (sim.DefaultVIP, or sim.DefaultVIP6 with -ipv6) with two UDP
// services, 443 and 8443, whose pools overlap: the first two thirds of the
// backends (rounded up) serve 443, the last two thirds 8443. Each service
// has half the flows from a fifth as many client hosts, the same hosts for
// both, and half the default rate, so that the two together send what the
// default scenario sends.
func servicesScenario(o options, f float64) sim.Scenario {
	vip, bs := sim.DefaultVIP, sim.Backends(o.backends)
	if o.ipv6 {
		vip, bs = sim.DefaultVIP6, sim.Backends6(o.backends)
	}
	n := (2*o.backends + 2) / 3
	flows := max(1, o.flows/2)
	t := sim.Traffic{
		Flows: flows, Clients: max(1, flows/5), Rate: sim.DefaultRate / 2,
		FragmentRate: f, Reorder: o.reorder,
	}
	return sim.Scenario{
		Seed:     o.seed,
		Duration: o.duration,
		Services: []sim.ServiceTraffic{
			{Service: balancer.Service{Key: balancer.ServiceKey{VIP: vip, Port: 443, Proto: balancer.ProtoUDP}, Backends: slices.Clone(bs[:n])}, Traffic: t},
			{Service: balancer.Service{Key: balancer.ServiceKey{VIP: vip, Port: 8443, Proto: balancer.ProtoUDP}, Backends: slices.Clone(bs[o.backends-n:])}, Traffic: t},
		},
	}
}

// configure hands a fresh balancer of l the first set sc gives (its
// services, or its backends): the error, if any, says why l cannot run sc.
func configure(l lane, sc sim.Scenario) error {
	lb, err := l.new()
	if err != nil {
		return err
	}
	if len(sc.Services) == 0 {
		return lb.SetBackends(sc.Backends)
	}
	ss, ok := lb.(balancer.ServiceSetter)
	if !ok {
		return fmt.Errorf("%s does not implement balancer.ServiceSetter", l.name)
	}
	set := make([]balancer.Service, len(sc.Services))
	for i, s := range sc.Services {
		set[i] = s.Service
	}
	return ss.SetServices(set)
}

// printServices prints the -services table: one line per rate, balancer
// and service; then the balancers left out and, for each balancer that
// ran, what became of each service's datagrams and pool.
func printServices(w io.Writer, rows []Row, o options, out []string) {
	sc := servicesScenario(o, 0)
	fmt.Fprint(w, wrap(fmt.Sprintf("one VIP, 2 UDP services: %v on backends %s, %v on %s; %d flows, %v simulated per run, %.0f%% reordered, seed %d (%d runs)",
		sc.Services[0].Key, names(sc.Services[0].Backends), sc.Services[1].Key, names(sc.Services[1].Backends),
		o.flows, o.duration, 100*o.reorder, o.seed, len(rows)), 80))
	fmt.Fprintln(w)
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "frag\tbalancer\tservice\treliability\tfrag accuracy\taffinity\tavg cost (STU)\tdrops\tpackets\t")
	for i, r := range rows {
		if i > 0 && r.FragmentRate != rows[i-1].FragmentRate {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t")
		}
		for _, s := range sc.Services {
			sr := r.Result.Services[s.Key.String()]
			fa := "-"
			if sr.Fragments > 0 {
				fa = fmt.Sprintf("%.4f", sr.FragmentAccuracy)
			}
			fmt.Fprintf(tw, "%.0f%%\t%s\t%v\t%.4f\t%s\t%.4f\t%.1f\t%d\t%d\t\n",
				100*r.FragmentRate, r.Balancer, s.Key, sr.Reliability, fa, sr.Affinity, sr.AvgCost, total(sr.Drops), sr.Packets)
		}
	}
	tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	fmt.Fprintln(w)
	for _, s := range out {
		fmt.Fprint(w, wrap(s, 80))
	}
	for _, s := range servicesVerdict(rows, sc) {
		fmt.Fprint(w, wrap(s, 80))
	}
}

// servicesVerdict returns a sentence per balancer: whether every packet of
// each service stayed in its own pool, and whether every service's
// datagrams arrived whole, else the worst service.
func servicesVerdict(rows []Row, sc sim.Scenario) []string {
	var order []string
	for _, r := range rows {
		if !slices.Contains(order, r.Balancer) {
			order = append(order, r.Balancer)
		}
	}
	var out []string
	for _, name := range order {
		var worst struct {
			r    Row
			key  balancer.ServiceKey
			rel  float64
			seen bool
		}
		leaks := 0
		for _, r := range rows {
			if r.Balancer != name {
				continue
			}
			for _, s := range sc.Services {
				sr := r.Result.Services[s.Key.String()]
				for b, n := range sr.PerBackend {
					if n > 0 && !slices.ContainsFunc(s.Backends, func(x balancer.Backend) bool { return x.RingName() == b }) {
						leaks++
					}
				}
				if sr.Fragments > 0 && (!worst.seen || sr.Reliability < worst.rel) {
					worst.r, worst.key, worst.rel, worst.seen = r, s.Key, sr.Reliability, true
				}
			}
		}
		s := name + ": every packet stayed in its service's pool"
		if leaks > 0 {
			s = fmt.Sprintf("%s: packets of a service reached a backend outside its pool (%d times)", name, leaks)
		}
		switch {
		case !worst.seen:
		case worst.rel >= whole:
			s += fmt.Sprintf(", and both services kept every fragmented datagram whole (reliability at least %.3f)", whole)
		default:
			sr := worst.r.Result.Services[worst.key.String()]
			s += fmt.Sprintf("; it loses fragmented datagrams: %v reliability %.4f at %.0f%% fragmentation", worst.key, worst.rel, 100*worst.r.FragmentRate)
			if d := total(sr.Drops); d > 0 {
				s += fmt.Sprintf(" (%d dropped, most for %q)", d, topReason(sr.Drops))
			}
		}
		out = append(out, s+".")
	}
	return out
}

// names lists backends as "101-104" when their names are consecutive
// numbers, else joined by commas.
func names(bs []balancer.Backend) string {
	var ns []string
	for _, b := range bs {
		ns = append(ns, b.RingName())
	}
	first, last := bs[0].ID, bs[len(bs)-1].ID
	if len(bs) > 1 && int(last-first) == len(bs)-1 && ns[0] == first.String() && ns[len(ns)-1] == last.String() {
		return ns[0] + "-" + ns[len(ns)-1]
	}
	return strings.Join(ns, ",")
}

// total is the drops of every reason.
func total(drops map[string]uint64) uint64 {
	var n uint64
	for _, v := range drops {
		n += v
	}
	return n
}
