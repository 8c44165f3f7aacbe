// Package cilium is a model of Cilium's XDP NodePort load balancer
// (kube-proxy replacement with XDP acceleration): a pipeline of tail calls
// and map lookups (service, conntrack, Maglev, backend, neighbour, NAT),
// services of (address, port, protocol) each with its own Maglev table,
// SNAT (the default) or DSR with IPIP dispatch, IPv4 and IPv6 with maps of
// their own, and fragment tracking through an LRU fragment map per
// family. It implements [balancer.Balancer] and [balancer.ServiceSetter]
// and touches only its own state, the [cost.Meter] it is given and the
// rings built by [balancer.NewRing].
//
// # Usage
//
// [New] takes a [Config] whose zero value is Cilium's defaults: SNAT
// ([ModeSNAT]), a Maglev table of [DefaultMaglevTableSize], the map sizes
// of the Default*Size constants. Give it services with
// [Balancer.SetServices] (a packet to no service is passed) or a backend
// set with [Balancer.SetBackends] (every destination of the backends'
// families a frontend), then call [Balancer.Process] per packet. The maps are global, as upstream: the
// decision does not depend on [balancer.Env.CPU]. [Balancer.Stats] counts
// packets by outcome, drops by reason and the maps' work.
//
// # Guarantees
//
//   - Sourced cost: Process charges env.Meter for each tail call, map
//     lookup and update, hash, rewrite and encapsulation of Cilium's
//     bpf_xdp.c and bpf/lib (nodeport.h, lb.h, ipfrag.h, conntrack.h,
//     nat.h, neigh.h) on the packet's path. docs/fidelity.md names the
//     functions, tabulates the counts per packet type
//     (TestOpCountsMatchDoc checks Process against that table) and lists
//     the deviations: the shared murmur3 [balancer.Hash5] instead of
//     jhash, exact LRU eviction, optional features not modelled.
//   - Fragments: a first fragment records its ports in its family's
//     fragment map; a non-first fragment reads them before the service
//     lookup, so it follows its datagram to its service's backend; one
//     that finds none (it overtook its first fragment, or the entry was
//     evicted) is dropped with [ReasonFragNotFound]. In-order fragments
//     are delivered whole; reordered ones are lost. IPv6 atomic fragments
//     are whole packets.
//   - Drops have a reason: [ReasonFragNotFound], [ReasonNoBackend],
//     [ReasonNATNoMapping] (no free SNAT port after
//     [SNATCollisionRetries] tries), [ReasonInvalidExtHdr] (an IPv6 chain
//     of four extension headers or ending in No Next Header), and
//     [balancer.ReasonMalformed] for a nil packet, addresses of two
//     families or a [balancer.Packet.Malformed] header.
//   - Backends: one that is down, or in no service, is deleted from the
//     backends map, so its tracked flows are re-balanced on their next
//     packet; one of weight 0 in a flow's service keeps its tracked flows
//     (a SYN is re-balanced) and gets no new ones.
//   - Bounded and deterministic: every map is an [lru.Map] within its
//     configured size (port allocation draws from a seeded generator), and
//     decisions depend only on the packets, the backend sets and the
//     configuration. Process does not allocate once the maps reach their
//     working size (TestProcessDoesNotAllocate) and never panics on its
//     input.
package cilium
