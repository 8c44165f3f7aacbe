package kbench

import (
	"math"
	"time"

	"github.com/titanlb/titanlb/cost"
)

// fitFloor is the net time below which a path's error counts as absolute
// rather than relative: the wrapper subtraction does not resolve less.
const fitFloor = 10 * time.Nanosecond

// FitModel returns the model whose prices (hash, map read, map write,
// encap) minimise Σ ((predicted − Net) / max(Net, 10 ns))² over the
// fitted paths of ms ([Path.Fitted]),
// every price non-negative (an exact search over which prices are 0), in
// STU of [CalibratedNsPerSTU]. TailCall is priced as a map read and
// Rewrite as half of one, cost.Default()'s ratios: the program performs
// neither. Measurements without operations are ignored.
func FitModel(ms []Measurement) cost.Model {
	fitted := []cost.Op{cost.OpHash, cost.OpMapRead, cost.OpMapWrite, cost.OpEncap}
	var rows [][]float64
	var rhs []float64
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
	return cost.Model{
		Hash: stu(price[0]), MapRead: stu(price[1]), MapWrite: stu(price[2]), Encap: stu(price[3]),
		TailCall: stu(price[1]), Rewrite: stu(price[1] / 2),
		NsPerSTU: CalibratedNsPerSTU,
	}
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
