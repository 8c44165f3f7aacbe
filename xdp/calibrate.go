package xdp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// Path is one datapath path of the program that [Calibrate] measures: a
// frame, how the benchmark wrapper varies it, the packets that set up the
// state it runs against, and the operations the program performs on it
// (the ones balancer/titan charges for the same packet; a test checks
// they agree).
type Path struct {
	Name      string
	Stateless bool                // measured on the stateless variant
	Vary      Vary                // see [BenchOptions]
	Ops       [cost.NumOps]uint64 // operations per packet on this path
	Prime     []balancer.Packet   // run once before measuring
	Packet    balancer.Packet     // the measured packet
	Payload   int                 // payload bytes after its headers
}

// STU prices p's operations with m.
func (p Path) STU(m cost.Model) cost.STU {
	var s cost.STU
	for op, n := range p.Ops {
		s += cost.STU(n) * m.Cost(cost.Op(op))
	}
	return s
}

func ops(hash, reads, writes, encap uint64) [cost.NumOps]uint64 {
	var o [cost.NumOps]uint64
	o[cost.OpHash], o[cost.OpMapRead], o[cost.OpMapWrite], o[cost.OpEncap] = hash, reads, writes, encap
	return o
}

// Paths returns the measured paths, with the default options (no VIPs,
// OrphanHostHint). Reads include the per-CPU stats lookup every packet
// makes.
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
		// stats, frag (miss), conn (hit), backend; frag write.
		{Name: "first-fragment", Vary: VaryDatagram, Ops: ops(1, 4, 1, 1), Prime: []balancer.Packet{udp}, Packet: first, Payload: 1472},
		// stats, frag (hit), backend.
		{Name: "non-first-fragment", Ops: ops(0, 3, 0, 1), Prime: []balancer.Packet{first}, Packet: nonFirst, Payload: 1480},
		// stats, frag (miss), hint (hit), backend; frag write.
		{Name: "orphan-fragment", Vary: VaryDatagram, Ops: ops(0, 4, 1, 1), Prime: []balancer.Packet{udp}, Packet: nonFirst, Payload: 1480},
		// stats, ring, backend; hash; encap.
		{Name: "stateless-tcp", Stateless: true, Ops: ops(1, 3, 0, 1), Packet: tcp, Payload: 100},
		// stats; dropped.
		{Name: "stateless-fragment", Stateless: true, Ops: ops(0, 1, 0, 0), Packet: nonFirst, Payload: 1480},
	}
}

// Measurement is one path's kernel time.
type Measurement struct {
	Path     Path
	Gross    time.Duration // per packet, benchmark wrapper included
	Net      time.Duration // Gross minus the wrapper's own time
	STU      cost.STU      // the path's price under cost.Default()
	NsPerSTU float64       // Net / STU
}

// Calibration is the result of [Calibrate].
type Calibration struct {
	Wrapper      time.Duration // the benchmark wrapper's own time per packet
	Measurements []Measurement
	// Model is cost.Default() with NsPerSTU set to the STU-weighted mean
	// of the paths' ns per STU: total net time / total STU. It keeps the
	// default's relative prices.
	Model cost.Model
}

// Calibrate loads the program and its stateless variant, measures every
// path of [Paths] with repeat iterations (0: 100,000) of the benchmark
// wrapper, subtracts the wrapper's own time and prices the paths with
// cost.Default(). It needs the privileges [Load] needs.
func Calibrate(repeat int) (Calibration, error) {
	if repeat == 0 {
		repeat = 100_000
	}
	var c Calibration
	bs := []balancer.Backend{
		{ID: 1, Name: "1", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 1}), Weight: 1, Up: true},
		{ID: 2, Name: "2", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 2}), Weight: 1, Up: true},
		{ID: 3, Name: "3", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 3}), Weight: 1, Up: true},
	}
	progs := map[bool]*Program{}
	for _, stateless := range []bool{false, true} {
		p, err := Load(Options{Stateless: stateless})
		if err != nil {
			return c, err
		}
		defer p.Close()
		if err := p.SetBackends(bs); err != nil {
			return c, err
		}
		progs[stateless] = p
	}
	base := balancer.Encode(Paths()[0].Packet, 100)
	w, err := progs[false].BenchWith(base, BenchOptions{Repeat: repeat, Baseline: true})
	if err != nil {
		return c, err
	}
	c.Wrapper = w
	def := cost.Default()
	var net time.Duration
	var stu cost.STU
	for _, path := range Paths() {
		p := progs[path.Stateless]
		d, err := p.BenchPath(path, repeat)
		if err != nil {
			return c, err
		}
		m := Measurement{Path: path, Gross: d, Net: d - w, STU: path.STU(def)}
		if m.STU > 0 {
			m.NsPerSTU = float64(m.Net) / float64(m.STU)
		}
		net += m.Net
		stu += m.STU
		c.Measurements = append(c.Measurements, m)
	}
	c.Model = def
	if stu > 0 && net > 0 {
		c.Model.NsPerSTU = float64(net) / float64(stu)
	}
	return c, nil
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

// CalibratedModel returns cost.Default()'s prices with NsPerSTU measured
// by [Calibrate] on the development machine (kernel 6.18, 2 vCPUs; see
// the package doc's Benchmarks section): simulated service times in
// nanoseconds of this kernel. Re-run Calibrate for another machine.
func CalibratedModel() cost.Model {
	m := cost.Default()
	m.NsPerSTU = calibratedNsPerSTU
	return m
}

// calibratedNsPerSTU is the figure of the Benchmarks section in doc.go.
const calibratedNsPerSTU = 1.12
