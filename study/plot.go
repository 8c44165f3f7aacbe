package study

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// builtinColors are the built-in balancers' colours, as in
// examples/compare's plot; palette colours the others, in sorted order.
var (
	builtinColors = map[string]string{Titan: "#1a9e8f", Katran: "#e07b00", Cilium: "#7c5cd6", KatranNaive: "#c2185b"}
	palette       = []string{"#3b7dd8", "#6d8f00", "#8d6e63", "#546e7a", "#d4a017", "#00838f"}
)

// dashes tell apart the series of one balancer (other axes' values).
var dashes = []string{"", "6,3", "2,3", "8,3,2,3", "1,2"}

// series is one line of a plot: a balancer at fixed values of the other
// axes.
type series struct {
	balancer string
	label    string
	points   []plotPoint
}

type plotPoint struct {
	x    float64 // the value, or its category's index
	xs   string  // the value as written
	mean float64
	ci   float64
}

// Plot writes an SVG document: metric (a name of s.Metrics, any case)
// against axis (a name of s.Axes) with one line per balancer, and per
// combination of the other axes' values, each point the mean over the
// seeds with its 95% confidence interval as an error bar. Numeric axis
// values are placed to scale, others evenly in sorted order. Balancers
// whose rows lack the axis (an axis of another balancer) are left out.
func (s *Summary) Plot(w io.Writer, metric, axis string) error {
	m, ok := s.Metric(metric)
	if !ok {
		return fmt.Errorf("study: plot: no metric %q in the rows (metrics: %s)", metric, strings.Join(s.Metrics, ", "))
	}
	a, ok := s.Axis(axis)
	if !ok {
		return fmt.Errorf("study: plot: no axis %q in the rows (axes: %s)", axis, strings.Join(s.Axes, ", "))
	}
	// The axis's values, and whether they are all numbers.
	var xvals []json.RawMessage
	for _, g := range s.Groups {
		if v, ok := g.Params[a]; ok && !slices.ContainsFunc(xvals, func(x json.RawMessage) bool { return string(x) == string(v) }) {
			xvals = append(xvals, v)
		}
	}
	slices.SortFunc(xvals, compareValues)
	numeric := true
	for _, v := range xvals {
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			numeric = false
		}
	}
	xOf := func(v json.RawMessage) float64 {
		if numeric {
			f, _ := strconv.ParseFloat(string(v), 64)
			return f
		}
		return float64(slices.IndexFunc(xvals, func(x json.RawMessage) bool { return string(x) == string(v) }))
	}
	// Series, keyed by balancer and the other axes' values.
	var ss []*series
	byKey := map[string]*series{}
	maxN := 0
	for _, g := range s.Groups {
		v, ok := g.Params[a]
		if !ok {
			continue
		}
		var others []string
		for _, k := range s.Axes {
			if k != a && g.Params[k] != nil {
				others = append(others, k+"="+display(g.Params[k]))
			}
		}
		b := display(g.Params[ParamBalancer])
		key := b + "\x00" + strings.Join(others, "\x00")
		se := byKey[key]
		if se == nil {
			se = &series{balancer: b, label: strings.Join(append([]string{b}, others...), ", ")}
			byKey[key] = se
			ss = append(ss, se)
		}
		st := g.Stats[m]
		se.points = append(se.points, plotPoint{x: xOf(v), xs: display(v), mean: st.Mean, ci: st.CI95})
		maxN = max(maxN, len(g.Seeds))
	}
	if len(ss) == 0 {
		return fmt.Errorf("study: plot: no rows have axis %s", a)
	}
	for _, se := range ss {
		slices.SortFunc(se.points, func(p, q plotPoint) int { return cmp.Compare(p.x, q.x) })
	}
	// A balancer's lines together in the legend, in the groups' order.
	slices.SortStableFunc(ss, func(a, b *series) int { return strings.Compare(a.balancer, b.balancer) })
	var balancers []string
	for _, se := range ss {
		if !slices.Contains(balancers, se.balancer) {
			balancers = append(balancers, se.balancer)
		}
	}
	slices.Sort(balancers)
	return writePlot(w, ss, balancers, plotSpec{
		metric: m, axis: a, numeric: numeric, xvals: xvals, seeds: maxN,
	})
}

type plotSpec struct {
	metric, axis string
	numeric      bool
	xvals        []json.RawMessage
	seeds        int
}

func writePlot(w io.Writer, ss []*series, balancers []string, sp plotSpec) error {
	const (
		width, plotH     = 760.0, 380.0
		ml, mr, mt, mb   = 70.0, 24.0, 48.0, 56.0
		legendRow        = 18.0
		plotW            = width - ml - mr
		markerR, capHalf = 3.0, 4.0
	)
	height := mt + plotH + mb + legendRow*float64(len(ss)) + 8
	// Y range: from 0 when every bar is non-negative, else from the lowest.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, se := range ss {
		for _, p := range se.points {
			lo, hi = math.Min(lo, p.mean-p.ci), math.Max(hi, p.mean+p.ci)
		}
	}
	if lo >= 0 {
		lo = 0
	}
	ticks := niceTicks(lo, hi)
	ylo, yhi := ticks[0], ticks[len(ticks)-1]
	// X range.
	var xlo, xhi float64
	if sp.numeric {
		xlo, xhi = math.Inf(1), math.Inf(-1)
		for _, v := range sp.xvals {
			f, _ := strconv.ParseFloat(string(v), 64)
			xlo, xhi = math.Min(xlo, f), math.Max(xhi, f)
		}
	} else {
		xlo, xhi = -0.5, float64(len(sp.xvals))-0.5
	}
	if xhi == xlo {
		xlo, xhi = xlo-1, xhi+1
	}
	pad := (xhi - xlo) * 0.04
	if !sp.numeric {
		pad = 0
	}
	px := func(x float64) float64 { return ml + plotW*(x-xlo+pad)/(xhi-xlo+2*pad) }
	py := func(y float64) float64 { return mt + plotH*(1-(y-ylo)/(yhi-ylo)) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	title := fmt.Sprintf("%s against %s (mean and 95%% CI over %d seeds)", sp.metric, sp.axis, sp.seeds)
	if sp.seeds < 2 {
		title = fmt.Sprintf("%s against %s (one seed)", sp.metric, sp.axis)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="24" text-anchor="middle" font-size="14">%s</text>`+"\n", width/2, html.EscapeString(title))
	for _, t := range ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, ml, ml+plotW, py(t), py(t))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", ml-6, py(t)+4, formatNumber(t))
	}
	for i, v := range sp.xvals {
		x := float64(i)
		if sp.numeric {
			x, _ = strconv.ParseFloat(string(v), 64)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%s</text>`+"\n", px(x), mt+plotH+16, html.EscapeString(display(v)))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#888"/>`+"\n", ml, ml+plotW, mt+plotH, mt+plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">%s</text>`+"\n", ml+plotW/2, mt+plotH+36, html.EscapeString(sp.axis))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle" fill="#333">%s</text>`+"\n", mt+plotH/2, html.EscapeString(sp.metric))

	dashOf := map[string]int{}
	for i, se := range ss {
		color, ok := builtinColors[se.balancer]
		if !ok {
			color = palette[slices.Index(balancers, se.balancer)%len(palette)]
		}
		dash := dashes[dashOf[se.balancer]%len(dashes)]
		dashOf[se.balancer]++
		fmt.Fprintf(&b, `<g class="series" data-label="%s" stroke="%s" fill="%s">`+"\n", html.EscapeString(se.label), color, color)
		var pts []string
		for _, p := range se.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.mean)))
		}
		dattr := ""
		if dash != "" {
			dattr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		// Each line is thinner than the one before, so that lines that
		// coincide (two designs that deliver everything) stay visible.
		width := 3.6
		if len(ss) > 1 {
			width -= 2.4 * float64(i) / float64(len(ss)-1)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke-width="%.1f"%s points="%s"/>`+"\n", width, dattr, strings.Join(pts, " "))
		for _, p := range se.points {
			x := px(p.x)
			if p.ci > 0 {
				y0, y1 := py(p.mean-p.ci), py(p.mean+p.ci)
				fmt.Fprintf(&b, `<path d="M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f" fill="none"/>`,
					x, y0, y1, x-capHalf, y0, x+capHalf, x-capHalf, y1, x+capHalf)
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%.0f" data-x="%s" data-mean="%s" data-ci95="%s"/>`+"\n",
				x, py(p.mean), markerR, html.EscapeString(p.xs), strconv.FormatFloat(p.mean, 'g', -1, 64), strconv.FormatFloat(p.ci, 'g', -1, 64))
		}
		ly := mt + plotH + mb + legendRow*float64(i) + 4
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke-width="2"%s/>`, ml, ml+28, ly, ly, dattr)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" stroke="none" fill="#333">%s</text>`+"\n", ml+36, ly+4, html.EscapeString(se.label))
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceTicks returns about five evenly spaced round values covering
// [lo, hi].
func niceTicks(lo, hi float64) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	// Ticks are k·step, printed back to step's decimals: 0.6, not
	// 0.6000000000000001.
	decimals := max(0, 1-int(math.Floor(math.Log10(step))))
	var out []float64
	for k := math.Floor(lo / step); ; k++ {
		t, _ := strconv.ParseFloat(strconv.FormatFloat(k*step, 'f', decimals, 64), 64)
		out = append(out, t)
		if t >= hi-step*1e-9 {
			break
		}
	}
	return out
}
