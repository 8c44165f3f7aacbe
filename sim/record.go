package sim

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
)

// Verdict is what became of one packet that arrived at the node in a
// recorded run ([RunRecorded]).
type Verdict struct {
	// Arrive is its arrival at the node; Leave the end of its service
	// (Arrive when the balancer never ran on it: a full queue, a frame
	// that does not decode).
	Arrive, Leave Time
	// Frame is the packet as it arrived: the trace's frame, or for
	// generated traffic its header encoded as [balancer.Encode] does (cut
	// to the IPv4 total length when that is shorter than the headers, as
	// for tiny-fragment attacks).
	Frame []byte
	// Action, Backend are the balancer's decision (Drop when it never
	// ran); Addr is the backend's address when forwarded to a known
	// backend.
	Action  balancer.Action
	Backend balancer.BackendID
	Addr    netip.Addr
	// Reason is why the packet did not reach a backend, as counted in
	// Result.Drops (or Result.Attack.Drops); "" when delivered.
	Reason string
	// Attack marks packets of Scenario.Attacks.
	Attack bool
}

// Recording is every packet of a recorded run, in arrival order.
type Recording struct {
	// Start is the wall-clock time of simulated time 0: the trace's
	// Start, or the zero Time (written as the Unix epoch).
	Start    time.Time
	Verdicts []Verdict
}

// Trace returns the recorded arrivals as a [Trace]: replaying it (as
// Traffic.Trace, with the same Duration, backends, node and events)
// repeats the run's decisions packet for packet.
func (rec *Recording) Trace() Trace {
	tr := Trace{Start: rec.Start, Packets: make([]TracePacket, len(rec.Verdicts))}
	for i, v := range rec.Verdicts {
		tr.Packets[i] = TracePacket{At: v.Arrive, Frame: v.Frame}
	}
	return tr
}

// recorder collects a run's verdicts.
type recorder struct {
	r  *runner
	vs []Verdict
}

// install makes the recorder watch r's packets (hooks.go).
func (rc *recorder) install(r *runner) {
	rc.r = r
	r.on.arrive = append(r.on.arrive, rc.arrive)
	r.on.leave = append(r.on.leave, rc.leave)
	r.on.drop = append(r.on.drop, rc.drop)
}

// arrive records p's arrival and numbers it; frame is its captured frame,
// or nil to encode its header.
func (rc *recorder) arrive(p *packet, frame []byte) {
	p.seq = uint32(len(rc.vs))
	if frame == nil {
		frame = wireFrame(&p.hdr)
	}
	rc.vs = append(rc.vs, Verdict{Arrive: p.arrive, Leave: p.arrive, Frame: frame, Attack: p.attack})
}

// leave records the balancer's decision on p.
func (rc *recorder) leave(_ int, p *packet, dec *balancer.Decision) {
	r := rc.r
	v := &rc.vs[p.seq]
	v.Leave = r.sched.Now()
	v.Action = dec.Action
	if dec.Action == balancer.Forward {
		v.Backend = dec.Backend
		if i := r.backendIndex(dec.Backend); i >= 0 {
			v.Addr = r.backends[i].b.Addr
		}
	}
}

// drop records why p was lost.
func (rc *recorder) drop(p *packet, reason string) {
	rc.vs[p.seq].Reason = reason
}

// wireFrame encodes a generated header as its frame: Encode with the
// payload that makes the IP length h.Len, or, when h.Len is shorter than
// the IPv4 headers Encode writes (tiny-fragment attacks), Encode's frame
// cut to h.Len with the total length and checksum fixed.
func wireFrame(h *balancer.Packet) []byte {
	payload := int(h.Len) - (balancer.EncodedLen(*h, 0) - balancer.EthLen)
	f := balancer.Encode(*h, max(payload, 0))
	if payload >= 0 || int(h.Len) < balancer.IPv4Len || !h.Src.Is4() {
		return f
	}
	f = f[:balancer.EthLen+int(h.Len)]
	ip := f[balancer.EthLen:]
	binary.BigEndian.PutUint16(ip[2:4], h.Len)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:12], balancer.Checksum(ip[:balancer.IPv4Len], 0))
	return f
}

// RunRecorded is [Run] that also records every packet's arrival, frame
// and fate, for [WriteDecisions], [WriteDropped] and [Recording.Trace].
// The Result equals Run's. The recording holds every packet of the run:
// its memory grows with the traffic.
func RunRecorded(sc Scenario, newLB func() (balancer.Balancer, error)) (Result, Recording, error) {
	rec := &recorder{}
	res, err := run(sc, newLB, rec)
	if err != nil {
		return Result{}, Recording{}, err
	}
	return res, Recording{Start: sc.Traffic.Trace.Start, Verdicts: rec.vs}, nil
}
