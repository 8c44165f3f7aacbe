package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/titanlb/titanlb/balancer"
)

// The wrapper's frame variations (bench_wrapper.h).
const (
	varyNone        = 0
	varyFlow        = 1
	varyDatagram    = 2
	varyFlowPerCPU  = 3
	xdpAborted      = 0
	xdpDrop         = 1
	xdpPass         = 2
	xdpTX           = 3
	ringSize        = 65537
	wrapperProgram  = "kb_bench_entry"
	baselineProgram = "kb_bench_base"
)

// The test traffic: one client, one VIP, three backends.
var (
	client   = netip.MustParseAddr("198.51.100.7")
	vip      = netip.MustParseAddr("192.0.2.10")
	backends = []netip.Addr{netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3")}
)

// path is one kind of packet, measured on every program that has it.
type path struct {
	name    string
	prime   []balancer.Packet // run once through the real entry before every call
	pkt     balancer.Packet
	payload int
	vary    uint32
	titan   bool // measured on Titan too (else Katran only)
	flood   bool // Katran: start the call with its new-connection limiter tripped
}

// paths are the measured paths, named as the project's BenchmarkKernel
// names them.
func paths() []path {
	tcp := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: balancer.TCPAck, IPID: 1}
	udp := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 40001, DstPort: 4789, IPID: 2}
	syn := tcp
	syn.SrcPort, syn.TCPFlags = 40002, balancer.TCPSyn
	first := udp
	first.IPID, first.MoreFragments = 3, true
	nonFirst := first
	nonFirst.SrcPort, nonFirst.DstPort, nonFirst.FragOffset = 0, 0, 185
	return []path{
		{name: "established-tcp", prime: []balancer.Packet{tcp}, pkt: tcp, payload: 100, titan: true},
		{name: "established-udp", prime: []balancer.Packet{udp}, pkt: udp, payload: 100, titan: true},
		{name: "new-flow-tcp", pkt: syn, payload: 100, vary: varyFlow, titan: true},
		{name: "new-flow-tcp-flood", pkt: syn, payload: 100, vary: varyFlow, flood: true},
		{name: "first-fragment", prime: []balancer.Packet{udp}, pkt: first, payload: 1472, vary: varyDatagram, titan: true},
		{name: "non-first-fragment", prime: []balancer.Packet{first}, pkt: nonFirst, payload: 1480, titan: true},
	}
}

// counts are a program's cumulative counters, by name.
type counts map[string]uint64

// sub returns a - b, counter by counter, except that counters whose name
// ends in "_max" (a state, not a count) keep a's value.
func (a counts) sub(b counts) counts {
	d := counts{}
	for k, v := range a {
		if strings.HasSuffix(k, "_max") {
			d[k] = v
		} else {
			d[k] = v - b[k]
		}
	}
	return d
}

// target is one program under the wrapper.
type target interface {
	name() string
	w() *wrapped
	// prepare readies the program's state for calls of p (primes it,
	// resets Katran's new-connection limiter) and returns its counters.
	prepare(p path) (counts, error)
	// counters returns the program's counters summed over the CPUs.
	counters() (counts, error)
	// verify checks, from the counters' growth d over n iterations of p
	// that returned ret, that every iteration took p's path.
	verify(p path, d counts, n int, ret uint32) error
	close()
}

// call measures one BPF_PROG_TEST_RUN call of repeat iterations of p on t
// (base: the wrapper around a nop) on the calling thread's CPU, checks
// the path from t's counters, and returns the kernel's time per iteration.
func call(t target, p path, repeat int, base bool) (time.Duration, error) {
	before, err := t.prepare(p)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", t.name(), p.name, err)
	}
	ret, d, err := t.w().run(p, p.vary, repeat, base)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", t.name(), p.name, err)
	}
	after, err := t.counters()
	if err != nil {
		return 0, err
	}
	delta := after.sub(before)
	if base {
		if ret != xdpPass || delta["packets"] != 0 {
			return 0, fmt.Errorf("%s %s baseline: ret %d, %d packets counted", t.name(), p.name, ret, delta["packets"])
		}
		return d, nil
	}
	if err := t.verify(p, delta, repeat, ret); err != nil {
		return 0, fmt.Errorf("%s %s: %d iterations: %w", t.name(), p.name, repeat, err)
	}
	return d, nil
}

// wrapped is a program compiled with bench_wrapper.h.
type wrapped struct {
	coll  *ebpf.Collection
	entry *ebpf.Program // the unmodified entry, for priming
	bench *ebpf.Program
	base  *ebpf.Program
	cfg   *ebpf.Map
	out   []byte
}

// loadWrapped loads the programs entry, the wrapper and the baseline of
// spec (and the maps they use), after prep has configured spec.
func loadWrapped(spec *ebpf.CollectionSpec, entry string) (*wrapped, error) {
	for name := range spec.Programs {
		if name != entry && name != wrapperProgram && name != baselineProgram {
			delete(spec.Programs, name)
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("%+v", ve)
		}
		return nil, err
	}
	w := &wrapped{coll: coll, entry: coll.Programs[entry], bench: coll.Programs[wrapperProgram],
		base: coll.Programs[baselineProgram], cfg: coll.Maps["kb_cfg"]}
	if w.entry == nil || w.bench == nil || w.base == nil || w.cfg == nil {
		coll.Close()
		return nil, fmt.Errorf("object lacks %s, %s, %s or kb_cfg", entry, wrapperProgram, baselineProgram)
	}
	return w, nil
}

func (w *wrapped) setVary(v uint32) error {
	var st [16]byte
	if err := w.cfg.Lookup(uint32(0), &st); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(st[0:], v)
	return w.cfg.Put(uint32(0), st)
}

func (w *wrapped) run1(frame []byte) error {
	if len(w.out) < len(frame)+512 {
		w.out = make([]byte, len(frame)+512)
	}
	_, err := w.entry.Run(&ebpf.RunOptions{Data: frame, DataOut: w.out, Repeat: 1})
	return err
}

func (w *wrapped) prime(p path) error {
	for i, pk := range p.prime {
		if err := w.run1(balancer.Encode(pk, p.payload)); err != nil {
			return fmt.Errorf("prime[%d]: %w", i, err)
		}
	}
	return nil
}

// run runs the wrapper (or the baseline) repeat times on p's frame with
// variation vary.
func (w *wrapped) run(p path, vary uint32, repeat int, base bool) (uint32, time.Duration, error) {
	if err := w.setVary(vary); err != nil {
		return 0, 0, err
	}
	prog := w.bench
	if base {
		prog = w.base
	}
	ret, d, err := prog.Benchmark(balancer.Encode(p.pkt, p.payload), repeat, nil)
	if err != nil {
		return ret, d, err
	}
	if ret == xdpAborted {
		return ret, d, errors.New("wrapper aborted")
	}
	return ret, d, nil
}

// near reports whether c is within 1% of n.
func near(c, n uint64) bool { return max(c, n)-min(c, n) <= n/100 }
