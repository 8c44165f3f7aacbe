package kbench

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
)

// Measurement is one path's kernel time: medians over the rounds of
// [Calibrate].
type Measurement struct {
	Path  Path
	Gross time.Duration // per packet, benchmark wrapper included
	Net   time.Duration // Gross minus the wrapper's own time (median of the rounds' differences)
	// Wrappers are the wrapper's own times subtracted in each round: the
	// wrapper measured with the path's [Path].Vary, since varying the
	// frame (a map counter, a header field written and restored) is the
	// wrapper's work, not the program's.
	Wrappers []time.Duration
	Low      time.Duration // the lowest net time of a round
	High     time.Duration // the highest net time of a round
	STU      cost.STU      // the path's price under cost.Default()
	NsPerSTU float64       // Net / STU
	// Predicted is the path's time under the fitted [Calibration].Model.
	Predicted time.Duration
	// Rounds are the gross times of the rounds, in measuring order.
	Rounds []time.Duration
}

// Calibration is the result of [Calibrate], or of [Pool] over several.
type Calibration struct {
	Repeat, Rounds int             // iterations per kernel call, rounds measured
	TableSize      int             // entries of each state table; 0: each at its default
	Wrapper        time.Duration   // the benchmark wrapper's own time per packet, frame unvaried (median)
	WrapperRounds  []time.Duration // that time in each round, in order ([Measurement].Wrappers: per path)
	Measurements   []Measurement
	// Model prices each operation from the measurements: [FitModel],
	// the non-negative least-squares fit (relative errors; see
	// docs/calibration.md) of net ns = Σ ops × price over the paths, in
	// STU of [CalibratedNsPerSTU] ns. cost.Calibrated() is the fit of
	// these paths and the side-by-side harness's (Titan's and Katran's),
	// pooled.
	Model cost.Model
	// Scaled is cost.Default()'s prices with NsPerSTU set to total net
	// time / total default STU over the paths: one scale for every
	// operation, which misses the write paths (see [CalibratedModel]).
	Scaled cost.Model
}

// CalibratedNsPerSTU is the STU of the fitted models: a tenth of a
// nanosecond, fine enough for the cheapest operation.
const CalibratedNsPerSTU = 0.1

// CalibrateOptions configure [Calibrate].
type CalibrateOptions struct {
	// Repeat is the kernel iterations per measurement; 0 means 20,000.
	Repeat int
	// Rounds is how many times every path and the wrapper are measured,
	// interleaved (round r starts at path r), after one warm-up round
	// that is discarded; the figures are medians over the rounds. 0
	// means 7.
	Rounds int
	// TableSize sets the connection, fragment and hint tables' sizes of
	// every measured program; 0 leaves each at its default (titan's
	// DefaultConnTableSize, DefaultFragTableSize, DefaultHintTableSize),
	// the sizes the side-by-side harness measures too: a new entry
	// stored at a random place costs more in a larger table, whose sets
	// spill out of the caches (see docs/calibration.md).
	TableSize int
}

// Calibrate loads one program per path of [Paths] with load (with the
// path's options, so that no path's inserts evict another path's state),
// measures the wrapper and every path o.Rounds times, interleaved, checks
// from the program's op counters that every measured packet took its
// path, subtracts the wrapper's time, and fits the price of each
// operation. It needs the privileges loading the programs needs.
func Calibrate(o CalibrateOptions, load Loader) (Calibration, error) {
	if o.Repeat < 0 {
		return Calibration{}, fmt.Errorf("kbench: calibrate: repeat %d: %w", o.Repeat, titan.ErrNegative)
	}
	if o.Rounds < 0 {
		return Calibration{}, fmt.Errorf("kbench: calibrate: rounds %d: %w", o.Rounds, titan.ErrNegative)
	}
	if o.Repeat == 0 {
		o.Repeat = 20_000
	}
	if o.Rounds == 0 {
		o.Rounds = 7
	}
	if o.TableSize < 0 {
		return Calibration{}, fmt.Errorf("kbench: calibrate: table size %d: %w", o.TableSize, titan.ErrNegative)
	}
	c := Calibration{Repeat: o.Repeat, Rounds: o.Rounds, TableSize: o.TableSize}
	bs := []balancer.Backend{
		{ID: 1, Name: "1", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 1}), Weight: 1, Up: true},
		{ID: 2, Name: "2", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 2}), Weight: 1, Up: true},
		{ID: 3, Name: "3", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 3}), Weight: 1, Up: true},
	}
	paths := Paths()
	progs := make([]Target, len(paths))
	defer func() {
		for _, p := range progs {
			if p != nil {
				p.Close()
			}
		}
	}()
	for i, path := range paths {
		p, err := load(path, o.TableSize, bs)
		if err != nil {
			return c, fmt.Errorf("kbench: calibrate: path %s: %w", path.Name, err)
		}
		progs[i] = p
	}
	base := balancer.Encode(paths[0].Packet, paths[0].Payload)
	wrapper := make([]time.Duration, 0, o.Rounds)
	gross := make([][]time.Duration, len(paths))
	net := make([][]time.Duration, len(paths))
	wrappers := make([][]time.Duration, len(paths))
	for r := -1; r < o.Rounds; r++ {
		w, err := WrapperTimes(progs[0], base, o.Repeat)
		if err != nil {
			return c, fmt.Errorf("kbench: calibrate: %w", err)
		}
		for k := range paths {
			i := (k + max(r, 0)) % len(paths)
			d, err := MeasurePath(progs[i], paths[i], o.Repeat)
			if err != nil {
				return c, fmt.Errorf("kbench: calibrate: %w", err)
			}
			if r >= 0 {
				gross[i] = append(gross[i], d)
				net[i] = append(net[i], d-w[paths[i].Vary])
				wrappers[i] = append(wrappers[i], w[paths[i].Vary])
			}
		}
		if r >= 0 {
			wrapper = append(wrapper, w[VaryNone])
		}
	}
	c.Wrapper, c.WrapperRounds = Median(wrapper), wrapper
	for i, path := range paths {
		c.Measurements = append(c.Measurements, Measurement{Path: path, Gross: Median(gross[i]), Net: Median(net[i]), Wrappers: wrappers[i],
			Low: slices.Min(net[i]), High: slices.Max(net[i]), Rounds: gross[i]})
	}
	c.summarize()
	return c, nil
}

// WrapperTimes measures the benchmark wrapper of t alone on frame, once
// with each [Vary]: what a path's time includes besides the program's
// work.
func WrapperTimes(t Target, frame []byte, repeat int) ([NumVary]time.Duration, error) {
	var w [NumVary]time.Duration
	for v := range w {
		d, err := t.Bench(frame, BenchOptions{Repeat: repeat, Baseline: true, Vary: Vary(v)})
		if err != nil {
			return w, fmt.Errorf("wrapper: %w", err)
		}
		w[v] = d
	}
	return w, nil
}

// Prime runs path.Prime through t: the state path is measured against.
func Prime(t Target, path Path) error {
	for i, pk := range path.Prime {
		if err := t.Run(balancer.Encode(pk, path.Payload)); err != nil {
			return fmt.Errorf("path %s: prime[%d]: %w", path.Name, i, err)
		}
	}
	return nil
}

// MeasurePath primes t's state with path.Prime, returns t's time per
// packet on path.Packet with path.Vary over repeat iterations, and checks
// from the op counters that the iterations performed path.Ops (to within
// 1%).
func MeasurePath(t Target, path Path, repeat int) (time.Duration, error) {
	if err := Prime(t, path); err != nil {
		return 0, err
	}
	before, err := t.Counters()
	if err != nil {
		return 0, err
	}
	d, err := t.Bench(balancer.Encode(path.Packet, path.Payload), BenchOptions{Repeat: repeat, Vary: path.Vary})
	if err != nil {
		return 0, fmt.Errorf("path %s: %w", path.Name, err)
	}
	after, err := t.Counters()
	if err != nil {
		return 0, err
	}
	// A run the kernel interrupts (a signal: Go preempts threads with
	// them) is run again by the library, so more packets than repeat may
	// count; each must have taken the path. The fragment table's LRU is
	// approximate: a few entries outlive the 65,536 IP IDs a varied
	// datagram cycles through, so up to 1% of packets may take a
	// neighbouring path.
	n := after.Packets - before.Packets
	var got [cost.NumOps]uint64
	for op := range got {
		got[op] = after.Ops[op] - before.Ops[op]
	}
	for op, c := range got {
		want := n * path.Ops[op]
		if max(c, want)-min(c, want) > n/100 || n < uint64(repeat) {
			return 0, fmt.Errorf("path %s: %d packets (%d runs) performed %v, want %v each", path.Name, n, repeat, got, path.Ops)
		}
	}
	return d, nil
}

// Median returns the middle of ds (the mean of the two middles for an
// even count); 0 for none.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize sets what follows from c's measurements: each one's default
// STU and ns per STU, c.Scaled, c.Model and each one's prediction by it.
func (c *Calibration) summarize() {
	def := cost.Default()
	var totalNet time.Duration
	var totalSTU cost.STU
	for i := range c.Measurements {
		m := &c.Measurements[i]
		m.STU, m.NsPerSTU = m.Path.STU(def), 0
		if m.STU > 0 {
			m.NsPerSTU = float64(m.Net) / float64(m.STU)
		}
		totalNet += m.Net
		totalSTU += m.STU
	}
	c.Scaled = def
	if totalSTU > 0 && totalNet > 0 {
		c.Scaled.NsPerSTU = float64(totalNet) / float64(totalSTU)
	}
	c.Model = FitModel(c.Measurements)
	for i := range c.Measurements {
		m := &c.Measurements[i]
		m.Predicted = c.Model.Duration(m.Path.STU(c.Model))
	}
}
