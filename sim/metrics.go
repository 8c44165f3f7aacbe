package sim

import (
	"math/bits"

	"github.com/titanlb/titanlb/cost"
)

// Result is what a run measured. Every figure comes out of the simulation;
// docs/simulation.md (Metrics) has each exact definition.
// Ratios whose denominator is 0 are 0, so a Result never holds NaN or Inf
// and always marshals to JSON; maps marshal with sorted keys, so identical
// runs give byte-identical JSON.
type Result struct {
	// Balancer is the balancer's Name.
	Balancer string
	// Seed and Duration echo the scenario (Duration after defaults);
	// End is the simulated time when the last queued packet was done.
	Seed     int64
	Duration Time
	End      Time

	// Datagrams, Packets and Fragments were sent by the clients
	// (Fragments: packets that are fragments; Packets counts them too).
	Datagrams, Packets, Fragments uint64
	// Processed is the packets the balancer ran on; Delivered those that
	// reached an up backend.
	Processed, Delivered uint64
	// Whole is the datagrams a backend received whole: delivered
	// unfragmented, or reassembled from fragments of that datagram only.
	Whole uint64

	Reliability      float64 // Whole / Datagrams
	FragmentAccuracy float64 // fragments delivered to their datagram's first-fragment backend / Fragments
	Affinity         float64 // delivered packets that reached their flow's backend / Delivered

	// AvgCost is the STU per processed packet; CostP50 and CostP99 the
	// median and 99th percentile of the per-packet cost.
	AvgCost          float64
	CostP50, CostP99 cost.STU
	// AvgNs is AvgCost in nanoseconds under the scenario's cost model
	// (AvgCost × NsPerSTU): with cost.Calibrated(), the kernel's
	// predicted time per packet.
	AvgNs float64
	// CostByOp is the STU spent per operation (cost.Op names), OpCounts
	// how many times each was charged; operations never charged are left
	// out.
	CostByOp map[string]uint64
	OpCounts map[string]uint64

	// Drops counts lost packets (or, for reassembly reasons, fragments and
	// datagrams) by reason: the Drop constants, the balancer's
	// Decision.Reason, and "reassembly: " + each frag.DropReason.
	Drops map[string]uint64

	// LatencyP50 and LatencyP99 are percentiles of the time from a packet's
	// arrival at the node to the end of its processing (queueing plus
	// service), over processed packets.
	LatencyP50, LatencyP99 Time
	// Throughput is Delivered per second of Duration.
	Throughput float64
	// CPUUtil is each CPU's busy time / End (in a Fleet, node by node:
	// node n's CPUs are n·Node.CPUs onwards).
	CPUUtil []float64

	// PerBackend counts delivered packets by backend name (RingName).
	PerBackend map[string]uint64
	// Imbalance is the most packets any backend got over the mean of the
	// backends that got any (1: perfectly even).
	Imbalance float64
	// Disrupted counts flows whose packets carrying ports reached a backend
	// other than the flow's while that backend was still usable (up):
	// flows moved that did not have to move (the Maglev paper's measure).
	Disrupted uint64
	// NewFlows counts the flows that replaced others (Traffic.FlowChurn).
	NewFlows uint64
	// Moved counts the moves that had to happen: a packet of a flow
	// delivered while the flow's backend was down.
	Moved uint64

	// Attack counts the packets of Scenario.Attacks, which every other
	// field but the reassembly drops leaves out.
	Attack AttackResult `json:",omitzero"`

	// Fleet is the per-node load and the node-change figures of a run
	// with a Scenario.Fleet (see [FleetResult]); zero without one.
	Fleet FleetResult `json:",omitzero"`

	// Services reports each service of Scenario.Services, keyed by its
	// key's String ("192.0.2.1:80/tcp", "[2001:db8::1]:443/udp"); nil
	// without services. Every other field is the total over all
	// traffic.
	Services map[string]ServiceResult `json:",omitempty"`
}

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// histogram is a log-linear histogram of non-negative integers: values
// below 1024 are counted exactly; above, each power of two is split into
// 128 buckets (relative error below 1%). It never allocates after
// creation.
type histogram struct {
	exact [1024]uint64
	log   [64 - 10][128]uint64
	n     uint64
}

func (h *histogram) add(v uint64) {
	h.n++
	if v < 1024 {
		h.exact[v]++
		return
	}
	e := 63 - bits.LeadingZeros64(v) // >= 10
	h.log[e-10][(v>>(e-7))&127]++
}

// quantile returns the smallest value v such that at least q of the
// samples are <= v (for bucketed values, the bucket's lower bound); 0 for
// an empty histogram.
func (h *histogram) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for v, c := range h.exact {
		seen += c
		if seen >= rank {
			return uint64(v)
		}
	}
	for e := range h.log {
		for m, c := range h.log[e] {
			seen += c
			if seen >= rank {
				exp := uint(e + 10)
				return 1<<exp | uint64(m)<<(exp-7)
			}
		}
	}
	return 0
}

// counts counts events by reason, as a map[string]uint64 would, without
// hashing the reason at each count: a run's reasons are a few strings,
// found by a short scan that compares the (usually shared) string data
// first. A reason is counted in [counts.into] only once counted.
type counts struct {
	reasons []string
	n       []uint64
}

// add counts one event for reason.
func (c *counts) add(reason string) {
	for i, r := range c.reasons {
		if r == reason {
			c.n[i]++
			return
		}
	}
	c.reasons = append(c.reasons, reason)
	c.n = append(c.n, 1)
}

// into adds the counts to m and returns it.
func (c *counts) into(m map[string]uint64) map[string]uint64 {
	for i, r := range c.reasons {
		m[r] += c.n[i]
	}
	return m
}
