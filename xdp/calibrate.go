package xdp

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
)

// Path is one datapath path of the program that [Calibrate] measures: a
// frame, how the benchmark wrapper varies it, the packets that set up the
// state it runs against, and the operations the program performs on it
// (the ones balancer/titan charges for the same packet; a test checks
// they agree, except on the VIP paths, which titan has no VIP list for).
type Path struct {
	Name      string
	Stateless bool                // measured on the stateless variant
	VIPs      []netip.Addr        // the program's Options.VIPs; none: balance all IPv4
	Down      bool                // every backend down: the packet finds none and is dropped
	Vary      Vary                // see [BenchOptions]
	Ops       [cost.NumOps]uint64 // operations per packet on this path
	Prime     []balancer.Packet   // run once before measuring
	Packet    balancer.Packet     // the measured packet
	Payload   int                 // payload bytes after its headers
	// Uncharged names work the program does on this path that no
	// operation of the cost model charges; [FitModel] leaves such paths
	// out. "" for none.
	Uncharged string
	// Overcharged names operations the cost model prices above what they
	// cost the program on this path; [FitModel] leaves such paths out
	// too. "" for none.
	Overcharged string
}

// Fitted reports whether the cost model prices p's work, neither more
// nor less: [FitModel] fits the prices to such paths only.
func (p Path) Fitted() bool { return p.Uncharged == "" && p.Overcharged == "" }

// Options returns the options of the program that p is measured on.
func (p Path) Options() Options {
	return Options{Stateless: p.Stateless, Config: titan.Config{VIPs: slices.Clone(p.VIPs)}}
}

// Backends returns the backend set p is measured with: bs, all down
// when p.Down.
func (p Path) Backends(bs []balancer.Backend) []balancer.Backend {
	bs = slices.Clone(bs)
	for i := range bs {
		bs[i].Up = bs[i].Up && !p.Down
	}
	return bs
}

// STU prices p's operations with m.
func (p Path) STU(m cost.Model) cost.STU {
	var s cost.STU
	for op, n := range p.Ops {
		s += cost.STU(n) * m.Cost(cost.Op(op))
	}
	return s
}

// storeUncharged is what the fragment-table miss paths do uncharged:
// titan charges a store into the set the lookup returned as nothing, and
// the kernel's op counters do not count it, but writing a new entry into
// a set that a new datagram's key picks (the clock read for its creation
// time; a cache miss when the set is not the one after the sender's
// previous datagram's) costs time no operation prices.
const storeUncharged = "a new entry stored into the fragment set (uncharged by titan)"

// arrayOvercharged is what a fragment's path reads: ARRAY lookups only
// (stats, the fragment set, the backend), which the verifier inlines into
// a bounds check and an address computation, where one read price is
// fitted to paths whose reads include an LRU hash lookup (hashing the key
// and walking a bucket): a non-first fragment makes an established
// packet's operations and costs some 25% less.
const arrayOvercharged = "the fragment set read, an inlined ARRAY lookup priced as a hash-map lookup"

func ops(hash, reads, writes, encap uint64) [cost.NumOps]uint64 {
	var o [cost.NumOps]uint64
	o[cost.OpHash], o[cost.OpMapRead], o[cost.OpMapWrite], o[cost.OpEncap] = hash, reads, writes, encap
	return o
}

// Paths returns the measured paths, with the default options (no VIPs,
// unless the path says otherwise; OrphanHostHint, AdmitEarned). Reads
// include the per-CPU stats lookup every packet makes.
func Paths() []Path {
	client := netip.AddrFrom4([4]byte{198, 51, 100, 7})
	vip := netip.AddrFrom4([4]byte{192, 0, 2, 10})
	tcp := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: balancer.TCPAck, IPID: 1}
	udp := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 40001, DstPort: 4789, IPID: 2}
	first := udp
	first.IPID, first.MoreFragments = 3, true
	nonFirst := first
	nonFirst.SrcPort, nonFirst.DstPort, nonFirst.FragOffset = 0, 0, 185
	return []Path{
		// stats, conn, backend; hash; encap.
		{Name: "established-tcp", Ops: ops(1, 3, 0, 1), Prime: []balancer.Packet{tcp}, Packet: tcp, Payload: 100},
		{Name: "established-udp", Ops: ops(1, 3, 0, 1), Prime: []balancer.Packet{udp}, Packet: udp, Payload: 100},
		// stats, conn (miss), ring, backend, orphan credit (earned); conn
		// and hint writes.
		{Name: "new-flow-tcp", Vary: VaryFlow, Ops: ops(1, 5, 2, 1), Packet: tcp, Payload: 100},
		// stats, frag set (miss), conn (hit), backend; set-index and
		// flow hashes; the new entry is a store into the set (no write).
		{Name: "first-fragment", Vary: VaryDatagram, Ops: ops(2, 4, 0, 1), Prime: []balancer.Packet{udp}, Packet: first, Payload: 1472,
			Uncharged: storeUncharged, Overcharged: arrayOvercharged},
		// stats, frag set (hit), backend; set-index hash.
		{Name: "non-first-fragment", Ops: ops(1, 3, 0, 1), Prime: []balancer.Packet{first}, Packet: nonFirst, Payload: 1480,
			Overcharged: arrayOvercharged},
		// stats, frag set (miss), hint (hit), backend; set-index hash;
		// the new entry is a store into the set.
		{Name: "orphan-fragment", Vary: VaryDatagram, Ops: ops(1, 4, 0, 1), Prime: []balancer.Packet{udp}, Packet: nonFirst, Payload: 1480,
			Uncharged: storeUncharged, Overcharged: arrayOvercharged},
		// stats, ring, backend; hash; encap.
		{Name: "stateless-tcp", Stateless: true, Ops: ops(1, 3, 0, 1), Packet: tcp, Payload: 100},
		// stats; dropped.
		{Name: "stateless-fragment", Stateless: true, Ops: ops(0, 1, 0, 0), Packet: nonFirst, Payload: 1480},
		// With a VIP list: stats, vips, conn, backend; hash; encap. One
		// read more than established-tcp.
		{Name: "established-tcp-vip", VIPs: []netip.Addr{vip}, Ops: ops(1, 4, 0, 1), Prime: []balancer.Packet{tcp}, Packet: tcp, Payload: 100},
		// Not to a VIP: stats, vips; XDP_PASS.
		{Name: "not-vip", VIPs: []netip.Addr{client}, Ops: ops(0, 2, 0, 0), Packet: tcp, Payload: 100},
		// Every backend down: stats, conn (miss), ring (empty slot);
		// hash; dropped. established-tcp without its encapsulation, in
		// operations: it separates the hash's price from the encap's.
		{Name: "no-backend-tcp", Down: true, Ops: ops(1, 3, 0, 0), Packet: tcp, Payload: 100},
	}
}

// Measurement is one path's kernel time: medians over the rounds of
// [CalibrateWith].
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

// Calibration is the result of [Calibrate].
type Calibration struct {
	Repeat, Rounds int             // iterations per kernel call, rounds measured
	TableSize      int             // entries of each state table
	Wrapper        time.Duration   // the benchmark wrapper's own time per packet, frame unvaried (median)
	WrapperRounds  []time.Duration // that time in each round, in order ([Measurement].Wrappers: per path)
	Measurements   []Measurement
	// Model prices each operation from the measurements: the
	// non-negative least-squares fit (relative errors; see the package
	// doc's Calibration section) of net ns = Σ ops × price over the
	// paths, in STU of [CalibratedNsPerSTU] ns. TailCall and Rewrite,
	// which the program does not perform, keep cost.Default()'s ratios
	// to MapRead. cost.Calibrated() is this model as committed.
	Model cost.Model
	// Scaled is cost.Default()'s prices with NsPerSTU set to total net
	// time / total default STU over the paths: one scale for every
	// operation, which misses the write paths (see [CalibratedModel]).
	Scaled cost.Model
}

// CalibratedNsPerSTU is the STU of the fitted models: a tenth of a
// nanosecond, fine enough for the cheapest operation.
const CalibratedNsPerSTU = 0.1

// CalibrateOptions configure [CalibrateWith].
type CalibrateOptions struct {
	// Repeat is the kernel iterations per measurement; 0 means 20,000.
	Repeat int
	// Rounds is how many times every path and the wrapper are measured,
	// interleaved (round r starts at path r), after one warm-up round
	// that is discarded; the figures are medians over the rounds. 0
	// means 7.
	Rounds int
	// TableSize sets the connection, fragment and hint tables' sizes of
	// every measured program; 0 means DefaultFragTableSize (16,384). One
	// size for all three, so that a map write means one thing: an LRU
	// insert costs more in a larger table (its entries spill out of the
	// caches; see the package doc's Calibration section).
	TableSize int
}

// Calibrate is [CalibrateWith] with repeat iterations per measurement (0:
// the default) and the default rounds and table size.
func Calibrate(repeat int) (Calibration, error) {
	return CalibrateWith(CalibrateOptions{Repeat: repeat})
}

// CalibrateWith loads one program per path of [Paths] (with the path's
// [Path.Options], so that no path's inserts evict another path's state),
// measures the wrapper and every path o.Rounds times, interleaved, checks
// from the program's op counters that every measured packet took its
// path, subtracts the wrapper's time, and fits the price of each
// operation. It needs the privileges [Load] needs.
func CalibrateWith(o CalibrateOptions) (Calibration, error) {
	if o.Repeat < 0 {
		return Calibration{}, fmt.Errorf("xdp: calibrate: repeat %d: %w", o.Repeat, titan.ErrNegative)
	}
	if o.Rounds < 0 {
		return Calibration{}, fmt.Errorf("xdp: calibrate: rounds %d: %w", o.Rounds, titan.ErrNegative)
	}
	if o.Repeat == 0 {
		o.Repeat = 20_000
	}
	if o.Rounds == 0 {
		o.Rounds = 7
	}
	if o.TableSize == 0 {
		o.TableSize = titan.DefaultFragTableSize
	}
	c := Calibration{Repeat: o.Repeat, Rounds: o.Rounds, TableSize: o.TableSize}
	bs := []balancer.Backend{
		{ID: 1, Name: "1", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 1}), Weight: 1, Up: true},
		{ID: 2, Name: "2", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 2}), Weight: 1, Up: true},
		{ID: 3, Name: "3", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 3}), Weight: 1, Up: true},
	}
	paths := Paths()
	progs := make([]*Program, len(paths))
	defer func() {
		for _, p := range progs {
			if p != nil {
				p.Close()
			}
		}
	}()
	for i, path := range paths {
		po := path.Options()
		po.ConnTableSize, po.FragTableSize, po.HintTableSize = o.TableSize, o.TableSize, o.TableSize
		p, err := Load(po)
		if err != nil {
			return c, fmt.Errorf("xdp: calibrate: path %s: %w", path.Name, err)
		}
		progs[i] = p
		if err := p.SetBackends(path.Backends(bs)); err != nil {
			return c, fmt.Errorf("xdp: calibrate: path %s: %w", path.Name, err)
		}
	}
	base := balancer.Encode(paths[0].Packet, paths[0].Payload)
	wrapper := make([]time.Duration, 0, o.Rounds)
	gross := make([][]time.Duration, len(paths))
	net := make([][]time.Duration, len(paths))
	wrappers := make([][]time.Duration, len(paths))
	for r := -1; r < o.Rounds; r++ {
		w, err := progs[0].wrapperTimes(base, o.Repeat)
		if err != nil {
			return c, fmt.Errorf("xdp: calibrate: %w", err)
		}
		for k := range paths {
			i := (k + max(r, 0)) % len(paths)
			d, err := progs[i].measurePath(paths[i], o.Repeat)
			if err != nil {
				return c, fmt.Errorf("xdp: calibrate: %w", err)
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
	c.Wrapper, c.WrapperRounds = median(wrapper), wrapper
	def := cost.Default()
	var totalNet time.Duration
	var totalSTU cost.STU
	for i, path := range paths {
		m := Measurement{Path: path, Gross: median(gross[i]), Net: median(net[i]), Wrappers: wrappers[i],
			Low: slices.Min(net[i]), High: slices.Max(net[i]), STU: path.STU(def), Rounds: gross[i]}
		if m.STU > 0 {
			m.NsPerSTU = float64(m.Net) / float64(m.STU)
		}
		totalNet += m.Net
		totalSTU += m.STU
		c.Measurements = append(c.Measurements, m)
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
	return c, nil
}

// wrapperTimes measures the benchmark wrapper alone on frame, once with
// each [Vary]: what a path's time includes besides the program's work.
func (p *Program) wrapperTimes(frame []byte, repeat int) ([VaryDatagram + 1]time.Duration, error) {
	var w [VaryDatagram + 1]time.Duration
	for v := range w {
		d, err := p.BenchWith(frame, BenchOptions{Repeat: repeat, Baseline: true, Vary: Vary(v)})
		if err != nil {
			return w, fmt.Errorf("wrapper: %w", err)
		}
		w[v] = d
	}
	return w, nil
}

// measurePath is [Program.BenchPath] that also checks, from the op
// counters, that the iterations performed path.Ops (to within 1%).
func (p *Program) measurePath(path Path, repeat int) (time.Duration, error) {
	for i, pk := range path.Prime {
		if _, err := p.Run(balancer.Encode(pk, path.Payload)); err != nil {
			return 0, fmt.Errorf("path %s: prime[%d]: %w", path.Name, i, err)
		}
	}
	before, err := p.Stats()
	if err != nil {
		return 0, err
	}
	d, err := p.BenchWith(balancer.Encode(path.Packet, path.Payload), BenchOptions{Repeat: repeat, Vary: path.Vary})
	if err != nil {
		return 0, fmt.Errorf("path %s: %w", path.Name, err)
	}
	after, err := p.Stats()
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
	got := [cost.NumOps]uint64{
		cost.OpHash:     after.OpHash - before.OpHash,
		cost.OpMapRead:  after.OpMapRead - before.OpMapRead,
		cost.OpMapWrite: after.OpMapWrite - before.OpMapWrite,
		cost.OpEncap:    after.OpEncap - before.OpEncap,
	}
	for op, c := range got {
		want := n * path.Ops[op]
		if max(c, want)-min(c, want) > n/100 || n < uint64(repeat) {
			return 0, fmt.Errorf("path %s: %d packets (%d runs) performed %v, want %v each", path.Name, n, repeat, got, path.Ops)
		}
	}
	return d, nil
}

// median returns the middle of ds (the mean of the two middles for an
// even count); 0 for none.
func median(ds []time.Duration) time.Duration {
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

// BenchPath primes the program's state with path.Prime, then returns
// [Program.BenchWith] of path.Packet with path.Vary.
func (p *Program) BenchPath(path Path, repeat int) (time.Duration, error) {
	for i, pk := range path.Prime {
		if _, err := p.Run(balancer.Encode(pk, path.Payload)); err != nil {
			return 0, fmt.Errorf("xdp: path %s: prime[%d]: %w", path.Name, i, err)
		}
	}
	d, err := p.BenchWith(balancer.Encode(path.Packet, path.Payload), BenchOptions{Repeat: repeat, Vary: path.Vary})
	if err != nil {
		return 0, fmt.Errorf("xdp: path %s: %w", path.Name, err)
	}
	return d, nil
}

// CalibratedModel returns cost.Default()'s prices with one NsPerSTU
// measured on the development machine (kernel 6.18, 2 vCPUs; see the
// package doc's Benchmarks section): the single-scale model. It keeps
// the default's ratio of a map write to a read (3), where the kernel's is
// about 40, so it overprices read-only paths and underprices write
// paths; cost.Calibrated(), fitted per operation by [Calibrate],
// predicts every path (see the package doc's Calibration section).
func CalibratedModel() cost.Model {
	m := cost.Default()
	m.NsPerSTU = calibratedNsPerSTU
	return m
}

// calibratedNsPerSTU is the figure of the Benchmarks section in doc.go.
const calibratedNsPerSTU = 1.12
