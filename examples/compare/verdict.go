package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// whole is the Reliability at or above which the verdict says a balancer
// keeps datagrams whole.
const whole = 0.999

// lineup is one balancer's rows, in rate order.
type lineup struct {
	name string
	rows []Row
}

// worst returns the row with the lowest Reliability among those that
// carried fragments (the higher rate on a tie), and false when none did.
func (l lineup) worst() (Row, bool) {
	var w Row
	found := false
	for _, r := range l.rows {
		if r.Result.Fragments == 0 {
			continue
		}
		if !found || r.Result.Reliability < w.Result.Reliability ||
			(r.Result.Reliability == w.Result.Reliability && r.FragmentRate > w.FragmentRate) {
			w, found = r, true
		}
	}
	return w, found
}

// keeps reports whether every row that carried fragments reached [whole].
func (l lineup) keeps() bool {
	w, ok := l.worst()
	return ok && w.Result.Reliability >= whole
}

// meanCost is the average of the rows' AvgCost.
func (l lineup) meanCost() float64 {
	var s float64
	for _, r := range l.rows {
		s += r.Result.AvgCost
	}
	return s / float64(len(l.rows))
}

// at returns the row at fragmentation rate f.
func (l lineup) at(f float64) (Row, bool) {
	i := slices.IndexFunc(l.rows, func(r Row) bool { return r.FragmentRate == f })
	if i < 0 {
		return Row{}, false
	}
	return l.rows[i], true
}

// span formats the range of f over the rows as "a" or "a–b".
func (l lineup) span(f func(Row) float64, format string) string {
	lo, hi := f(l.rows[0]), f(l.rows[0])
	for _, r := range l.rows[1:] {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	a, b := fmt.Sprintf(format, lo), fmt.Sprintf(format, hi)
	if a == b {
		return a
	}
	return a + "–" + b
}

// ratio is l's cost over ref's at each rate both ran, as "2.2–2.8×".
func ratio(l, ref lineup) string {
	var both lineup
	for _, r := range l.rows {
		if q, ok := ref.at(r.FragmentRate); ok && q.Result.AvgCost > 0 {
			r.Result.AvgCost /= q.Result.AvgCost
			both.rows = append(both.rows, r)
		}
	}
	if len(both.rows) == 0 {
		return "?×"
	}
	return both.span(func(r Row) float64 { return r.Result.AvgCost }, "%.1f") + "×"
}

// verdict returns a few sentences computed from rows: which balancer keeps
// fragmented datagrams whole and at what cost, where the others lose them,
// and what each costs without fragments.
func verdict(rows []Row) []string {
	var ls []lineup
	for _, r := range rows {
		i := slices.IndexFunc(ls, func(l lineup) bool { return l.name == r.Balancer })
		if i < 0 {
			ls = append(ls, lineup{name: r.Balancer})
			i = len(ls) - 1
		}
		ls[i].rows = append(ls[i].rows, r)
	}
	if len(ls) == 0 {
		return nil
	}
	cost := func(r Row) float64 { return r.Result.AvgCost }
	var out []string
	// The cheapest balancer that keeps every datagram whole is the
	// reference the others are priced against.
	var keepers, losers []lineup
	for _, l := range ls {
		if l.keeps() {
			keepers = append(keepers, l)
		} else if _, ok := l.worst(); ok {
			losers = append(losers, l)
		}
	}
	slices.SortStableFunc(keepers, func(a, b lineup) int { return cmp.Compare(a.meanCost(), b.meanCost()) })
	ref := ls[0]
	switch {
	case len(keepers) > 0:
		ref = keepers[0]
		only := "the cheapest that does"
		if len(keepers) == 1 {
			only = "the only one that does"
		}
		out = append(out, fmt.Sprintf("Verdict: %s keeps every fragmented datagram whole (reliability at least %.3f at every rate) at %s STU per packet, %s.",
			ref.name, whole, ref.span(cost, "%.1f"), only))
		for _, k := range keepers[1:] {
			out = append(out, fmt.Sprintf("%s keeps them whole too, at %s %s's cost (%s STU).", k.name, ratio(k, ref), ref.name, k.span(cost, "%.1f")))
		}
	case len(losers) > 0:
		ref = slices.MaxFunc(losers, func(a, b lineup) int {
			wa, _ := a.worst()
			wb, _ := b.worst()
			return cmp.Compare(wa.Result.Reliability, wb.Result.Reliability)
		})
		out = append(out, fmt.Sprintf("Verdict: no balancer keeps every fragmented datagram whole here; %s comes closest.", ref.name))
	default:
		out = append(out, "Verdict: no datagram was fragmented in these runs, so the balancers differ only in cost.")
	}
	for _, l := range losers {
		w, _ := l.worst()
		s := fmt.Sprintf("%s loses them: reliability %.4f at %.0f%% fragmentation", l.name, w.Result.Reliability, 100*w.FragmentRate)
		s += fmt.Sprintf(" (fragment accuracy %.4f", w.Result.FragmentAccuracy)
		if d := drops(w.Result); d > 0 {
			s += fmt.Sprintf("; %d dropped, most for %q", d, topReason(w.Result.Drops))
		}
		s += ")"
		if r, ok := ref.at(w.FragmentRate); ok && l.name != ref.name && w.Result.AvgCost < r.Result.AvgCost {
			s += fmt.Sprintf("; its %.1f STU per packet there is cheaper than %s's only because lost packets cost little", w.Result.AvgCost, ref.name)
		}
		out = append(out, s+".")
	}
	// Without fragments every balancer should deliver everything: what
	// remains is the price of each design's lookups.
	var zero []string
	for _, l := range ls {
		r, ok := l.at(0)
		if !ok || r.Result.Reliability < whole {
			zero = nil
			break
		}
		if q, ok := ref.at(0); ok && l.name != ref.name && q.Result.AvgCost > 0 {
			zero = append(zero, fmt.Sprintf("%s %.1f×", l.name, r.Result.AvgCost/q.Result.AvgCost))
		}
	}
	if q, ok := ref.at(0); ok && len(zero) > 0 {
		out = append(out, fmt.Sprintf("Without fragments all deliver every datagram; against %s's %.1f STU per packet, %s (compare -h says why).",
			ref.name, q.Result.AvgCost, strings.Join(zero, ", ")))
	}
	return out
}

// topReason returns the reason with the most drops (the first by name on a
// tie).
func topReason(drops map[string]uint64) string {
	var top string
	for _, k := range slices.Sorted(maps.Keys(drops)) {
		if top == "" || drops[k] > drops[top] {
			top = k
		}
	}
	return top
}

// wrap breaks s into lines of at most width columns at spaces (a longer
// word stays whole), the later ones indented by two spaces, each ending in
// a newline.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		switch {
		case i == 0:
		case n+1+utf8.RuneCountInString(w) > width:
			b.WriteString("\n  ")
			n = 2
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += utf8.RuneCountInString(w)
	}
	b.WriteByte('\n')
	return b.String()
}
