// Package katran is a model of Facebook Katran's XDP load balancer:
// stateless Maglev over a per-CPU LRU connection table, IPIP encapsulation,
// and every IPv4 fragment dropped. It implements [balancer.Balancer] and
// touches only its own state, the [cost.Meter] it is given and the ring
// built by [balancer.NewRing].
//
// # Usage
//
// [New] takes a [Config] whose zero value is Katran's defaults: a ring of
// [DefaultRingSize], [MaxSupportedCPUs] forwarding cores sharing a
// [DefaultLRUSize]-entry connection table, every IPv4 destination a VIP.
// Give it backends with [Balancer.SetBackends], then call
// [Balancer.Process] per packet: [balancer.Env.CPU] picks the forwarding
// core, whose LRU the packet uses (a CPU outside 0..CPUs-1 uses the shared
// fallback LRU, as Katran does), and [balancer.Env.Now] ages UDP entries.
// [Balancer.Stats] counts packets by outcome and drops by reason.
//
// [Config.Naive] turns the fragment drop off: fragments are balanced like
// whole packets, so a non-first fragment, which carries no ports, hashes
// with ports 0 and reaches its first fragment's backend about 1/N of the
// time. That is the naive stateless balancer the TitanLB proposal
// describes.
//
// # Guarantees
//
//   - Sourced cost: Process charges env.Meter for each map lookup, update,
//     hash and encapsulation Katran's balancer.bpf.c performs on the
//     packet's path. docs/fidelity.md names the upstream files and
//     functions, tabulates the counts per packet type (TestOpCountsMatchDoc
//     checks Process against that table) and lists the deviations: the
//     shared murmur3 [balancer.Hash5] instead of jhash, exact LRU eviction,
//     ICMP and the optional features not modelled.
//   - Drops have a reason: [ReasonFragment] (every fragment unless naive),
//     [ReasonIPOptions] (IHL 6 to 15), [ReasonTooBig] (a frame above
//     [MaxPacketSize]), [ReasonNoBackend], and [balancer.ReasonMalformed]
//     for a nil packet, non-IPv4 addresses or a [balancer.Packet.Malformed]
//     header.
//   - Backends that go down keep their tracked flows, as Katran's LRU and
//     reals array keep them, until the entry is evicted (or, for UDP, is
//     older than [LRUUDPTimeout]).
//   - Bounded and deterministic: each per-CPU LRU holds at most
//     LRUSize/CPUs entries, reserves 256 and grows on demand; decisions
//     depend only on the packets, the backend sets and the Env. Process
//     does not allocate once the tables reach their working size
//     (TestProcessDoesNotAllocate) and never panics on its input.
package katran
