package xdp

import (
	"github.com/titanlb/titanlb/balancer"
)

// Balancer is the kernel program as a [balancer.Balancer]: each packet is
// encoded as a frame, run once through the program with
// BPF_PROG_TEST_RUN, and the outcome read back as a [balancer.Decision].
// It is what the parity tests and sim.Run drive. Process charges nothing to
// env.Meter (the kernel's work is not metered; [CalibratedModel] prices
// the Go model's operations from kernel measurements instead) and does not
// look at env.Now: the kernel uses its own clock, so parity holds on runs
// shorter than the fragment timeout.
type Balancer struct {
	p      *Program
	buf    []byte
	before Stats
	err    error
}

var _ balancer.Balancer = (*Balancer)(nil)

// NewBalancer returns the [Balancer] of p. p must not be used elsewhere
// while the balancer runs packets.
func NewBalancer(p *Program) balancer.Balancer {
	b := &Balancer{p: p, buf: make([]byte, balancer.EthLen+65535)}
	b.before, b.err = p.Stats()
	return b
}

// Name returns "titan-xdp".
func (b *Balancer) Name() string { return "titan-xdp" }

// SetBackends forwards to [Program.SetBackends].
func (b *Balancer) SetBackends(bs []balancer.Backend) error { return b.p.SetBackends(bs) }

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
	payload := int(p.Len) - balancer.IPv4Len
	if p.FragOffset == 0 {
		switch p.Proto {
		case balancer.ProtoTCP:
			payload -= balancer.TCPLen
		case balancer.ProtoUDP:
			payload -= balancer.UDPLen
		}
	}
	n := balancer.EncodeTo(b.buf, *p, max(payload, 0))
	if n == 0 {
		return balancer.Decision{Action: balancer.Drop, Reason: balancer.ReasonMalformed}
	}
	res, err := b.p.run(b.p.prog, b.buf[:n])
	if err != nil {
		if b.err == nil {
			b.err = err
		}
		return balancer.Decision{Action: balancer.Drop, Reason: ReasonKernel}
	}
	switch res.Action {
	case balancer.Forward:
		return balancer.Decision{Action: balancer.Forward, Backend: res.Backend}
	case balancer.Pass:
		return balancer.Decision{Action: balancer.Pass}
	}
	// Drop counters move only on drops: the delta since the last drop
	// names this one.
	s, err := b.p.Stats()
	if err != nil {
		if b.err == nil {
			b.err = err
		}
		return balancer.Decision{Action: balancer.Drop, Reason: ReasonKernel}
	}
	reason := s.dropReason(b.before)
	b.before = s
	if reason == "" {
		reason = balancer.ReasonMalformed
	}
	return balancer.Decision{Action: balancer.Drop, Reason: reason}
}
