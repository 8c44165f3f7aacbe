// Package katran is a model of Facebook Katran's XDP load balancer:
// VIPs of (address, port, protocol) each with its own Maglev ring,
// stateless Maglev over a per-CPU LRU connection table, IPIP (IPv4) and
// IPv6-in-IPv6 encapsulation, and every fragment dropped. It implements
// [balancer.Balancer] and [balancer.ServiceSetter] and touches only its
// own state, the [cost.Meter] it is given and the rings built by
// [balancer.NewRing].
//
// # Usage
//
// [New] takes a [Config] whose zero value is Katran's defaults: a ring of
// [DefaultRingSize], [MaxSupportedCPUs] forwarding cores sharing a
// [DefaultLRUSize]-entry connection table. Give it services with
// [Balancer.SetServices] (a packet to no VIP is passed; per-VIP options
// such as Katran's port-0 VIP are in [Config.ServiceOptions]) or a
// backend set with [Balancer.SetBackends] (every destination of the
// backends' families a VIP), then call [Balancer.Process] per packet: [balancer.Env.CPU] picks the forwarding
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
//   - Sourced cost: Process charges env.Meter for each map lookup (by
//     the map's kind: ARRAY, HASH, LRU_HASH), LRU insert, clock read
//     (bpf_ktime_get_ns), hash and encapsulation Katran's balancer.bpf.c
//     performs on the packet's path. docs/fidelity.md names the upstream files and
//     functions, tabulates the counts per packet type (TestOpCountsMatchDoc
//     checks Process against that table) and lists the deviations: the
//     shared murmur3 [balancer.Hash5] instead of jhash, exact LRU eviction,
//     ICMP and the optional features not modelled.
//   - Drops have a reason: [ReasonFragment] and [ReasonFragment6] (every
//     IPv4 fragment, every IPv6 packet whose first Next Header is a
//     Fragment header, unless naive), [ReasonIPOptions] (IHL 6 to 15),
//     [ReasonTooBig] (a frame above [MaxPacketSize]), [ReasonNoBackend],
//     and [balancer.ReasonMalformed] for a nil packet, addresses of two
//     families or a [balancer.Packet.Malformed] header. Any other IPv6
//     extension header first is passed, as Katran walks none.
//   - Backends that go down keep their tracked flows, as Katran's LRU and
//     reals array keep them, until the entry is evicted (or, for UDP, is
//     older than [LRUUDPTimeout]).
//   - Bounded and deterministic: each per-CPU LRU holds at most
//     LRUSize/CPUs entries, reserves 256 and grows on demand; decisions
//     depend only on the packets, the backend sets and the Env. Process
//     does not allocate once the tables reach their working size
//     (TestProcessDoesNotAllocate) and never panics on its input.
package katran
