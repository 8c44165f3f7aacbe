// Package katran is a faithful model of Facebook Katran's XDP load balancer:
// stateless Maglev over a per-CPU LRU connection table, IPIP encapsulation,
// and every IPv4 fragment dropped. It implements [balancer.Balancer] and may
// touch only its own state, the [cost.Meter] it is given and the shared ring
// built by [balancer.NewRing].
//
// # Sources
//
// Read at facebookincubator/katran commit 19f08fec82fb (2026-08-22), in
// katran/lib/bpf (balancer_kern.c no longer exists there: the program is
// balancer.bpf.c):
//
//   - balancer.bpf.c: balancer_ingress (the XDP entry: per-CPU stats before
//     and after), process_packet (VIP lookup, size check, LRU choice,
//     connection-table lookup, Maglev on a miss, per-VIP and per-real stats,
//     encapsulation), connection_table_lookup, get_packet_dst,
//     is_under_flood, update_vip_lru_miss_stats, get_packet_hash (jhash).
//   - pckt_parsing.h: parse_l3_headers (drops IHL != 5 and any packet with
//     frag_off & PCKT_FRAGMENTED, the MF bit or a non-zero offset, so the
//     first fragment too), parse_tcp and parse_udp (ports, SYN and RST).
//   - handle_icmp.h: handle_if_icmp (not modelled, see below).
//   - pckt_encap.h: encap_v4 (bpf_xdp_adjust_head and a new IPv4 header; no
//     map lookup).
//   - balancer_maps.h and balancer_consts.h: vip_map, lru_mapping (an
//     ARRAY_OF_MAPS of MAX_SUPPORTED_CPUS = 128 per-CPU LRU_HASH maps),
//     fallback_cache (DEFAULT_LRU_SIZE = 1000), ch_rings (RING_SIZE =
//     65537), reals, reals_stats, stats, vip_miss_stats, ctl_array;
//     LRU_UDP_TIMEOUT = 30 s, MAX_CONN_RATE = 125000, MAX_PCKT_SIZE = 1514.
//   - KatranLb.cpp initLrus and KatranLbStructs.h: the connection table is
//     LruSize = 8,000,000 entries split evenly over the forwarding cores.
//
// Corrections to the starting reading in DESIGN.md, from the source:
// the fragment and IP-option checks live in parse_l3_headers (there is no
// process_l3_headers); a TCP SYN never looks the connection table up (it
// always goes to the ring and overwrites the entry); and every packet pays
// Katran's statistics lookups (two in balancer_ingress, two to five in
// process_packet), which makes an established flow cost 10 map reads, not 2.
//
// # Model
//
// Per packet, in source order, with the operation charged:
//
//	balancer_ingress        stats[XDP_TOTAL_CNTR]                         read
//	parse_l3_headers        IHL != 5 or fragment: drop                     -
//	process_packet          not TCP/UDP: pass                              -
//	                        vip_map (VIP, dport, proto)                    read
//	                        [Config.VIPs set] vip_map (VIP, 0, proto)      read
//	                        frame > 1514 B: drop                           -
//	                        stats[LRU_CNTRS]                               read
//	                        lru_mapping[cpu]                               read
//	                        [no LRU for this CPU] stats[FALLBACK_LRU]      read
//	connection_table_lookup [not SYN] LRU lookup                           read
//	                        [hit] reals[pos]                               read
//	on a miss               [TCP] stats[LRU_MISS_CNTR]                     read
//	  get_packet_dst        is_under_flood: stats[NEW_CONN_RATE_CNTR]      read
//	                        flow hash                                      hash
//	                        ch_rings[vip*M + hash%M]                       read
//	                        [slot empty] stats[CH_DROP_STATS]; drop        read
//	                        reals[id]                                      read
//	                        [not RST, not under flood] LRU update          write
//	  update_vip_lru_miss_stats  vip_miss_stats                            read
//	process_packet          ctl_array, stats[vip], reals_stats             3 reads
//	encap_v4                IPIP                                           encap
//	balancer_ingress        stats[XDP_PASS/DROP/TX_CNTR]                   read
//
// The resulting counts per packet type (no [Config.VIPs], the packet on a
// forwarding core; the table is checked against Process by
// TestOpCountsMatchDoc, which parses these rows):
//
//	packet                         reads  hash  writes  encap  STU
//	new TCP flow (SYN)                13     1       1      1  370
//	established TCP flow              10     0       0      1  240
//	TCP non-SYN LRU miss              14     1       1      1  390
//	new UDP flow                      13     1       1      1  370
//	established UDP flow              10     0       0      1  240
//	first fragment                     2     0       0      0   40
//	non-first fragment                 2     0       0      0   40
//	naive first fragment, flow known  10     0       0      1  240
//	naive non-first fragment, new     13     1       1      1  370
//
// STU under [cost.Default] (read 20, hash 10, write 60, encap 40). Fragments
// are dropped after two statistics reads; with [Config.Naive] they are
// balanced like whole packets.
//
// # Per-CPU state and fragments
//
// Each forwarding core has its own LRU, keyed by the 5-tuple (Katran's
// struct flow_key), so which CPU runs a packet matters: NIC RSS hashes whole
// packets on the 4-tuple but fragments on the 2-tuple only (they may carry no
// ports), so a flow's fragments usually run on another CPU than its whole
// packets and miss that CPU's LRU. In the naive model a first fragment then
// re-runs Maglev (and lands on the flow's backend while the ring is
// unchanged); a non-first fragment has no ports, so its key and hash use
// ports 0: it lands on the backend that owns hash(src, dst, 0, 0, proto),
// which is its first fragment's backend only 1/N of the time. With two
// fragments per datagram the share of fragments that reach their first
// fragment's backend is therefore about 1/2 + 1/(2N).
//
// # Deviations
//
//   - Hash: Katran uses jhash (get_packet_hash); the model uses the shared
//     murmur3 [balancer.Hash5] with [Config.Seed], so that all TitanLB
//     balancers pick from the same ring with the same hash.
//   - LRU: exact least-recently-used eviction; the kernel's BPF LRU is
//     approximate. Tables grow toward their bound on demand instead of being
//     preallocated.
//   - Not modelled: ICMP (handle_if_icmp; non-TCP/UDP packets pass), IPv6,
//     QUIC server-id routing, TCP server-id routing, LPM source routing,
//     global LRU, GUE, inline decapsulation, UDP flow migration and the
//     local-delivery optimisation: all optional features, off by default.
//   - Backends that go down: Katran keeps LRU entries and its reals array,
//     so a tracked flow keeps going to a backend that was removed from the
//     ring until its entry is evicted (or, for UDP, is older than 30 s).
//     The model does the same.
//
// # Simulation
//
// sim_test.go runs the model through sim.Run (3 backends, 10,000 flows):
// every unfragmented datagram is delivered; with every datagram fragmented
// none is, and every fragment is a counted drop; the naive variant's
// FragmentAccuracy is checked against 1/2 + 1/(2N).
//
// # Allocation
//
// Process does not allocate once its tables have grown to their working
// size. Every connection table is a [lru.Map]: an open-addressing index
// (linear probing, backward-shift deletion, so eviction churn leaves no
// tombstones) over a node arena in recency order. Each per-CPU LRU is made
// with [lru.NewWith] and reserves 256 entries up front, then doubles
// toward its bound on demand (the kernel preallocates instead: 8,000,000
// entries over 128 tables would cost gigabytes up front here); the
// fallback LRU's 1000 entries are allocated at once. A full table recycles
// the evicted node in place. TestProcessDoesNotAllocate checks established,
// new-flow (on full tables) and fragment packets with testing.AllocsPerRun;
// the benchmarks report 0 B/op.
package katran
