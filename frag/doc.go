// Package frag tracks IPv4 fragments on both sides of a load balancer: the
// balancer side remembers which backend each fragmented datagram goes to, and
// the backend side reassembles the datagrams it receives.
//
// It imports nothing of TitanLB's but internal/murmur (the hash steps it
// shares with balancer) and keeps no global state: the Titan
// balancer (balancer/titan) and the simulator's backends (sim) import it.
//
// # Balancer side: the fragment table
//
// Only the first fragment of a datagram carries the TCP or UDP ports, so a
// balancer that hashes the 5-tuple cannot place the others by themselves. A
// fragment table maps a datagram's [Key] (source, destination, protocol, IP ID, as
// RFC 791 identifies a datagram) to an [Entry]: the backend chosen for it,
// the first fragment's ports once seen, and when the entry was written.
//
// Two layouts are offered, both bounded and time-aware (an entry older
// than the timeout, default [DefaultTimeout], 30 s like Linux's
// net.ipv4.ipfrag_time, measured on the caller's clock, is a miss), both
// counting hits, misses, inserts, updates, evictions and expiries in
// [TableStats]:
//
//   - [SetTable] is the layout of the Titan XDP program's fragment map and
//     the one balancer/titan uses: an array of sets of four ways, a key
//     living in the set its hash picks, an insert written in place into the
//     key's own way, else into the set's ways in turn (first in, first
//     out). Eviction is a pure function of the operations, so the Go model
//     and the kernel evict the same entries even when the table is full,
//     and an insert costs the kernel a store instead of an LRU map update
//     (a few ns against 150-250 ns at the default size; see the xdp
//     package's benchmarks).
//   - [Table] is a least-recently-used table, the semantics of a
//     BPF_MAP_TYPE_LRU_HASH: at [Options.Capacity] entries (default
//     [DefaultCapacity]) a new key evicts the least recently used entry,
//     and a lookup removes the expired entry it finds.
//
// Every operation is O(1) (O(ways) for a SetTable) and does not allocate:
// [NewSetTable] and [NewTable] allocate everything up front. The table's recency machinery is a generic
// [LRU] ([NewLRU], or [NewLRUFunc] with a key-specific hash), exported so
// that every balancer keeps its connection tables in the same bounded,
// allocation-free structure: Titan's connection and hint tables, Katran's
// per-CPU connection tables and Cilium's conntrack, NAT, neighbour and
// fragment maps. [NewLRUWith] with [LRUOptions.Reserve] allocates only part
// of the bound and doubles toward it on demand (Katran's default 8,000,000
// entries over 128 CPUs must not be allocated up front); once a table stops
// growing it no longer allocates. [LRU.Ref] updates a value in place, as a
// BPF program writes through the pointer a map lookup returns.
//
// # Backend side: reassembly
//
// A [Reassembler] is what a backend's kernel does with the fragments it
// receives: it collects them per datagram, tracks the holes, rejects
// overlapping and duplicate fragments, fragments past 65535 bytes and
// datagrams with too many fragments, times out incomplete datagrams, and
// bounds its memory. The simulator's backends use it to decide whether a
// datagram arrived whole.
package frag
