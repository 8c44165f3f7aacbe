package sim

import "github.com/titanlb/titanlb/balancer"

// hooks are where a run's optional parts join the packet's path: a
// [Fleet] (fleet.go), a recording ([RunRecorded], record.go), the traffic
// source (generated, traffic.go, or a trace, replay.go) and
// [Scenario.Attacks] (attack.go). Each installs its functions at setup
// ([newRunner]), in a fixed order, and the path calls whatever is
// installed, in that order. A part that is off installs nothing: the path
// then loops over an empty slice, no nil check, no call.
//
// Attack packets are not a hook: they are a class of packet
// (packet.attack) that the path counts apart from the legitimate ones.
type hooks struct {
	// start posts the first events of what runs over time, in this
	// order (simultaneous events run first in, first out): the fleet's
	// node events, the traffic's first arrival (and flow churn), each
	// attack's first datagram.
	start []func()
	// arrive sees each packet reach the node, before the NIC picks its
	// CPU; frame is its captured frame, nil for a generated packet. It
	// may number the packet (packet.seq).
	arrive []func(p *packet, frame []byte)
	// leave sees CPU c end p's service with decision dec, which it may
	// change (a packet in service on a failed node is lost).
	leave []func(c int, p *packet, dec *balancer.Decision)
	// drop sees packet p lost for reason, before it is counted.
	drop []func(p *packet, reason string)
	// deliver sees legitimate packet p reach backend index i, before the
	// flow's backend is scored.
	deliver []func(p *packet, i int32)
	// finish adds the part's own figures to the Result.
	finish []func(res *Result)
}
