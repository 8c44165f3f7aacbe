package xdp

import (
	"fmt"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// Balancer is the kernel program as a [balancer.Balancer]: each packet is
// encoded as a frame, run once through the program with
// BPF_PROG_TEST_RUN, and the outcome read back as a [balancer.Decision].
// It is what the parity tests and sim.Run drive. When env.Meter is set,
// Process charges it the operations the program counted for the packet
// (its op_* counters, read back per packet), so a run costs what it costs
// under titan. It does not look at env.Now: the kernel uses its own clock,
// so parity holds on runs shorter than the fragment timeout.
type Balancer struct {
	p      *Program
	rd     *percpuReader
	buf    []byte
	before Stats // the counters after the last packet read them
	fresh  bool  // before was read right after the previous packet
	err    error
}

var (
	_ balancer.Balancer      = (*Balancer)(nil)
	_ balancer.ServiceSetter = (*Balancer)(nil)
	_ balancer.ServiceSetter = (*Program)(nil)
)

// NewBalancer returns the [Balancer] of p. p must not be used elsewhere
// while the balancer runs packets.
func NewBalancer(p *Program) balancer.Balancer {
	b := &Balancer{p: p, buf: make([]byte, balancer.EthLen+65535)}
	b.rd, b.err = newPercpuReader(p.objs.Stats)
	if b.err == nil {
		b.read()
	}
	return b
}

// Name returns "titan-xdp".
func (b *Balancer) Name() string { return "titan-xdp" }

// SetBackends forwards to [Program.SetBackends].
func (b *Balancer) SetBackends(bs []balancer.Backend) error { return b.p.SetBackends(bs) }

// SetServices forwards to [Program.SetServices].
func (b *Balancer) SetServices(ss []balancer.Service) error { return b.p.SetServices(ss) }

// Err returns the first error a Process call met (the kernel refused to
// run the program, or forwarded to an unknown address), or nil. Process
// turns such packets into drops with reason [ReasonKernel].
func (b *Balancer) Err() error { return b.err }

// ReasonKernel is the drop reason of a packet the kernel could not run;
// see [Balancer.Err].
const ReasonKernel = "xdp: run failed"

// Process encodes p with [balancer.EncodeTo] (the payload length follows
// from p.Len), runs the frame and maps XDP_TX to Forward with the backend
// read from the outer header, XDP_PASS to Pass, XDP_DROP to Drop with the
// reason read from the stats counters that moved.
func (b *Balancer) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	if p == nil {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonMalformed}
	}
	if p.Src.Is4() != p.Dst.Is4() && p.Src.IsValid() && p.Dst.IsValid() {
		// No frame carries addresses of two families (Encode would
		// write one of them as the unspecified address): titan passes
		// such a packet, and so does this balancer, without the kernel.
		return balancer.Decision{Action: balancer.Pass}
	}
	// The payload follows from p.Len: what its headers leave.
	payload := int(p.Len) - (balancer.EncodedLen(*p, 0) - balancer.EthLen)
	n := balancer.EncodeTo(b.buf, *p, max(payload, 0))
	if n == 0 {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonMalformed}
	}
	var m *cost.Meter
	if env != nil {
		m = env.Meter
	}
	if m != nil && !b.fresh {
		if !b.read() {
			return balancer.Decision{Action: balancer.Drop, Reason: ReasonKernel}
		}
	}
	res, err := b.p.run(b.p.prog, b.buf[:n])
	if err != nil {
		b.fail(err)
		return balancer.Decision{Action: balancer.Drop, Reason: ReasonKernel}
	}
	b.fresh = false
	if m == nil && res.Action != balancer.Drop {
		switch res.Action {
		case balancer.Forward:
			return balancer.Decision{Action: balancer.Forward, Backend: res.Backend}
		default:
			return balancer.Decision{Action: balancer.Pass}
		}
	}
	// Drop counters move only on drops, so the delta since the last read
	// names this drop even when packets in between were not read.
	prev := b.before
	if !b.read() {
		return balancer.Decision{Action: balancer.Drop, Reason: ReasonKernel}
	}
	if m != nil {
		now, was := b.before.Ops(), prev.Ops()
		for op := range cost.NumOps {
			charge(m, op, now[op]-was[op])
		}
	}
	switch res.Action {
	case balancer.Forward:
		return balancer.Decision{Action: balancer.Forward, Backend: res.Backend}
	case balancer.Pass:
		return balancer.Decision{Action: balancer.Pass}
	}
	reason := b.before.dropReason(prev)
	if reason == "" {
		reason = balancer.ReasonMalformed
	}
	return balancer.Decision{Action: balancer.Drop, Reason: reason}
}

// read refreshes b.before (drop and op counters only) from the kernel;
// false (and Err set) on failure.
func (b *Balancer) read() bool {
	if b.rd == nil || b.p.closed {
		b.fail(fmt.Errorf("xdp: read stats: %w", ErrClosed))
		return false
	}
	s, err := b.rd.read()
	if err != nil {
		b.fail(err)
		return false
	}
	b.before, b.fresh = s, true
	return true
}

func (b *Balancer) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// charge charges op n times.
func charge(m *cost.Meter, op cost.Op, n uint64) {
	for range n {
		m.Charge(op)
	}
}
