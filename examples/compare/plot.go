package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// color returns a balancer's colour in the plot.
func color(name string) string {
	switch name {
	case "titan":
		return "#1a9e8f"
	case "katran":
		return "#e07b00"
	case "cilium":
		return "#7c5cd6"
	}
	return "#333"
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
		for _, n := range names {
			var pts []string
			for _, r := range rows {
				if r.Balancer == n {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(r.FragmentRate), py(p.value(r))))
				}
			}
			c := color(n)
			fmt.Fprintf(&b, `<polyline data-balancer="%s" points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", html.EscapeString(n), strings.Join(pts, " "), c)
			for _, pt := range pts {
				xy := strings.Split(pt, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, xy[0], xy[1], c)
			}
			b.WriteString("\n")
		}
		b.WriteString("</g>\n")
	}
	for i, n := range names {
		c := color(n)
		x := pw - float64(len(names))*45 + float64(i)*90
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n", x, ph+22, c, x+16, ph+32, html.EscapeString(n))
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
