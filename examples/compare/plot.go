package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// style is how a balancer's line is drawn. Lines are drawn in the order of
// the rows and each is narrower than the one before and dashed
// differently, with its own marker, so where lines coincide (Titan's and
// Cilium's Reliability at 1) the later one runs inside the earlier one and
// both stay visible.
type style struct {
	color  string
	width  float64
	dash   string // stroke-dasharray; "" for solid
	marker string // circle, square, triangle, diamond
}

// styles lists the lanes' styles, widest first; a balancer unknown to it
// takes the next unused one.
var styles = []struct {
	name string
	style
}{
	{"titan", style{"#1a9e8f", 9, "", "circle"}},
	{"katran", style{"#e07b00", 5, "10 5", "square"}},
	{"cilium", style{"#6a3fd0", 3, "7 4", "triangle"}},
	{"katran-naive", style{"#c0392b", 1.5, "1 3", "diamond"}},
}

// styleOf returns the style of names[i]: its own, or the i-th.
func styleOf(names []string, i int) style {
	for _, s := range styles {
		if s.name == names[i] {
			return s.style
		}
	}
	return styles[i%len(styles)].style
}

// marker draws shape m of radius r at (x, y).
func marker(b *strings.Builder, m string, x, y, r float64, color string) {
	switch m {
	case "square":
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="white"/>`, x-r, y-r, 2*r, 2*r, color)
	case "triangle":
		fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s" stroke="white"/>`, x, y-r, x+r, y+r*0.8, x-r, y+r*0.8, color)
	case "diamond":
		fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s" stroke="white"/>`, x, y-r, x+r, y, x, y+r, x-r, y, color)
	default:
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s" stroke="white"/>`, x, y, r, color)
	}
}

// line draws a polyline through pts in style st.
// name, when not empty, marks the line as that balancer's data.
func line(b *strings.Builder, name string, pts [][2]float64, st style) {
	var ps []string
	for _, p := range pts {
		ps = append(ps, fmt.Sprintf("%.1f,%.1f", p[0], p[1]))
	}
	dash := ""
	if st.dash != "" {
		dash = fmt.Sprintf(` stroke-dasharray="%s"`, st.dash)
	}
	data := ""
	if name != "" {
		data = fmt.Sprintf(` data-balancer="%s"`, html.EscapeString(name))
	}
	fmt.Fprintf(b, `<polyline%s points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s stroke-linejoin="round"/>`+"\n",
		data, strings.Join(ps, " "), st.color, st.width, dash)
}

// plot draws two panels as a standalone SVG document: Reliability and
// average cost (STU per packet) against the fragmentation rate, one line
// per balancer.
func plot(rows []Row, o options) string {
	const (
		pw, ph = 420.0, 300.0 // one panel
		ml, mr = 56.0, 28.0   // margins inside a panel
		mt, mb = 36.0, 44.0
	)
	var names []string
	for _, r := range rows {
		if !slices.Contains(names, r.Balancer) {
			names = append(names, r.Balancer)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", 2*pw, ph+40, 2*pw, ph+40)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" text-anchor="middle" font-size="14">%s</text>`+"\n", pw,
		html.EscapeString(fmt.Sprintf("TitanLB: %d backends, %d flows, %.0f%% reordered, seed %d", o.backends, o.flows, 100*o.reorder, o.seed)))

	maxCost := 0.0
	for _, r := range rows {
		maxCost = math.Max(maxCost, r.Result.AvgCost)
	}
	maxCost = niceCeil(maxCost * 1.1)
	panels := []struct {
		title string
		max   float64
		value func(Row) float64
		label func(float64) string
	}{
		{"Reliability", 1, func(r Row) float64 { return r.Result.Reliability }, func(v float64) string { return fmt.Sprintf("%.2f", v) }},
		{"Avg cost (STU per packet)", maxCost, func(r Row) float64 { return r.Result.AvgCost }, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
	}
	for pi, p := range panels {
		x0 := float64(pi) * pw
		px := func(f float64) float64 { return x0 + ml + (pw-ml-mr)*f }
		py := func(v float64) float64 { return 20 + mt + (ph-mt-mb)*(1-v/p.max) }
		fmt.Fprintf(&b, `<g class="panel" data-panel="%d">`+"\n", pi)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">%s</text>`+"\n", x0+pw/2, 20+mt-12, html.EscapeString(p.title))
		for k := 0; k <= 4; k++ {
			v := p.max * float64(k) / 4
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, px(0), px(1), py(v), py(v))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", px(0)-6, py(v)+4, p.label(v))
		}
		for k := 0; k <= 4; k++ {
			f := float64(k) / 4
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%.0f%%</text>`+"\n", px(f), py(0)+16, 100*f)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">fragmented datagrams</text>`+"\n", x0+ml+(pw-ml-mr)/2, py(0)+34)
		for i, n := range names {
			var pts [][2]float64
			for _, r := range rows {
				if r.Balancer == n {
					pts = append(pts, [2]float64{px(r.FragmentRate), py(p.value(r))})
				}
			}
			st := styleOf(names, i)
			fmt.Fprintf(&b, `<g data-balancer="%s" data-marker="%s">`+"\n", html.EscapeString(n), st.marker)
			line(&b, n, pts, st)
			for _, pt := range pts {
				marker(&b, st.marker, pt[0], pt[1], st.width/2+2.5, st.color)
			}
			b.WriteString("\n</g>\n")
		}
		b.WriteString("</g>\n")
	}
	// The legend: each balancer's line and marker, as drawn.
	const slot = 150.0
	for i, n := range names {
		st := styleOf(names, i)
		x, y := pw-float64(len(names))*slot/2+float64(i)*slot, ph+26
		line(&b, "", [][2]float64{{x, y}, {x + 44, y}}, st)
		marker(&b, st.marker, x+22, y, st.width/2+2.5, st.color)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", x+52, y+4, html.EscapeString(n))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2, 4, 5 or 8 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 4, 5, 8, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}
