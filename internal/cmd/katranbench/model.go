package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/titanlb/titanlb/balancer"
	katranmodel "github.com/titanlb/titanlb/balancer/katran"
	titanmodel "github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/internal/kbench"
)

// modelOps returns the operations the Go model of prog (katran, titan or
// titan-vip) charges for p's measured packet, in the state the harness
// measures it in: p's packets primed, the frame varied as the wrapper
// varies it (a new source address, a new IP ID), Katran's new-connection
// limiter tripped for the flood path. These are the operations a cost
// model prices to predict the path.
func modelOps(prog string, p path) ([cost.NumOps]uint64, error) {
	var ops [cost.NumOps]uint64
	bs := make([]balancer.Backend, len(backends))
	for i, a := range backends {
		bs[i] = balancer.Backend{ID: balancer.BackendID(titanBackendIDs[i]), Name: a.String(), Addr: a, Weight: 1, Up: true}
	}
	var lb balancer.Balancer
	var err error
	switch prog {
	case "katran":
		lb, err = katranmodel.New(katranmodel.Config{})
	case "titan":
		lb, err = titanmodel.New(titanmodel.Config{})
	case "titan-vip":
		lb, err = titanmodel.New(titanmodel.Config{VIPs: []netip.Addr{vip}})
	default:
		return ops, fmt.Errorf("no model of %q", prog)
	}
	if err != nil {
		return ops, err
	}
	if err := lb.SetBackends(bs); err != nil {
		return ops, err
	}
	env := &balancer.Env{}
	for _, pk := range p.prime {
		lb.Process(env, &pk)
	}
	pk := p.pkt
	if p.flood {
		// is_under_flood: more than MaxConnRate new connections within
		// the second, each from a new source.
		src := netip.AddrFrom4([4]byte{203, 0, 113, 0})
		for range katranmodel.MaxConnRate + 1 {
			src = src.Next()
			q := pk
			q.Src = src
			lb.Process(env, &q)
		}
	}
	switch p.vary {
	case varyFlow, varyFlowPerCPU:
		pk.Src = pk.Src.Next()
	case varyDatagram:
		pk.IPID++
	}
	env.Meter = cost.NewMeter(cost.Default())
	lb.Process(env, &pk)
	for op := range cost.NumOps {
		ops[op] = env.Meter.Count(op)
	}
	return ops, nil
}

// prediction is one program's path: its model's operations, the
// harness's net time (the median over runs of each run's median), and
// what a cost model predicts for the operations.
type prediction struct {
	path, prog string
	ops        [cost.NumOps]uint64
	measured   time.Duration
	predicted  time.Duration
}

// predictions prices every measured path of runs with m. Katran's
// fragment paths (a drop after two statistics reads, a few ns) are
// included: they are what the model says Katran does with a fragment.
func predictions(ps []path, runs []*runResult, m cost.Model) ([]prediction, error) {
	var out []prediction
	for _, p := range ps {
		for _, prog := range []string{"katran", "titan", "titan-vip"} {
			var nets []float64
			for _, r := range runs {
				if t := r.times[p.name][prog]; t != nil && len(t.gross) > 0 {
					nets = append(nets, figures(t).net)
				}
			}
			if len(nets) == 0 {
				continue
			}
			ops, err := modelOps(prog, p)
			if err != nil {
				return nil, err
			}
			var stu cost.STU
			for op, n := range ops {
				stu += cost.STU(n) * m.Cost(cost.Op(op))
			}
			out = append(out, prediction{path: p.name, prog: prog, ops: ops,
				measured: time.Duration(median(nets)), predicted: m.Duration(stu)})
		}
	}
	return out, nil
}

// measurements returns the predictions as kbench measurements, for
// kbench.FitModel.
func measurements(pr []prediction) []kbench.Measurement {
	ms := make([]kbench.Measurement, len(pr))
	for i, p := range pr {
		ms[i] = kbench.Measurement{Path: kbench.Path{Name: p.prog + " " + p.path, Ops: p.ops}, Net: p.measured}
	}
	return ms
}

// ratioTerms returns the ratios of [ratios] as kbench.FitRatios terms.
func ratioTerms(pr []prediction) []kbench.Ratio {
	ms := measurements(pr)
	var out []kbench.Ratio
	for i, k := range pr {
		if k.prog != "katran" || k.ops[cost.OpEncap] == 0 {
			continue
		}
		for j, t := range pr {
			if t.path == k.path && t.prog != "katran" {
				out = append(out, kbench.Ratio{Num: ms[j], Den: ms[i]})
			}
		}
	}
	return out
}

// ratio is Titan's time over Katran's on one path, measured and
// predicted.
type ratio struct {
	path, prog          string
	measured, predicted float64
}

// ratios returns Titan's (and Titan-VIP's) time over Katran's on every
// path both forward (not the fragments, which Katran drops).
func ratios(pr []prediction) []ratio {
	var out []ratio
	for _, k := range pr {
		if k.prog != "katran" || k.ops[cost.OpEncap] == 0 {
			continue
		}
		for _, t := range pr {
			if t.path == k.path && t.prog != "katran" && k.measured > 0 && k.predicted > 0 {
				out = append(out, ratio{path: k.path, prog: t.prog,
					measured: float64(t.measured) / float64(k.measured), predicted: float64(t.predicted) / float64(k.predicted)})
			}
		}
	}
	return out
}

// checkPredictions returns what m's predictions miss: a path off its
// measurement by more than 25% or kbench.Resolution, whichever is
// larger, or a ratio off by more than 10%.
func checkPredictions(pr []prediction) []string {
	var misses []string
	for _, p := range pr {
		off := max(p.predicted-p.measured, p.measured-p.predicted)
		if off > max(kbench.Resolution, time.Duration(0.25*float64(p.measured))) {
			misses = append(misses, fmt.Sprintf("%s %s: predicted %v, measured %v", p.prog, p.path, p.predicted, p.measured))
		}
	}
	for _, r := range ratios(pr) {
		if math.Abs(r.predicted-r.measured) > 0.1*r.measured {
			misses = append(misses, fmt.Sprintf("%s / katran %s: predicted %.2f, measured %.2f", r.prog, r.path, r.predicted, r.measured))
		}
	}
	return misses
}

// writePredictions writes the predictions and ratios table.
func writePredictions(out io.Writer, name string, pr []prediction) {
	opColumns := kbench.FittedOps()
	fmt.Fprintf(out, "predicted by %s against measured (net ns per packet):\n\n", name)
	fmt.Fprint(out, "| program | path |")
	for _, op := range opColumns {
		fmt.Fprintf(out, " %s |", op)
	}
	fmt.Fprintln(out, " measured | predicted | predicted / measured |")
	fmt.Fprintln(out, "|---|---|"+strings.Repeat("---|", len(opColumns)+3))
	for _, p := range pr {
		fmt.Fprintf(out, "| %s | %s |", p.prog, p.path)
		for _, op := range opColumns {
			fmt.Fprintf(out, " %d |", p.ops[op])
		}
		q := "—"
		if p.measured > 0 {
			q = fmt.Sprintf("%.2f", float64(p.predicted)/float64(p.measured))
		}
		fmt.Fprintf(out, " %d | %d | %s |\n", p.measured.Nanoseconds(), p.predicted.Nanoseconds(), q)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| ratio | path | measured | predicted |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for _, r := range ratios(pr) {
		fmt.Fprintf(out, "| %s / katran | %s | %.2f | %.2f |\n", r.prog, r.path, r.measured, r.predicted)
	}
}

// writeCalibration writes cost.Calibrated()'s predictions of runs, what
// it misses, and the model kbench.FitModel fits to these measurements
// with its own predictions.
func writeCalibration(out io.Writer, ps []path, runs []*runResult) error {
	cal := cost.Calibrated()
	pr, err := predictions(ps, runs, cal)
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	writePredictions(out, "cost.Calibrated()", pr)
	misses := checkPredictions(pr)
	fmt.Fprintf(out, "\ncost.Calibrated(): %d misses (a path beyond 25%% or %v, a ratio beyond 10%%)\n", len(misses), kbench.Resolution)
	for _, m := range misses {
		fmt.Fprintln(out, "  "+m)
	}
	fit := kbench.FitRatios(measurements(pr), ratioTerms(pr))
	fmt.Fprintf(out, "\nthe fit of these measurements and their ratios (kbench.FitRatios, STU of %v ns):\n  %+v\n", kbench.CalibratedNsPerSTU, fit)
	fpr, err := predictions(ps, runs, fit)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  its misses: %v\n", checkPredictions(fpr))
	return nil
}

// writeSample writes the runs' measurements, with the operations of each
// program's model, and their ratios, to c.sample as a kbench.Sample.
func writeSample(c config, ps []path, runs []*runResult) error {
	pr, err := predictions(ps, runs, cost.Calibrated())
	if err != nil {
		return err
	}
	s := kbench.Sample{
		Source:       fmt.Sprintf("go run ./internal/cmd/katranbench -katran KATRAN_SRC -runs %d -rounds %d -repeat %d -cpu %d -katran-lru %d", c.runs, c.rounds, c.repeat, c.cpu, c.katranLRU),
		Measurements: measurements(pr),
		Ratios:       ratioTerms(pr),
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.sample, append(b, '\n'), 0o644)
}
