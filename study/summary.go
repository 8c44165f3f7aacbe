package study

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Summary is a study's rows grouped by everything but the seed: for each
// group, the mean and 95% confidence interval of every metric over its
// seeds.
type Summary struct {
	// Axes are the parameter names besides the balancer, sorted.
	Axes []string `json:"axes"`
	// Metrics are the names of every metric in the rows, sorted: the
	// numbers of sim.Result's JSON form, nested ones joined by dots and
	// indexed ("Reliability", "Drops.queue full", "CPUUtil[0]").
	Metrics []string `json:"metrics"`
	// Groups are sorted by their axes' values (numerically where both
	// are numbers), then by balancer name.
	Groups []Group `json:"groups"`
	// Partial is true when the rows ended with a partial line (a run was
	// killed while writing it), which was left out.
	Partial bool `json:"partial,omitempty"`
}

// Group is the rows that differ only in their seed.
type Group struct {
	Params Params          `json:"params"`
	Seeds  []int64         `json:"seeds"` // sorted
	Stats  map[string]Stat `json:"stats"` // by metric name
}

// Stat summarizes one metric over a group's seeds. A metric a row lacks
// (a drop reason that never happened) counts as 0 in that row.
type Stat struct {
	Mean float64 `json:"mean"`
	// SD is the sample standard deviation (n-1), 0 for one seed.
	SD float64 `json:"sd"`
	// CI95 is the half-width of the 95% confidence interval of the mean,
	// t(0.975, n-1)·SD/√n (Student's t): the interval is Mean ± CI95.
	// With one seed there is no interval and CI95 is 0.
	CI95 float64 `json:"ci95"`
}

// DefaultMetrics are the metrics [Summary.WriteTable] shows when told
// none.
var DefaultMetrics = []string{"Reliability", "FragmentAccuracy", "Affinity", "AvgCost", "LatencyP99"}

// SummarizeFile summarizes the rows file at path; see [Summarize].
func SummarizeFile(path string) (*Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	defer f.Close()
	return Summarize(f, path)
}

// Summarize reads rows (JSON Lines, as [Execute] writes them; name is the
// input's name in errors) and groups them by their parameters. A row
// whose ID was seen before is skipped; rows of two base scenarios, or of
// one balancer in two configurations (see [Study.Fingerprint]), are an
// error, since their groups would mix. Memory grows
// with the groups and seeds times the metrics, not with the results.
func Summarize(r io.Reader, name string) (*Summary, error) {
	type acc struct {
		params Params
		seeds  []int64
		vals   map[string][]float64 // per metric, aligned with seeds
	}
	groups := map[string]*acc{}
	ids := map[string]struct{}{}
	study := ""                    // the base's fingerprint
	configs := map[string]string{} // balancer → its rows' fingerprint
	axes := map[string]struct{}{}
	metrics := map[string]struct{}{}
	good, err := scanLines(r, name, func(line int, data []byte) error {
		var row struct {
			ID     string          `json:"id"`
			Study  string          `json:"study"`
			Params Params          `json:"params"`
			Seed   int64           `json:"seed"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(data, &row); err != nil || row.ID == "" || row.Params == nil {
			if err == nil {
				err = fmt.Errorf(`missing "id" or "params"`)
			}
			return fmt.Errorf("%s:%d: not a row: %v", name, line, err)
		}
		if _, dup := ids[row.ID]; dup {
			return nil
		}
		ids[row.ID] = struct{}{}
		base, _, _ := strings.Cut(row.Study, "/")
		if study == "" {
			study = base
		} else if base != study {
			return fmt.Errorf("%s:%d: rows of two base scenarios (fingerprints %s and %s): summarize them apart", name, line, study, base)
		}
		bal := string(row.Params[ParamBalancer])
		if fp, ok := configs[bal]; !ok {
			configs[bal] = row.Study
		} else if fp != row.Study {
			return fmt.Errorf("%s:%d: rows of balancer %s in two configurations (fingerprints %s and %s): summarize them apart", name, line, bal, fp, row.Study)
		}
		m := map[string]float64{}
		if err := flatten(row.Result, m); err != nil {
			return fmt.Errorf("%s:%d: result: %v", name, line, err)
		}
		key, _ := json.Marshal(row.Params) // sorted keys
		g := groups[string(key)]
		if g == nil {
			g = &acc{params: row.Params, vals: map[string][]float64{}}
			groups[string(key)] = g
			for k := range row.Params {
				if k != ParamBalancer {
					axes[k] = struct{}{}
				}
			}
		}
		for k, v := range m {
			if _, ok := g.vals[k]; !ok {
				g.vals[k] = make([]float64, len(g.seeds))
				metrics[k] = struct{}{}
			}
			g.vals[k] = append(g.vals[k], v)
		}
		for k, vs := range g.vals {
			if _, ok := m[k]; !ok {
				g.vals[k] = append(vs, 0)
			}
		}
		g.seeds = append(g.seeds, row.Seed)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s := &Summary{Axes: sortedKeys(axes), Metrics: sortedKeys(metrics)}
	if rs, ok := r.(io.Seeker); ok {
		if end, err := rs.Seek(0, io.SeekEnd); err == nil && end > good {
			s.Partial = true
		}
	}
	for _, g := range groups {
		// Seed order, so that the figures do not depend on the order in
		// which the rows were written.
		order := make([]int, len(g.seeds))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(g.seeds[a], g.seeds[b]) })
		out := Group{Params: g.params, Stats: map[string]Stat{}}
		for _, i := range order {
			out.Seeds = append(out.Seeds, g.seeds[i])
		}
		for k, vs := range g.vals {
			sorted := make([]float64, len(vs))
			for i, o := range order {
				sorted[i] = vs[o]
			}
			out.Stats[k] = stat(sorted)
		}
		s.Groups = append(s.Groups, out)
	}
	slices.SortFunc(s.Groups, func(a, b Group) int { return compareParams(a.Params, b.Params, s.Axes) })
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// stat computes the mean, SD and CI95 of xs.
func stat(xs []float64) Stat {
	n := float64(len(xs))
	var sum float64
	for _, x := range xs {
		sum += x
	}
	st := Stat{Mean: sum / n}
	if len(xs) < 2 {
		return st
	}
	var ss float64
	for _, x := range xs {
		ss += (x - st.Mean) * (x - st.Mean)
	}
	st.SD = math.Sqrt(ss / (n - 1))
	st.CI95 = tQuantile(0.975, len(xs)-1) * st.SD / math.Sqrt(n)
	return st
}

// flatten collects the numbers of a JSON value into m, naming nested ones
// with dots and list indexes.
func flatten(data json.RawMessage, m map[string]float64) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case json.Number:
			if f, err := v.Float64(); err == nil {
				m[prefix] = f
			}
		case bool:
			if v {
				m[prefix] = 1
			} else {
				m[prefix] = 0
			}
		case map[string]any:
			for k, c := range v {
				if prefix == "" {
					if k == "Seed" {
						continue // the seed, echoed: not a measure
					}
					walk(k, c)
				} else {
					walk(prefix+"."+k, c)
				}
			}
		case []any:
			for i, c := range v {
				walk(prefix+"["+strconv.Itoa(i)+"]", c)
			}
		}
	}
	walk("", v)
	return nil
}

// compareParams orders groups by their axes' values, then balancer.
func compareParams(a, b Params, axes []string) int {
	for _, k := range append(slices.Clone(axes), ParamBalancer) {
		if c := compareValues(a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

// compareValues orders two JSON values: absent first, numbers
// numerically, anything else by its JSON text.
func compareValues(a, b json.RawMessage) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	fa, ea := strconv.ParseFloat(string(a), 64)
	fb, eb := strconv.ParseFloat(string(b), 64)
	if ea == nil && eb == nil {
		return cmp.Compare(fa, fb)
	}
	return strings.Compare(string(a), string(b))
}

// Metric returns the name of the metric called name, ignoring case
// ("reliability" is "Reliability"), and whether there is one.
func (s *Summary) Metric(name string) (string, bool) {
	for _, m := range s.Metrics {
		if m == name {
			return m, true
		}
	}
	for _, m := range s.Metrics {
		if strings.EqualFold(m, name) {
			return m, true
		}
	}
	return "", false
}

// Axis returns the name of the axis called name, ignoring case, and
// whether there is one.
func (s *Summary) Axis(name string) (string, bool) {
	for _, a := range s.Axes {
		if strings.EqualFold(a, name) {
			return a, true
		}
	}
	return "", false
}

// WriteTable writes the summary as an aligned text table: a row per
// group with its axes, balancer and seed count, then each of metrics
// (nil: the [DefaultMetrics] the rows have) as mean ±CI95, the interval
// to two significant digits and the mean to the same decimal place.
func (s *Summary) WriteTable(w io.Writer, metrics []string) error {
	cols, err := s.resolveMetrics(metrics)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := append(slices.Clone(s.Axes), ParamBalancer, "n")
	head = append(head, cols...)
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, g := range s.Groups {
		var cells []string
		for _, a := range s.Axes {
			cells = append(cells, display(g.Params[a]))
		}
		cells = append(cells, display(g.Params[ParamBalancer]), strconv.Itoa(len(g.Seeds)))
		for _, m := range cols {
			st := g.Stats[m]
			if len(g.Seeds) < 2 {
				cells = append(cells, formatNumber(st.Mean))
			} else {
				cells = append(cells, formatInterval(st.Mean, st.CI95))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		// Right-aligned cells carry the padding on their left: drop the
		// first column's.
		line = strings.TrimPrefix(line, "  ")
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	if s.Partial {
		_, err := fmt.Fprintln(w, "(the rows end with a partial line, left out)")
		return err
	}
	return nil
}

func (s *Summary) resolveMetrics(metrics []string) ([]string, error) {
	if len(metrics) == 0 {
		var out []string
		for _, m := range DefaultMetrics {
			if name, ok := s.Metric(m); ok {
				out = append(out, name)
			}
		}
		return out, nil
	}
	var out []string
	for _, m := range metrics {
		name, ok := s.Metric(m)
		if !ok {
			return nil, fmt.Errorf("study: no metric %q in the rows (metrics: %s)", m, strings.Join(s.Metrics, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

// display shows a JSON parameter value: strings without quotes.
func display(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if v == nil {
		return "-"
	}
	return string(v)
}

// formatInterval prints mean ±ci with the interval's first two
// significant digits and the mean to the same decimal place: 0.7744
// ±0.0011, 155.70 ±0.33, 391 ±24.
func formatInterval(mean, ci float64) string {
	if ci <= 0 || math.IsNaN(ci) || math.IsInf(ci, 0) {
		return formatNumber(mean) + " ±0"
	}
	d := max(0, 1-int(math.Floor(math.Log10(ci))))
	return strconv.FormatFloat(mean, 'f', d, 64) + " ±" + strconv.FormatFloat(ci, 'f', d, 64)
}

// formatNumber prints 4 significant digits, or a whole number as such.
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
