package kbench

import (
	"fmt"
	"slices"
	"time"

	"github.com/titanlb/titanlb/cost"
)

// Resolution is how finely a path's net time is known: the medians of
// the wrapper alone (about 20 ns) and of wrapper plus path, subtracted,
// move by this much between calibrations on a quiet machine.
const Resolution = 12 * time.Nanosecond

// Misses returns the paths of c whose net time m mispredicts by more than
// 25% or [Resolution], whichever is larger (the second matters for the
// paths under 50 ns). Paths with uncharged work are not counted.
func Misses(c Calibration, m cost.Model) []string {
	var misses []string
	for _, ms := range c.Measurements {
		if !ms.Path.Fitted() {
			continue
		}
		got, want := m.Duration(ms.Path.STU(m)), ms.Net
		off := max(got-want, want-got)
		if off > max(Resolution, time.Duration(0.25*float64(want))) {
			misses = append(misses, fmt.Sprintf("%s: predicted %v, measured %v", ms.Path.Name, got, want))
		}
	}
	return misses
}

// OffModelMisses lists the paths the model does not price exactly
// (uncharged work, overcharged operations; see [Path.Fitted]) that cost
// less than half or more than twice what m predicts for their
// operations: the model's error there is known, but not that large.
func OffModelMisses(c Calibration, m cost.Model) []string {
	var misses []string
	for _, ms := range c.Measurements {
		if ms.Path.Fitted() {
			continue
		}
		if p := m.Duration(ms.Path.STU(m)); ms.Net < p/2-Resolution || ms.Net > 2*p+Resolution {
			misses = append(misses, fmt.Sprintf("%s: measured %v, predicted %v for its operations (uncharged: %q; overcharged: %q)",
				ms.Path.Name, ms.Net, p, ms.Path.Uncharged, ms.Path.Overcharged))
		}
	}
	return misses
}

// Speed returns how much slower than m predicts the kernel ran the paths
// of c that take 20 ns or more: the median of measured / predicted.
func Speed(c Calibration, m cost.Model) float64 {
	var r []float64
	for _, ms := range c.Measurements {
		if p := m.Duration(ms.Path.STU(m)); ms.Net >= 20*time.Nanosecond && p > 0 && ms.Path.Fitted() {
			r = append(r, float64(ms.Net)/float64(p))
		}
	}
	if len(r) == 0 {
		return 1
	}
	slices.Sort(r)
	return r[len(r)/2]
}

// Scaled returns m with every price k times dearer in time.
func Scaled(m cost.Model, k float64) cost.Model {
	m.NsPerSTU *= k
	return m
}

// Pool returns the calibrations' measurements as one: each path's
// medians over the rounds of all of them, with Scaled and Model (and
// each measurement's Predicted) derived from those medians as
// [Calibrate] derives them.
func Pool(cs []Calibration) Calibration {
	out := Calibration{Repeat: cs[0].Repeat, TableSize: cs[0].TableSize}
	for _, c := range cs {
		out.Rounds += c.Rounds
		out.WrapperRounds = append(out.WrapperRounds, c.WrapperRounds...)
	}
	out.Wrapper = Median(out.WrapperRounds)
	for i, m := range cs[0].Measurements {
		var gross, net, wrappers []time.Duration
		for _, c := range cs {
			cm := c.Measurements[i]
			for r, g := range cm.Rounds {
				gross = append(gross, g)
				net = append(net, g-cm.Wrappers[r])
				wrappers = append(wrappers, cm.Wrappers[r])
			}
		}
		m.Rounds, m.Gross, m.Net, m.Wrappers = gross, Median(gross), Median(net), wrappers
		m.Low, m.High = slices.Min(net), slices.Max(net)
		out.Measurements = append(out.Measurements, m)
	}
	out.summarize()
	return out
}

// HostBand is how far from m's prediction, at the run's speed factor,
// [Explain] lets a fitted path cost on a host that prices the kinds
// differently: half to one and a half times it (hosts measured so far
// put Titan's new flow at 0.63-1.06x the committed prices' share; see
// docs/calibration.md).
const HostBand = 0.5

// Explain checks the paths of c against m the way a host other than m's
// allows: it fits prices to c's measurements ([FitModel]) and returns
// that model with what it still mispredicts ([Misses] and
// [OffModelMisses]), and every fitted path whose time lies more than
// [HostBand] (or [Resolution]) from m's prediction at the run's speed
// factor ([Speed]). None means the paths' operations account for their
// times at the host's own prices, and no path strays far from m's. The
// band is what holds a path with operations no other path performs
// (Titan's new flow, its stores and ring read): the fit alone would
// price those to any time.
func Explain(c Calibration, m cost.Model) (cost.Model, []string) {
	fit := FitModel(c.Measurements)
	misses := append(Misses(c, fit), OffModelMisses(c, fit)...)
	mk := Scaled(m, Speed(c, m))
	for _, ms := range c.Measurements {
		if !ms.Path.Fitted() {
			continue
		}
		p := mk.Duration(ms.Path.STU(mk))
		if off := max(ms.Net-p, p-ms.Net); off > max(Resolution, time.Duration(HostBand*float64(p))) {
			misses = append(misses, fmt.Sprintf("%s: measured %v, %.2fx the prediction %v at the run's speed, outside the host band",
				ms.Path.Name, ms.Net, float64(ms.Net)/float64(p), p))
		}
	}
	return fit, misses
}
