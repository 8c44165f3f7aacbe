// Package sim is TitanLB's discrete-event simulator: it drives a
// [balancer.Balancer] with generated client traffic, or a captured trace
// (# Traces), on a simulated XDP load balancer node, or a fleet of them
// behind an ECMP router (# Fleet), and measures what reaches the backends.
//
// It imports [github.com/titanlb/titanlb/balancer], [github.com/titanlb/titanlb/cost]
// and [github.com/titanlb/titanlb/frag] (its backends reassemble), never a
// balancer implementation: [Run] takes a constructor, so Titan, Katran,
// Cilium and the kernel program (xdp.NewBalancer) run the same scenarios.
// For traces it also imports gopacket's pure-Go pcap reader and writer,
// [github.com/gopacket/gopacket/pcapgo] (no libpcap, no cgo).
//
// # Using it
//
// A [Scenario] is plain data (JSON-friendly): backends, [Traffic], a [Node]
// (or a [Fleet] of them) and timed control [Event]s. [Run] simulates one and returns a [Result];
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
// datagram arrive at the node at the same instant, in that order, unless
// Traffic.FragmentGap spaces them (the client's link serialising them:
// fragment i of the arrival order arrives i gaps after the first).
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
//     ([cost.Op.String]); OpCounts: operations charged. AvgNs: AvgCost in
//     the model's nanoseconds; with Scenario.Cost = [cost.Calibrated] the
//     Titan kernel program's predicted time per packet.
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
//     [DropUndecodable] + the decoder's reason (trace frames, # Traces),
//     and "reassembly: " + each [frag.DropReason] summed over the backends
//     (those count fragments, or datagrams for datagram-wide reasons such
//     as "reassembly: timeout").
//
// # Attacks and faults
//
// Scenario.Attacks sends hostile traffic ([Attack], [AttackKind]) beside the
// legitimate clients, from spoofed sources in 100.64.0.0/10: the same NIC,
// RSS, queues, balancer and backends, but the legitimate metrics leave it
// out and [Result].Attack counts it (sent, processed, delivered, datagrams
// a backend reassembled, STU, drops by reason). Only the reassembly drops
// of Result.Drops mix both: a backend's reassembler cannot tell them apart.
//
// TestAttacks (go test -run TestAttacks -v prints the table) runs each
// attack at 10 times the legitimate packet rate against Titan (default
// AdmitEarned, and AdmitAll), Katran and Cilium with their default
// configurations. Legitimate traffic: backends 101-103, and 104 joining at
// 100 ms; 2,000 flows, half UDP; 50,000 datagrams/s for 200 ms, 20% of
// them 9,000-byte datagrams sent as 7 fragments 1 ms apart, a quarter
// reordered: about 110,000 packets/s. Entries are the balancer's table
// entries at the end (Titan: connection, fragment and hint tables; Katran:
// its LRUs; Cilium: conntrack and fragment maps), evictions all its tables',
// atk-deliv the attack packets that reached a backend, reasm-bad the
// backends' reassembly drops. Seed 7:
//
//	attack          design    reliability affinity disrupted  entries evictions  atk-deliv reasm-bad
//	none            titan          1.0000   0.9994         0     5767         0          0         0
//	none            titan-all      1.0000   0.9994         0     5767         0          0         0
//	none            katran         0.8191   1.0000         0     1968         0          0         0
//	none            cilium         0.9633   1.0000         0     5769         0          0       368
//	orphan-flood    titan          0.9965   0.9998         0     8730        34       2995      3030
//	orphan-flood    titan-all      0.8252   0.9994         0    20338    205696     220133    232397
//	orphan-flood    katran         0.8191   1.0000         0     1968         0          0         0
//	orphan-flood    cilium         0.9633   1.0000         0     5769         0          0       368
//	tiny-fragments  titan          1.0000   0.9916        33   137073    140720     218702         0
//	tiny-fragments  katran         0.8191   1.0000         0     1968         0          0         0
//	tiny-fragments  cilium         0.9605   1.0000         0   230846    102972     191424      7996
//	overlap         titan          1.0000   0.9916        33   137073    140720     218702    109351
//	overlap         katran         0.8191   1.0000         0     1968         0          0         0
//	overlap         cilium         0.9605   1.0000         0   230846    102972     191424     99894
//	teardrop        titan          0.8328   0.9916        33   137073    140720     218702    230434
//	teardrop        katran         0.8191   1.0000         0     1968         0          0         0
//	teardrop        cilium         0.8275   1.0000         0   230846    102972     191120    201740
//	syn-flood       titan          1.0000   0.9465       229   132537    156895     219257         0
//	syn-flood       katran         0.8191   1.0000         0   221218         0     219257         0
//	syn-flood       cilium         0.9351   1.0000         0   444269         0     120626       384
//
// (titan-all equals titan on every attack but the orphan flood.) What it
// shows:
//
//   - Orphan flood: Titan under AdmitAll keeps every legitimate datagram
//     whole at the balancer but fills its fragment table (16,384 entries,
//     205,696 evictions) and, worse, forwards the orphans, which fill the
//     backends' reassembly queues for their 30 s timeout: 17% of the
//     legitimate datagrams are refused there. AdmitEarned (the default, see
//     balancer/titan # Orphan admission) drops orphans of unknown host pairs
//     once their credit is spent: 0.9965. Cilium drops every orphan (it
//     never learns their ports), which protects it from the flood but costs
//     it the reordered datagrams in peace too; Katran drops every fragment.
//   - Tiny fragments (RFC 1858) are valid datagrams: every balancer that
//     forwards fragments forwards them and the backends reassemble them;
//     each is a new flow, so they churn Titan's 65,536-entry connection
//     table (33 flows disrupted when 104 joins) and fill Cilium's maps.
//     (The kernel program drops a first fragment shorter than a TCP header,
//     counted in its DropL4Truncated; balancer/titan does not look at
//     Packet.Len and forwards it: a parity gap on this attack.)
//   - Overlap (RFC 3128) and teardrop: no balancer reassembles, so all but
//     Katran forward them; the backends' reassemblers reject every
//     overlapping datagram (Attack.Reassembled is 0). Teardrop also leaves
//     its first fragment's datagram incomplete in the backend's queue until
//     the timeout, and those fill the queues: legitimate Reliability falls
//     to 0.83 behind Titan and Cilium alike. Defending the backends' queues
//     from complete-looking garbage is beyond what a balancer can see.
//   - SYN flood: Titan's connection table (65,536 entries, global) churns,
//     so when 104 joins the flows whose slot moved to it move (229 of 2,000
//     disrupted; none without the flood); Katran's 8 million LRU entries
//     and Cilium's 512 Ki conntrack absorb 200 ms of flood, but Cilium's
//     SNAT runs out of ports ("no mapping for nat masquerade") for attack
//     and legitimate flows alike.
//
// The fault tests (faults_test.go) run the same designs through backend
// flapping (102 down and up every 2 ms: Titan and Cilium lose at most a
// packet,
// Katran keeps sending tracked flows to the dead backend and loses what it
// sent there), all backends down for a third of the run and one back
// (every packet a counted drop; Katran keeps black-holing the flows it had
// tracked to the backends still down), an RX queue overloaded twofold
// (queue-full drops counted, p99 latency bounded by the queue), and a
// balancer restart that loses its tables (the flows the tables had placed
// off the current ring move back: 368 flows for Titan, 333 for Cilium, 136
// for Katran, which had not moved the flows of a backend that went down;
// and with fragments 1 ms apart the datagrams in flight split or drop:
// Reliability -0.15% for Titan, -0.20% for Cilium).
//
// # Fleet
//
// Scenario.Fleet runs K identical LB nodes (Fleet.Nodes), each a [Node]
// with its own CPUs, RX queues and balancer instance from the scenario's
// constructor, behind an ECMP router. There is one mechanism: a run
// without a Fleet is the one-node fleet, taking the same path minus the
// router (the tests check that a one-node Fleet gives Run's Result byte
// for byte). A separate RunFleet was not needed: a fleet changes where a
// packet is processed and by which balancer instance, nothing of the
// traffic, the backends or the metrics, so [Run] grew a router in front
// of its CPUs (CPUs are numbered node-major: Result.CPUUtil has K ×
// Node.CPUs entries) and [Result].Fleet.
//
// The router hashes a whole packet's 5-tuple, and a fragment by
// Fleet.ECMP: [ECMP3Tuple] (the default; Linux's
// fib_multipath_hash_policy=1 hashes every fragment, the first included,
// without ports), [ECMP2Tuple] (addresses only) or [ECMP5Tuple] (a router
// that reads ports wherever present: the first fragment goes where its
// flow goes, the others, with no ports, elsewhere). It maps the hash onto
// the nodes up by hash-threshold (RFC 2992, Linux's default multipath),
// or, with Fleet.Resilient, through a table of 64 buckets per node
// (resilient next-hop groups): a failed node's buckets go round robin to
// the others, a joining node takes its share from the fullest. Each
// node's NIC then spreads its packets over its CPUs by RSS, as a single
// node does. The router's, RSS's and the balancers' hashes have their own
// seeds.
//
// Fleet.Events fail ([NodeDown]) and add ([NodeUp]) nodes at their times,
// taking effect at once (routing protocol convergence is not modelled).
// A failed node loses the packets in its queues and in service
// ([DropNodeDown]) and its balancer's state; a joining node (a node meant
// to join mid-run starts with NodeDown(0, n)) gets a fresh balancer and
// the current backend set. With no node up the router drops
// ([DropNoNode]). Backend events reach every node up.
//
// Fleet-wide metrics are the Result's own (Reliability, Affinity, ...:
// the backends do not care which node forwarded a packet); [FleetResult]
// adds each node's load (packets processed and delivered, CPU
// utilisation, Imbalance over the nodes) and three node-change figures:
// Rehomed, moves of a flow between nodes; Broken, the flows such a move
// broke (the moved packet reached another backend while the flow's was
// up, with no backend change since the flow's previous packet: the flow
// was held where it was by state that lived only on the old node); and
// Split, fragmented datagrams processed by more than one node.
//
// Maglev's property is that every node picks the same backend for a flow
// it has no state for, so a flow survives a move unless its placement
// lived only in the old node's tables. Which state does, measured by
// TestFleetTable (4 nodes of 2 CPUs, 8 backends, 4,000 flows from 400
// hosts, half UDP, 100,000 datagrams/s for 100 ms, seed 7; first with
// 30% of datagrams fragmented, half of those reordered):
//
//	design   ecmp     reliability  frag-acc affinity  split
//	titan    1 node        1.0000    1.0000   0.9079      0
//	titan    3-tuple       1.0000    1.0000   0.8997      0
//	titan    2-tuple       1.0000    1.0000   0.8999      0
//	titan    5-tuple       0.8357    0.5616   0.8305   1906
//	katran   (any)         0.7501    0.0000   1.0000
//	cilium   1 node        0.8996    0.8010   1.0000      0
//	cilium   3-tuple       0.8996    0.8010   1.0000      0
//	cilium   2-tuple       0.8996    0.8010   1.0000      0
//	cilium   5-tuple       0.7849    0.4433   1.0000   1906
//
// What it shows:
//
//   - Under a 3-tuple or 2-tuple fragment hash a datagram's fragments share
//     a node, whose fragment table sees them all: Titan keeps every
//     datagram whole, as on one node. The node is usually not the flow's,
//     so an out-of-order fragment finds no host-pair hint there more often:
//     Affinity falls from 0.9079 to 0.8997.
//   - Under a 5-tuple hash the first fragment and its followers land on
//     different nodes: an orphan on node B cannot see the entry the first
//     fragment wrote on node A and picks by its own policy: Reliability
//     falls to 0.8357, more than half the fragmented datagrams lost
//     (Cilium, which drops such orphans, 0.7849). Fragment state is per
//     node; only a router that keeps a datagram together keeps it whole.
//
// Node changes, unfragmented traffic, 3-tuple ECMP (the figures are the
// same for the three designs but where noted):
//
//	change                          rehomed  broken  disrupted  affinity
//	node 1 of 4 fails at 50 ms          677       0          0    1.0000
//	  with a resilient group            473       0          0    1.0000
//	node 3 joins at 50 ms              1003       0          0    1.0000
//	101 drained at 20 ms, node 1
//	  fails at 50 ms                    677      26         44    0.9927  (cilium: 25, 49, 0.9915)
//
// With the backends unchanged no move breaks a connection, whatever the
// design: every node's ring agrees. A flow drained off 101 (weight 0)
// stays on 101 only through its node's connection table; when that node
// fails, the node that inherits the flow places it by the ring, elsewhere:
// 26 connections broken (44 disrupted in all: the others had been idle
// since the drain, so the drain alone may have moved them). Fragment
// state does not survive a failure either: with fragments 1 ms apart and
// node 0 failing at 50 ms, 23 datagrams straddle the failure; Titan loses
// 17 of them (the orphan's pick on the new node matches the first
// fragment's backend for the other 6), Cilium all 23 (Reliability 0.9983
// and 0.9977 against 1 without the failure).
//
// Scale: BenchmarkFleet runs 16 nodes of 4 CPUs, 1,000 backends and
// 1,000,000 flows from 100,000 hosts (uniform, half UDP, 10% fragmented;
// 4 million datagrams, 4.7 million packets, over 2 simulated seconds; one
// node joining at 1.5 s, one failing at 0.5 s) through Titan in 5.8 s
// of wall time on this 2-core machine (0.81 million packets/s; up to 20 s
// when the cores were shared with other jobs), beside one node of 64 CPUs
// with the same traffic in 4.2 s. The fleet is slower per packet because
// 16 Titan instances' tables (default sizes) do not share a cache; the
// router and the fleet's bookkeeping take some 8% of the time (CPU
// profile). A run without a Fleet pays three nil checks per packet:
// BenchmarkRun and BenchmarkRunTitan before and after fleets were added,
// interleaved, best of 4: 76.4 and 76.4 ms, 131.7 and 112.5 ms (the
// spread between runs is larger than any difference).
//
// # Traces
//
// A captured trace can replace the generator as the traffic source: the
// same node, RSS, queues, balancer, backends and metrics, fed by frames
// instead of generated datagrams. [ReadTrace] reads a pcap or pcapng file
// (told apart by its magic number; gopacket's pure-Go pcapgo, no
// libpcap) into a [Trace], plain data like the rest of a Scenario, which
// goes in Traffic.Trace; the generator's other fields are then ignored.
// Each frame arrives at its At (the capture time since the first frame's
// whole second); frames with the same time arrive in one event, in file
// order, as a generated datagram's fragments do. Duration 0 replays the
// whole trace; a shorter Duration stops it. [WriteTrace] writes a Trace
// back as pcap with nanosecond timestamps. ReadTrace holds a file once
// (its Ethernet frames are slices of the file's bytes; raw IPv4 frames
// are copied behind an Ethernet header), at most MaxTraceBytes and
// MaxTracePackets. A file that is not a capture,
// is cut short or has inconsistent lengths is a [*TraceError] naming the
// packet and the byte offset of its record or block.
//
// A trace has no simulator bookkeeping, so the ground truth comes from
// the headers. A frame [balancer.Decode] rejects (truncated by the snap
// length, not IPv4, a bad IHL or length, garbage) never reaches the
// balancer: it is a Packet and a drop [DropUndecodable] + the decoder's
// field and reason, not a Datagram. A flow is a 5-tuple. A datagram is an
// unfragmented packet, or the fragments sharing (src, dst, proto, IP ID)
// until that group is complete (a first fragment, a last one, and payload
// bytes reaching the last one's end), older than the reassembly timeout,
// or frag.MaxFragmentsLimit fragments long; the next fragment with the key
// starts another datagram. A fragment belongs to the flow of its
// datagram's first fragment (the 5-tuple of the fragment at offset 0,
// wherever it is in the trace), or to its 3-tuple flow (ports 0) when the
// trace lacks the first fragment. With these, the metrics are computed as
// for generated traffic: Reliability = datagrams a backend got whole /
// datagrams (a datagram with a fragment missing from the trace can never
// be whole), FragmentAccuracy against the fragment at offset 0 (0 for a
// datagram without one), Affinity against the backend the flow's first
// delivered unfragmented packet reached. The backends' reassembly bound
// (Reassembly.MaxFragments 0) is the largest datagram of the trace. For
// traffic the generator made (a run recorded with [RunRecorded], then
// written, read and replayed) the headers give back exactly the
// generator's flows and datagrams: TestTraceRoundTrip checks that the
// replay's Result and every packet's decision equal the generated run's,
// for Titan, Katran, Cilium and a test balancer, on one node with an
// overflowing queue, on a fleet of three losing a node, and with spaced
// fragments.
//
// [RunRecorded] is Run that also returns a [Recording]: every packet's
// arrival, frame (the trace's, or the generated header encoded by
// [balancer.Encode]), decision, backend address and drop reason.
// [WriteDecisions] writes what the balancer sent as pcap, for Wireshark:
// each forwarded packet encapsulated as the XDP program (xdp/titan.c,
// encap) transmits it, an outer IPv4 header (protocol 4, IPIP) from the
// VIP to the backend's address, then the original IPv4 packet
// (TestWriteDecisionsMatchesKernel compares every packet written for the
// committed trace with the Titan program's output under
// BPF_PROG_TEST_RUN, byte for byte). Dropped and passed packets are not
// in it: [WriteDropped] writes the packets that reached no backend, as
// they arrived, to a pcapng file whose interfaces are the drop reasons
// (Wireshark's frame.interface_name).
// [Recording.Trace] turns a generated run into a trace.
//
// sim/testdata/trace.pcap and trace.pcapng are generated by the tests
// (TestTraceTestdata compares them with the generator's output; go test
// ./sim -run TestTraceTestdata -update rewrites them): 128 generated
// packets (TCP and UDP, a quarter of the datagrams fragmented, half of
// those reordered) and 4 frames that do not decode; the pcapng file
// carries every third frame on a raw-IPv4 interface.
//
// Replay speed (BenchmarkTraceReplay beside BenchmarkTraceGenerated: the
// throughput scenario's 317,212 packets, recorded, then replayed, against
// the same packets from the generator; this 2-core machine, shared and
// loaded): about 1.1 million packets/s against 1.8 million, 2.1 to 2.5
// times the generator's CPU time, at 0.004 allocations per packet (the
// maps and slices of the trace's flows and datagrams, grown by doubling).
// Preparing a trace decodes each frame once and keeps its header, flow and
// datagram: some 100 bytes per packet besides the frames. Recording
// (BenchmarkRunRecorded: 0.36 million packets/s) keeps a Verdict and a
// frame per packet, about 1.5 kB per packet of this scenario: memory
// grows with the run.
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
