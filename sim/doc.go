// Package sim is TitanLB's discrete-event simulator: it drives a
// [balancer.Balancer] with generated client traffic on a simulated XDP load
// balancer node and measures what reaches the backends.
//
// It imports [github.com/titanlb/titanlb/balancer], [github.com/titanlb/titanlb/cost]
// and [github.com/titanlb/titanlb/frag] (its backends reassemble), never a
// balancer implementation: [Run] takes a constructor, so Titan, Katran,
// Cilium and the kernel program (xdp.NewBalancer) run the same scenarios.
//
// # Using it
//
// A [Scenario] is plain data (JSON-friendly): backends, [Traffic], a [Node]
// and timed control [Event]s. [Run] simulates one and returns a [Result];
// [Sweep] runs many on all cores. Zero fields take documented defaults
// (DefaultFlows, DefaultRate, ...), so a scenario with just Backends and a
// Duration runs; [Scenario.Validate] rejects bad input with a
// [*ScenarioError] naming the field ("sim: scenario.traffic.mtu 20: must be
// at least 68").
//
// # The model
//
// Simulated time is a [Time] (a time.Duration since the start). A
// [Scheduler] orders events by (time, insertion sequence).
//
// Clients. Traffic.Flows flows, each a client address and source port
// (flow i from host 10.1.0.0+(i mod Clients), port 1024+i/Clients) toward
// Traffic.VIP:Port, live for the whole run unless Traffic.FlowChurn
// replaces them (a new flow takes a replaced one's host and popularity
// with the host's next source port); a Traffic.UDPShare of them are UDP,
// the rest TCP. Datagrams arrive as a Poisson process of Traffic.Rate
// per second; each picks its flow uniformly or, with Traffic.Zipf = s > 0,
// flow k with probability proportional to 1/(k+1)^s. A TCP flow's first
// datagram is a 60-byte SYN; later ones carry ACK. A datagram is
// Traffic.Size bytes, or, with probability Traffic.FragmentRate,
// Traffic.LargeSize bytes (larger than the MTU). Each client host numbers
// its datagrams with one IP ID counter (as Linux keeps one per destination).
//
// Fragments. A datagram larger than Traffic.MTU is split as an IPv4 host
// does: fragments of (MTU-20) rounded down to 8 bytes of payload, offsets
// in 8-byte units, MF set on all but the last, one IP ID; only the first
// fragment carries the TCP/UDP ports (later ones have SrcPort = DstPort = 0
// and no TCP flags). A Traffic.Reorder share of fragmented datagrams
// arrives shuffled (never in the original order). All packets of a
// datagram arrive at the node at the same instant, in that order.
//
// Node. Node.CPUs CPUs, each with an RX queue of Node.QueueLen packets. The
// NIC's RSS hash picks the queue from the 4-tuple (addresses and ports) of
// a whole packet and from the 2-tuple (addresses) of every fragment, the
// first included, as NICs do; so a datagram's fragments share a CPU, which
// is usually not its flow's. A packet that finds its queue full is
// dropped. Each CPU serves its queue in order: it runs the balancer's
// Process with [balancer.Env] Now = the start of service, CPU = its index
// and a [cost.Meter] of the scenario's cost model (zero: cost.Default());
// the service time is the metered STU times NsPerSTU. The packet leaves
// the node, with the balancer's decision, at the end of service.
//
// Control plane. Each [Event] (BackendDown, BackendUp, SetWeight) changes
// the simulator's copy of the backend set at its time and hands the whole
// set to SetBackends; the balancer also gets the initial set before any
// packet.
//
// Backends. A forwarded packet reaches its backend unless that backend is
// down or unknown (then it is dropped). Each backend reassembles fragments
// with its own [frag.Reassembler] (Scenario.Reassembly) and counts the
// datagrams it received whole.
//
// Not modelled: links and their delay or loss between clients, node and
// backends; the IPIP header's size; TCP handshakes and teardowns (a new
// TCP flow sends one SYN, then data; FIN and RST are never sent); responses (direct server return is assumed); ARP, checksums and the
// bytes themselves; interrupt coalescing and cache effects on service
// time. Traffic stops at Duration; the packets still queued are then
// processed (the run drains), and whatever backends still hold unfinished
// is counted as a reassembly timeout.
//
// # Metrics
//
// A [Result] holds, with 0 for every ratio whose denominator is 0:
//
//   - Datagrams, Packets, Fragments: sent by the clients (a fragment is a
//     packet). Processed: packets the balancer ran on. Delivered: packets
//     that reached an up backend.
//   - Reliability = Whole / Datagrams, where Whole counts datagrams a
//     backend got whole: delivered unfragmented, or reassembled from
//     fragments of that datagram only (a reassembly that mixed two
//     datagrams sharing an IP ID is a drop, [DropMixed]).
//   - FragmentAccuracy = fragments delivered to the backend that got their
//     datagram's first fragment (the first fragment itself included) /
//     Fragments. A datagram whose first fragment was lost scores 0.
//   - Affinity = delivered packets that reached their flow's backend /
//     Delivered. A flow's backend is the backend its first delivered whole
//     (unfragmented) packet reached; when that backend goes down, the next
//     whole packet names the new one. Fragments do not name it (a first
//     fragment may rightly follow an out-of-order fragment of its datagram
//     elsewhere); a packet of a flow that has no backend yet counts as
//     reaching it.
//   - Disrupted: flows with a whole packet delivered elsewhere than the
//     flow's backend while that backend was up: flows that moved without
//     having to (the Maglev paper's measure, whatever moved them: a
//     control event or a balancer losing its state). Each flow counts
//     once. Moved counts the moves that had to happen (backend down).
//   - AvgCost: STU per processed packet; CostP50, CostP99: percentiles of
//     the per-packet STU; CostByOp: STU per operation name
//     ([cost.Op.String]); OpCounts: operations charged.
//   - LatencyP50, LatencyP99: percentiles of arrival-to-end-of-service time
//     (queueing plus service) over processed packets. Percentiles are exact
//     below 1024 (ns or STU) and within 1% above (log-linear histogram).
//   - Throughput: Delivered per simulated second of Duration. CPUUtil:
//     busy time / End per CPU.
//   - PerBackend: delivered packets by backend name; Imbalance: the largest
//     over the mean of the backends that got any.
//   - Drops by reason: [DropQueueFull], the balancer's Decision.Reason
//     (e.g. [balancer.ReasonNoBackend]; [DropBalancer] when empty),
//     [DropPassed], [DropUnknownBackend], [DropBackendDown], [DropMixed],
//     and "reassembly: " + each [frag.DropReason] summed over the backends
//     (those count fragments, or datagrams for datagram-wide reasons such
//     as "reassembly: timeout").
//
// # Determinism
//
// Every random choice comes from one PCG generator seeded by Scenario.Seed,
// drawn in event order; the scheduler breaks time ties by insertion order;
// nothing depends on map iteration or on the wall clock. The same
// scenario, seed and balancer therefore give the same Result, and its
// JSON (maps marshal with sorted keys) is byte-identical; the tests check
// this, and that different seeds differ. [Sweep] runs each job alone, so
// its results equal sequential runs. (math.Pow, used for the Zipf table,
// may differ in the last bit between CPU architectures, so the promise is
// per platform.)
//
// # Performance
//
// The scheduler is a radix heap of 16-byte value events (see [Scheduler]);
// BenchmarkHold runs the classic hold model beside a container/heap
// baseline. A run allocates its queues and tables up front and does not
// allocate per packet in steady state (BenchmarkRun reports allocs/pkt);
// per-flow state is 8 bytes plus 8 for a Zipf table, so a million flows
// need some 20 MB besides the balancer (BenchmarkRunMillionFlows).
package sim
