package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread formats the median of xs and, with more than one, their range.
func spread(xs []float64, prec int) string {
	if len(xs) == 0 {
		return "—"
	}
	s := fmt.Sprintf("%.*f", prec, median(xs))
	if len(xs) > 1 {
		s += fmt.Sprintf(" (%.*f–%.*f)", prec, slices.Min(xs), prec, slices.Max(xs))
	}
	return s
}

func ns(d time.Duration) float64 { return float64(d.Nanoseconds()) }

// runFigures are one run's figures of one program on one path: the
// medians over the rounds of the gross time, the wrapper's, and their
// difference, and the quietest round's difference.
type runFigures struct {
	gross, base, net, netMin float64
}

func figures(t *timing) runFigures {
	n := t.net()
	return runFigures{ns(median(t.gross)), ns(median(t.base)), ns(median(n)), ns(slices.Min(n))}
}

// writeSummary writes the side-by-side table: per path, each program's
// net ns per packet (the median over runs of each run's median over its
// rounds, and the range over runs), the Titan/Katran ratio taken within
// each run, and the wrapper's own time.
func writeSummary(out io.Writer, c config, ps []path, runs []*runResult) {
	lo, hi := 1e9, 0.0
	for _, r := range runs {
		lo, hi = min(lo, r.load[0]), max(hi, r.load[1])
	}
	fmt.Fprintf(out, "%d runs of %d rounds, %d iterations per call, on CPU %d; load average %.2f–%.2f\n\n",
		len(runs), c.rounds, c.repeat, c.cpu, lo, hi)
	fmt.Fprintln(out, "net ns/packet (wrapper subtracted): median over runs (range); each run's figure is the median of its rounds")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| path | Katran | Titan | Titan / Katran | Titan with a VIP list | Titan-VIP / Katran |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	col := func(p path, prog string) (net, ratio []float64) {
		for _, r := range runs {
			t := r.times[p.name][prog]
			k := r.times[p.name]["katran"]
			if t == nil || len(t.gross) == 0 {
				continue
			}
			f := figures(t)
			net = append(net, f.net)
			if k != nil && prog != "katran" {
				if kf := figures(k); kf.net > 0 {
					ratio = append(ratio, f.net/kf.net)
				}
			}
		}
		return net, ratio
	}
	for _, p := range ps {
		kn, _ := col(p, "katran")
		tn, tr := col(p, "titan")
		vn, vr := col(p, "titan-vip")
		kcell := spread(kn, 0)
		if strings.Contains(p.name, "fragment") {
			// Katran drops fragments: no ratio of unlike work.
			kcell, tr, vr = kcell+" (dropped)", nil, nil
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s |\n", p.name, kcell, spread(tn, 0), spread(tr, 2), spread(vn, 0), spread(vr, 2))
	}
	fmt.Fprintln(out)
	fmt.Fprint(out, "wrapper alone, ns:")
	for _, prog := range []string{"katran", "titan"} {
		var b []float64
		for _, r := range runs {
			for _, p := range ps {
				if t := r.times[p.name][prog]; t != nil && len(t.base) > 0 {
					b = append(b, figures(t).base)
				}
			}
		}
		fmt.Fprintf(out, " %s %s;", prog, spread(b, 0))
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "quietest round, net ns (lowest over the runs):")
	for _, p := range ps {
		var parts []string
		for _, prog := range []string{"katran", "titan", "titan-vip"} {
			var mins []float64
			for _, r := range runs {
				if t := r.times[p.name][prog]; t != nil && len(t.gross) > 0 {
					mins = append(mins, figures(t).netMin)
				}
			}
			if len(mins) > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f", prog, slices.Min(mins)))
			}
		}
		fmt.Fprintf(out, "  %s: %s\n", p.name, strings.Join(parts, ", "))
	}
}

// writeScaling writes the new-flow figures with one CPU busy and all at
// once.
func writeScaling(out io.Writer, c config, res map[string]*scaling, progs []string, cpus []int) {
	fmt.Fprintf(out, "new flows (a new source address every packet, per CPU), %d rounds of %d iterations per call and CPU\n\n",
		c.scaleRounds, c.repeat)
	fmt.Fprintln(out, "| program | one CPU alone, net ns/pkt | all CPUs at once, net ns/pkt per CPU | per-CPU rate, all at once / alone |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for _, prog := range progs {
		s := res[prog]
		var alone, both, ratio []float64
		for _, cpu := range cpus {
			a, b := s.alone[cpu], s.both[cpu]
			if len(a.gross) == 0 || len(b.gross) == 0 {
				continue
			}
			an, bn := ns(median(a.net())), ns(median(b.net()))
			alone, both = append(alone, an), append(both, bn)
			if bn > 0 {
				ratio = append(ratio, an/bn)
			}
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s |\n", prog, perCPU(alone, cpus, 0), perCPU(both, cpus, 0), perCPU(ratio, cpus, 2))
	}
}

// perCPU formats one value per CPU ("CPU0 90, CPU1 95").
func perCPU(xs []float64, cpus []int, prec int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("CPU%d %.*f", cpus[i], prec, x)
	}
	return strings.Join(parts, ", ")
}

// writeRun writes one run's figures per path and program.
func writeRun(out io.Writer, ps []path, r *runResult) {
	fmt.Fprintf(out, "%-20s %-10s %8s %8s %8s %8s\n", "path", "program", "gross", "wrapper", "net", "net_min")
	for _, p := range ps {
		for _, prog := range r.targets {
			t := r.times[p.name][prog]
			if t == nil || len(t.gross) == 0 {
				continue
			}
			f := figures(t)
			fmt.Fprintf(out, "%-20s %-10s %8.0f %8.0f %8.0f %8.0f\n", p.name, prog, f.gross, f.base, f.net, f.netMin)
		}
	}
}
