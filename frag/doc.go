// Package frag tracks IPv4 fragments on both sides of a load balancer: the
// balancer side remembers which backend each fragmented datagram goes to, and
// the backend side reassembles the datagrams it receives.
//
// It imports nothing of TitanLB's and keeps no global state: the Titan
// balancer (balancer/titan) and the simulator's backends (sim) import it.
//
// # Balancer side: the fragment table
//
// Only the first fragment of a datagram carries the TCP or UDP ports, so a
// balancer that hashes the 5-tuple cannot place the others by themselves. A
// [Table] maps a datagram's [Key] (source, destination, protocol, IP ID, as
// RFC 791 identifies a datagram) to an [Entry]: the backend chosen for it,
// the first fragment's ports once seen, and when the entry was written.
//
// The table is bounded and time-aware, like the kernel LRU hash map that the
// XDP program uses:
//
//   - at [Options.Capacity] entries (default [DefaultCapacity]), inserting a
//     new key evicts the least recently used entry;
//   - an entry older than [Options.Timeout] (default [DefaultTimeout], 30 s
//     like Linux's net.ipv4.ipfrag_time), measured on the caller's clock (the
//     simulated time), is a miss and is removed by the lookup that finds it;
//   - [TableStats] counts hits, misses, inserts, updates, evictions and
//     expiries.
//
// Every operation is O(1) and does not allocate: [NewTable] allocates the
// whole arena and index up front. The table's recency machinery is a generic
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
