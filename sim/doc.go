// Package sim is TitanLB's discrete-event simulator: it drives a
// [balancer.Balancer] with generated client traffic or a captured [Trace]
// on a simulated XDP load balancer node, or a [Fleet] of them behind an
// ECMP router, and measures what reaches the backends.
//
// It imports [github.com/titanlb/titanlb/balancer], [github.com/titanlb/titanlb/cost]
// and [github.com/titanlb/titanlb/frag] (its backends reassemble), never a
// balancer implementation: [Run] takes a constructor, so Titan, Katran,
// Cilium and the kernel program (xdp.NewBalancer) run the same scenarios.
// Traces are read and written with gopacket's pure-Go pcapgo
// ([github.com/gopacket/gopacket/pcapgo]: no libpcap, no cgo).
//
// # Using it
//
// A [Scenario] is plain data (JSON-friendly): backends and their
// [Traffic] (IPv4, and IPv6 by Traffic.IPv6Share), or [ServiceTraffic]
// services each with its own traffic, a [Node] (or a [Fleet] of them),
// timed control events ([Event]) and attacks ([Attack]). Zero fields take
// documented defaults (DefaultFlows,
// DefaultRate, ...), so a scenario with just Backends and a Duration
// runs; [Scenario.Validate] rejects bad input with a [*ScenarioError]
// naming the field ("sim: scenario.traffic.mtu 20: must be at least 68").
//
// [Run] simulates one scenario and returns a [Result]: Reliability
// (datagrams a backend got whole), FragmentAccuracy, Affinity, flows
// disrupted, cost per packet (STU and ns), latency percentiles, drops by
// reason, load per backend and per CPU, and [AttackResult],
// [FleetResult] and a [ServiceResult] per service when the scenario has
// attacks, a fleet or services. [Sweep] runs
// many scenarios on all cores. [ReadTrace] reads a pcap or pcapng file
// into a Trace to replay as Traffic.Trace; [RunRecorded] also returns
// every packet's fate, which [WriteDecisions] and [WriteDropped] write as
// captures for Wireshark. The [Scheduler] underneath is usable alone.
//
// # Guarantees
//
//   - Deterministic: every random choice comes from generators seeded by
//     Scenario.Seed, drawn in event order; time ties run first in, first
//     out; nothing depends on map iteration or the wall clock. The same
//     scenario and balancer give the same Result, and its JSON is
//     byte-identical; [Sweep]'s results equal sequential runs. (Per
//     platform: math.Pow may differ in the last bit between CPUs.)
//   - No allocation per packet: a run allocates its queues and tables up
//     front and as they grow to their working size; then a packet's path
//     does not allocate ([RunRecorded] keeps every packet, by design).
//   - Bounded memory: 8 bytes per flow (16 with Zipf), queues bounded by
//     Node.QueueLen, backends' reassembly by Scenario.Reassembly, traces
//     by [MaxTraceBytes] and [MaxTracePackets] (compressed ones by
//     [MaxGzipRatio] too).
//   - Bad input is an error naming the field, or, for a trace frame that
//     does not decode, a counted drop ([DropUndecodable]); never a panic.
//
// # More
//
// docs/simulation.md holds the model in detail (clients, fragments, RSS,
// queues, backends, what is not modelled), each metric's exact
// definition, the attack, fault and fleet tables, how a trace is
// replayed, and the performance figures, each with the command that
// reproduces it.
package sim
