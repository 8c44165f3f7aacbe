// Package cilium is a faithful model of Cilium's XDP NodePort load balancer
// (kube-proxy replacement with XDP acceleration): a pipeline of tail calls
// and map lookups (service, conntrack, Maglev, backend, neighbour, NAT),
// SNAT (the default) or DSR with IPIP dispatch, and IPv4 fragment tracking
// through an LRU fragment map. It implements [balancer.Balancer] and may
// touch only its own state, the [cost.Meter] it is given and the shared ring
// built by [balancer.NewRing].
//
// # Sources
//
// Read from cilium/cilium as stored in the code index (the newest stored
// version of each file; the repository is too large to fetch whole):
//
//   - bpf/bpf_xdp.c (commit 66382ef3c815): cil_xdp_entry -> check_filters
//     -> check_v4 -> check_v4_lb, which tail-calls
//     CILIUM_CALL_IPV4_FROM_NETDEV; tail_lb_ipv4 calls nodeport_lb4.
//   - bpf/lib/nodeport.h (commit f541499b23c1, the 1.15-era layout):
//     nodeport_lb4 (lb4_extract_tuple, lb4_lookup_service, lb4_local,
//     __lookup_ip4_endpoint, ct_lazy_lookup4 and ct_create4 for CT_EGRESS,
//     neigh_record_ip4, then a tail call to CILIUM_CALL_IPV4_NODEPORT_DSR or
//     CILIUM_CALL_IPV4_NODEPORT_NAT_EGRESS), tail_nodeport_nat_egress_ipv4
//     (snat_v4_nat, fib_redirect_v4), tail_nodeport_ipv4_dsr
//     (dsr_set_ipip4, rss_gen_src4).
//   - bpf/lib/lb.h (fraginfo_t era): lb4_extract_tuple, lb4_lookup_service
//     (cilium_lb4_services_v2, then the wildcard key), lb4_local
//     (ct_lazy_lookup4 with CT_SERVICE and SCOPE_REVERSE; on CT_NEW
//     lb4_select_backend_id_maglev: the cilium_lb4_maglev HASH_OF_MAPS outer
//     lookup, the inner ARRAY lookup, __hash_from_tuple_v4, then
//     lb4_lookup_backend on cilium_lb4_backends_v3 and ct_create4; on
//     CT_REPLY lb4_lookup_backend and, for a vanished backend or a SYN to an
//     inactive one, re-selection and ct_update_svc_entry), lb4_dnat_request.
//   - bpf/lib/ipv4.h and ipfrag.h: ipv4_load_l4_ports ->
//     ipv4_handle_fragmentation: a fragment with an L4 header writes its
//     ports to cilium_ipv4_frag_datagrams (LRU_HASH keyed by daddr, saddr,
//     IP ID, protocol; BPF_ANY); a fragment without one reads them
//     (ipv4_frag_get_l4ports) and fails with DROP_FRAG_NOT_FOUND, "First
//     logical datagram fragment not found", when the entry is missing.
//   - bpf/lib/conntrack.h: __ct_lookup4 (SCOPE_REVERSE: one lookup;
//     SCOPE_BIDIR: the reverse tuple, then the forward one), ct_create4 (one
//     update; nodeport passes no related map), ct_update_svc_entry.
//   - bpf/lib/nat.h: snat_v4_nat (which loads the L4 ports again through
//     ipv4_load_l4_ports, so fragments touch the fragment map twice on the
//     SNAT path), snat_v4_nat_handle_mapping (__snat_lookup; for an existing
//     mapping also the reverse entry, restored if evicted),
//     snat_v4_new_mapping (__snat_try_keep_port, up to
//     SNAT_COLLISION_RETRIES = 32 BPF_NOEXIST creates of the reverse entry,
//     the cilium_snat_v4_alloc_retries histogram, the forward entry),
//     snat_v4_rewrite_headers.
//   - bpf/lib/neigh.h: neigh_record_ip4 (lookup, update when missing).
//
// Defaults: LB_MAGLEV_LUT_SIZE 16381, fragment map 8192, conntrack 524288
// (TCP) and 262144 (other), NAT 524288, NODEPORT_NEIGH4_SIZE 524288, NAT
// ports NODEPORT_PORT_MIN_NAT 32768 to NODEPORT_PORT_MAX_NAT 65535. All maps
// are global (not per-CPU) LRU maps, as upstream.
//
// Corrections to the starting reading in DESIGN.md, from the source: an
// established flow pays no hash in SNAT mode (the Maglev hash is computed
// only when a backend is selected); the hash of an established DSR packet is
// rss_gen_src4's hash_32 of the client address for the outer source; the
// newer snat_v4_nat_handle_mapping also looks up the reverse SNAT entry of
// an existing mapping, and snat_v4_new_mapping reads the retries histogram,
// so SNAT costs one read more than the reading said on both paths; and
// neigh_record_ip4 writes only for a client it has not seen; fragments
// also pay a metrics lookup per conntrack lookup, and every drop one more
// (update_metrics), so a non-first fragment without an entry costs two
// reads and a tail call, not one read.
//
// # Per-packet path and op counts
//
// A TCP or UDP packet to a service, backend remote, in source order: tail
// call to CILIUM_CALL_IPV4_FROM_NETDEV; fragment handling (first fragment:
// 1 write; non-first: 1 read, drop on a miss); service lookup (1 read);
// CT_SERVICE lookup (1 read, plus 1 metrics read for a fragment:
// __ct_lookup4 calls update_metrics(REASON_FRAG_PACKET)); on a miss Maglev outer and inner (2 reads),
// hash, backend (1 read), ct_create4 (1 write); on a hit backend (1 read);
// SNAT: DNAT rewrite; endpoint lookup (1 read); CT_EGRESS lookup (2 reads,
// plus 1 metrics read for a fragment) and, on a miss, ct_create4 (1 write); neighbour lookup (1 read) and, for
// a new client, update (1 write); tail call to NAT_EGRESS; fragment handling
// again; SNAT lookup (1 read) then either the reverse-entry check (1 read)
// or a new mapping (1 write per reverse-entry attempt, 1 read, 1 write);
// SNAT rewrite. DSR: no DNAT rewrite; endpoint lookup (1 read); tail call to
// NODEPORT_DSR; hash_32 for the outer source; IPIP encapsulation. Every
// drop adds the metrics read of send_drop_notify_error_ext (update_metrics).
//
// The resulting counts (checked against Process by TestOpCountsMatchDoc,
// which parses these rows; STU under [cost.Default]: read 20, hash 10, write
// 60, encap 40, tail call 20, rewrite 10):
//
//	packet                              reads hash writes encap tail rewr  STU
//	SNAT new TCP flow, new client          11    1      5     0    2    2  590
//	SNAT new TCP flow, known client        11    1      4     0    2    2  530
//	SNAT established TCP flow               9    0      0     0    2    2  240
//	SNAT new UDP flow, new client          11    1      5     0    2    2  590
//	SNAT established UDP flow               9    0      0     0    2    2  240
//	SNAT first fragment, known flow        11    0      2     0    2    2  400
//	SNAT non-first fragment, entry         13    0      0     0    2    2  320
//	SNAT non-first fragment, no entry       2    0      0     0    1    0   60
//	DSR new flow                            6    2      1     1    2    0  280
//	DSR established flow                    4    1      0     1    2    0  170
//	DSR first fragment, known flow          5    1      1     1    2    0  250
//	DSR non-first fragment, entry           6    1      0     1    2    0  210
//
// A non-first fragment that misses the fragment map (it arrived before its
// first fragment, or its entry was evicted) is dropped after its
// fragment-map read (and the drop's metrics read) with reason
// [ReasonFragNotFound]: in-order fragments are delivered whole,
// reordered ones are lost.
//
// # Deviations
//
//   - Hash: the model selects the Maglev slot with the shared murmur3
//     [balancer.Hash5] instead of Cilium's jhash, so all TitanLB balancers
//     use one hash; the slot table is the shared balancer.NewRing build of size
//     16381.
//   - Not charged: bpf_fib_lookup in fib_redirect_v4 (a helper, not a map),
//     the perf-event output of drop and trace notifications, the creation
//     of a metrics entry the first time a reason is seen, packet loads and
//     stores other than the address rewrites.
//   - Not modelled: IPv6, the prefilter (off by default), session affinity,
//     source-range checks, L7 and NAT46/64 services, local backends,
//     conntrack lifetimes and the agent's garbage collection (entries leave
//     only by LRU eviction), the reply path through the node. Non-TCP/UDP
//     packets and packets to a destination that is not a frontend (with
//     [Config.VIPs] set) are passed to the stack after the lookups that
//     decide so.
//   - LRU: exact least-recently-used eviction; the kernel's BPF LRU is
//     approximate. Tables grow toward their bound on demand.
//   - A backend that is down (Up=false) is treated as deleted from the
//     backends map, as the agent does when a backend leaves the service; a
//     backend of weight 0 stays in maintenance state (tracked flows stay,
//     SYNs and new flows go elsewhere).
//
// # Simulation
//
// sim_test.go runs the model through sim.Run (3 backends, 10,000 flows):
// unfragmented and in-order fragmented datagrams are delivered; with 20% of
// datagrams reordered the orphan fragments are counted drops and Reliability
// falls; a backend going down moves only its own flows; and the average cost
// per packet is compared with Titan's and Katran's on one scenario.
//
// # Allocation
//
// Process does not allocate once its tables have grown to their working
// size. Each map is a [lru.Map]: an open-addressing index (linear probing,
// backward-shift deletion, so eviction churn leaves no tombstones) over a
// node arena in recency order. The fragment map is allocated whole; the
// conntrack, NAT and neighbour maps are made with [lru.NewWith] and
// reserve 4096 (neighbour: 1024) entries, then double toward their bound on
// demand (the kernel preallocates instead). A full map recycles the evicted
// node in place. TestProcessDoesNotAllocate checks established,
// new-flow (on full tables) and fragment packets with testing.AllocsPerRun;
// the benchmarks report 0 B/op.
package cilium
