package xdp

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/titanlb/titanlb/balancer"
)

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu" -target bpfel -type counters -type backend -type frag_way -type frag_set -type conn_way -type conn_set -type hint_way -type hint_set -type svc_key -type svc -type bench_state titan titan.c

// ErrNotPermitted is wrapped by [Load] when the kernel refuses for lack of
// privileges (loading needs root, or CAP_BPF with CAP_NET_ADMIN). The same
// error also matches [os.ErrPermission].
var ErrNotPermitted = errors.New("not permitted (needs root or CAP_BPF+CAP_NET_ADMIN)")

// Errors from [Program.SetBackends] and [Program.Run].
var (
	ErrDuplicateAddr = errors.New("duplicate address")
	ErrBadBackend    = errors.New("backend id not below Options.MaxBackends")
	ErrUnknownOuter  = errors.New("outer destination is no backend")
	ErrClosed        = errors.New("program closed")
)

// outerLen and outerLen6 are the sizes of the outer headers IPIP and
// IPv6-in-IPv6 add.
const (
	outerLen  = 20
	outerLen6 = 40
)

// Program is the TitanLB XDP program loaded into the kernel with its maps.
// It is not safe for concurrent use by several goroutines (the kernel
// program itself runs on every CPU at once, its maps are shared).
type Program struct {
	opts   Options
	objs   datapathObjects
	prog   *ebpf.Program // the datapath Run and Attach use
	wrap   *wrappers     // the benchmark wrappers, loaded by the first Bench
	ids    map[netip.Addr]balancer.BackendID
	arr    []titanBackend  // the backends array as last written
	half   int             // the ring and membership half the current set uses
	keys   []titanSvcKey   // the services map's keys of the current set
	out    []byte          // Run's reused output buffer
	per    []titanCounters // per-CPU stats, reused
	closed bool
	// hz is the kernel's tick rate as Load measured it (0 for the
	// stateless variant).
	hz float64
}

// RunResult is the outcome of one [Program.Run].
type RunResult struct {
	// Action is Forward for XDP_TX, Pass for XDP_PASS, Drop for XDP_DROP.
	Action balancer.Action
	// Backend is the backend the outer header's destination address
	// belongs to, when Action is Forward.
	Backend balancer.BackendID
	// Out is the frame after the program: encapsulated when forwarded.
	Out []byte
	// Ret is the program's raw XDP return code.
	Ret uint32
}

// Load loads the Titan program with opts (zero fields take their defaults;
// an invalid field is an error naming it). The program forwards nothing
// until [Program.SetBackends]: every ring slot is empty. Loading needs
// root or CAP_BPF+CAP_NET_ADMIN; without them the error wraps
// [ErrNotPermitted]. A verifier rejection wraps the *ebpf.VerifierError,
// whose %+v prints the whole log. Load first measures the kernel's tick
// rate, in which the fragment table ages its entries (see
// [Options.FragTimeout]): five ticks, 20 ms at HZ 250. It loads the
// datapath of the variant asked for and nothing else: the benchmark
// wrappers wait for the first [Program.Bench].
func Load(opts Options) (*Program, error) {
	o, spec, hz, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	p := &Program{opts: o, ids: map[netip.Addr]balancer.BackendID{}, hz: hz}
	if p.objs, p.prog, err = loadDatapath(spec, o, nil); err != nil {
		return nil, err
	}
	if err := p.init(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// init empties the ring, fills the orphan credit and writes the VIPs.
func (p *Program) init() error {
	if err := p.objs.Credit.Put(uint32(0), int64(p.opts.OrphanCredits)); err != nil {
		return fmt.Errorf("xdp: write orphan credit: %w", err)
	}
	slots := make([]uint32, p.opts.RingSize)
	for i := range slots {
		slots[i] = balancer.RingNone
	}
	if err := writeArray(p.objs.Ring, slots); err != nil { // the IPv4 catch-all of svc_family's default
		return fmt.Errorf("xdp: write ring: %w", err)
	}
	for i, v := range p.opts.VIPs {
		if err := p.objs.Vips.Put(be32(v), uint32(1)); err != nil {
			return fmt.Errorf("xdp: write options.VIPs[%d] %v: %w", i, v, err)
		}
	}
	return nil
}

// writeArray writes vals to an ARRAY map at keys 0..len-1, in batches when
// the kernel supports it.
func writeArray[V any](m *ebpf.Map, vals []V) error { return writeArrayAt(m, 0, vals) }

// writeArrayAt writes vals to an ARRAY map at keys from..from+len-1.
func writeArrayAt[V any](m *ebpf.Map, from uint32, vals []V) error {
	keys := make([]uint32, len(vals))
	for i := range keys {
		keys[i] = from + uint32(i)
	}
	_, err := m.BatchUpdate(keys, vals, nil)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ebpf.ErrNotSupported) {
		return err
	}
	for i := range vals {
		if err := m.Put(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// Options returns the options the program was loaded with, defaults filled
// in.
func (p *Program) Options() Options {
	o := p.opts
	o.VIPs = append([]netip.Addr(nil), o.VIPs...)
	return o
}

// Run runs the program once on the Ethernet frame pkt with
// BPF_PROG_TEST_RUN and returns what it did. Out is a fresh copy of the
// frame after the program.
func (p *Program) Run(pkt []byte) (RunResult, error) {
	res, err := p.run(p.prog, pkt)
	res.Out = append([]byte(nil), res.Out...)
	return res, err
}

// run is Run without the copy: res.Out aliases p.out.
func (p *Program) run(prog *ebpf.Program, pkt []byte) (RunResult, error) {
	if p.closed {
		return RunResult{}, fmt.Errorf("xdp: run: %w", ErrClosed)
	}
	if n := len(pkt) + outerLen6 + 256; cap(p.out) < n {
		p.out = make([]byte, n)
	}
	opts := ebpf.RunOptions{Data: pkt, DataOut: p.out[:cap(p.out)], Repeat: 1}
	ret, err := prog.Run(&opts)
	if err != nil {
		return RunResult{}, fmt.Errorf("xdp: run %d-byte frame: %w", len(pkt), err)
	}
	res := RunResult{Ret: ret, Out: opts.DataOut}
	switch ret {
	case xdpDrop:
		res.Action = balancer.Drop
	case xdpPass:
		res.Action = balancer.Pass
	case xdpTX:
		res.Action = balancer.Forward
		a, err := outerDst(res.Out)
		if err != nil {
			return res, err
		}
		id, ok := p.ids[a]
		if !ok {
			return res, fmt.Errorf("xdp: run: %w: %v", ErrUnknownOuter, a)
		}
		res.Backend = id
	default:
		return res, fmt.Errorf("xdp: run: unexpected XDP action %d", ret)
	}
	return res, nil
}

// outerDst returns the destination of the outer header of a frame the
// program encapsulated: IPIP, or IPv6-in-IPv6.
func outerDst(o []byte) (netip.Addr, error) {
	ip := o[min(len(o), balancer.EthLen):]
	switch {
	case len(ip) >= outerLen && o[12] == 0x08 && o[13] == 0x00 && ip[9] == 4:
		return netip.AddrFrom4([4]byte(ip[16:20])), nil
	case len(ip) >= outerLen6 && o[12] == 0x86 && o[13] == 0xdd && ip[6] == 41:
		return netip.AddrFrom16([16]byte(ip[24:40])), nil
	}
	return netip.Addr{}, fmt.Errorf("xdp: run: XDP_TX without an IPIP or IPv6-in-IPv6 header (%d bytes)", len(o))
}

// XDP return codes (include/uapi/linux/bpf.h, enum xdp_action).
const (
	xdpAborted = 0
	xdpDrop    = 1
	xdpPass    = 2
	xdpTX      = 3
)

// Attach attaches the program to the network interface ifindex (in the
// calling thread's network namespace) in the given [AttachMode]: at most
// one; none means [AttachDefault], the kernel's choice. Closing the
// returned link detaches the program.
func (p *Program) Attach(ifindex int, mode ...AttachMode) (io.Closer, error) {
	if p.closed {
		return nil, fmt.Errorf("xdp: attach: %w", ErrClosed)
	}
	return attach("titan", p.prog, ifindex, mode)
}

// Close releases the program and its maps. A link from [Program.Attach]
// keeps the program attached until it is closed itself.
func (p *Program) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	return p.close()
}

// close releases the program, its maps and the wrappers.
func (p *Program) close() error {
	var err error
	if p.wrap != nil {
		err = p.wrap.Close()
	}
	return errors.Join(err, p.prog.Close(), p.objs.Close())
}
