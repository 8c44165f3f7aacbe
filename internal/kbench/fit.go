package kbench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/titanlb/titanlb/cost"
)

// fitFloor is the net time below which a path's error counts as absolute
// rather than relative: the wrapper subtraction does not resolve less.
const fitFloor = 10 * time.Nanosecond

// FittedOps returns the operations [FitModel] prices from measurements:
// the ones Titan's and Katran's programs perform.
func FittedOps() []cost.Op {
	return []cost.Op{cost.OpHash, cost.OpArrayRead, cost.OpMapRead, cost.OpLRURead,
		cost.OpLRUInsert, cost.OpStore, cost.OpClock, cost.OpEncap, cost.OpRingRead}
}

// FitModel returns the model whose prices of [FittedOps] minimise
// Σ ((predicted − Net) / max(Net, 10 ns))² over the fitted paths of ms
// ([Path.Fitted]), every price non-negative (an exact search over which
// prices are 0; an operation no path performs is 0), in STU of
// [CalibratedNsPerSTU]. The operations neither program performs keep
// cost.Default()'s ratios: TailCall a map read, Rewrite half of one,
// MapWrite (a hash map's update) an LRU insert. Measurements without
// operations are ignored.
func FitModel(ms []Measurement) cost.Model { return FitRatios(ms, nil) }

// Ratio is the measured ratio of two paths' net times (of two programs
// on one path, say), which [FitRatios] fits beside the paths.
type Ratio struct {
	Num, Den Measurement
}

// FitRatios is [FitModel] with each ratio of rs a term of the fit too:
// the relative error of predicted Num − (measured ratio) × predicted Den,
// against Num's measured time, which is linear in the prices. A fit of
// paths alone spreads its error over them and may tilt a ratio of two
// programs by more than either path's error; these terms hold the ratios.
func FitRatios(ms []Measurement, rs []Ratio) cost.Model {
	fitted := FittedOps()
	var rows [][]float64
	var rhs []float64
	for _, r := range rs {
		if r.Num.Net <= 0 || r.Den.Net <= 0 {
			continue
		}
		k := float64(r.Num.Net) / float64(r.Den.Net)
		w := 1 / float64(max(r.Num.Net, fitFloor))
		row := make([]float64, len(fitted))
		for j, op := range fitted {
			row[j] = (float64(r.Num.Path.Ops[op]) - k*float64(r.Den.Path.Ops[op])) * w
		}
		rows = append(rows, row)
		rhs = append(rhs, 0)
	}
	for _, m := range ms {
		if !m.Path.Fitted() {
			continue
		}
		w := 1 / float64(max(m.Net, fitFloor))
		row := make([]float64, len(fitted))
		any := false
		for j, op := range fitted {
			row[j] = float64(m.Path.Ops[op]) * w
			any = any || row[j] != 0
		}
		if any {
			rows = append(rows, row)
			rhs = append(rhs, float64(max(m.Net, 0))*w)
		}
	}
	price := nnls(rows, rhs, len(fitted))
	stu := func(ns float64) cost.STU { return cost.STU(math.Round(ns / CalibratedNsPerSTU)) }
	m := cost.Model{NsPerSTU: CalibratedNsPerSTU}
	for j, op := range fitted {
		m.SetCost(op, stu(price[j]))
	}
	m.TailCall, m.Rewrite, m.MapWrite = m.MapRead, stu(price[2]/2), m.LRUInsert
	return m
}

// nnls solves min ‖A x − b‖², x ≥ 0, for n columns (a few) by trying every
// set of columns held at 0 and keeping the best non-negative
// least-squares solution of the rest.
func nnls(a [][]float64, b []float64, n int) []float64 {
	best := make([]float64, n)
	bestRes := math.Inf(1)
	for mask := 0; mask < 1<<n; mask++ {
		var cols []int
		for j := range n {
			if mask&(1<<j) != 0 {
				cols = append(cols, j)
			}
		}
		x, ok := lstsq(a, b, cols)
		if !ok {
			continue
		}
		full := make([]float64, n)
		neg := false
		for k, j := range cols {
			full[j] = x[k]
			neg = neg || x[k] < 0
		}
		if neg {
			continue
		}
		res := 0.0
		for i, row := range a {
			e := -b[i]
			for j := range n {
				e += row[j] * full[j]
			}
			res += e * e
		}
		if res < bestRes-1e-12 {
			best, bestRes = full, res
		}
	}
	return best
}

// lstsq solves the normal equations of A restricted to cols by Gaussian
// elimination with partial pivoting; ok is false when they are singular.
func lstsq(a [][]float64, b []float64, cols []int) (x []float64, ok bool) {
	k := len(cols)
	m := make([][]float64, k)
	for p := range k {
		m[p] = make([]float64, k+1)
		for i, row := range a {
			for q := range k {
				m[p][q] += row[cols[p]] * row[cols[q]]
			}
			m[p][k] += row[cols[p]] * b[i]
		}
	}
	for p := range k {
		piv := p
		for r := p + 1; r < k; r++ {
			if math.Abs(m[r][p]) > math.Abs(m[piv][p]) {
				piv = r
			}
		}
		if math.Abs(m[piv][p]) < 1e-9 {
			return nil, false
		}
		m[p], m[piv] = m[piv], m[p]
		for r := range k {
			if r == p {
				continue
			}
			f := m[r][p] / m[p][p]
			for q := p; q <= k; q++ {
				m[r][q] -= f * m[p][q]
			}
		}
	}
	x = make([]float64, k)
	for p := range k {
		x[p] = m[p][k] / m[p][p]
	}
	return x, true
}

// Sample is a set of measurements and ratios from another source than
// [Calibrate] (the side-by-side harness, internal/cmd/katranbench, which
// measures Katran's program beside Titan's), as JSON: what the pooled fit
// of cost.Calibrated() takes besides Calibrate's paths.
type Sample struct {
	Source       string        `json:"source"` // the command that measured it
	Measurements []Measurement `json:"measurements"`
	Ratios       []Ratio       `json:"ratios"`
}

// ReadSample reads a [Sample] written as JSON; the error names the file
// and, for a measurement without operations, the measurement.
func ReadSample(file string) (Sample, error) {
	var s Sample
	b, err := os.ReadFile(file)
	if err != nil {
		return s, fmt.Errorf("kbench: sample: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("kbench: sample %s: %w", file, err)
	}
	for i, m := range s.Measurements {
		if m.Path.STU(cost.Default()) == 0 {
			return s, fmt.Errorf("kbench: sample %s: measurements[%d] (%q): no operations", file, i, m.Path.Name)
		}
	}
	return s, nil
}
