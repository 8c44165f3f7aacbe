// Package frag tracks IPv4 and IPv6 fragments on both sides of a load balancer: the
// balancer side remembers which backend each fragmented datagram goes to, and
// the backend side reassembles the datagrams it receives.
//
// It imports nothing of TitanLB's but package lru and internal/murmur (the
// hash steps it shares with balancer) and keeps no global state: the Titan
// balancer (balancer/titan) and the simulator's backends (sim) import it.
//
// # Balancer side: the fragment table
//
// Only the first fragment of a datagram carries the TCP or UDP ports, so a
// balancer that hashes the 5-tuple cannot place the others by themselves. A
// fragment table maps a datagram's [Key] (source, destination, protocol,
// identification, as RFC 791 and RFC 8200 identify a datagram; 16 bits for
// IPv4, 32 for IPv6) to an [Entry]: the backend chosen for it,
// the first fragment's ports once seen, and when the entry was written.
//
// [SetTable] is that table, the layout of the Titan XDP program's fragment
// map: an array of sets of four ways per address family, a key living in the set its hash
// picks, an insert written in place into the key's own way, else into the
// set's ways in turn (first in, first out). It is bounded and time-aware:
// an entry older than the timeout (default [DefaultTimeout], 30 s like
// Linux's net.ipv4.ipfrag_time, on the caller's clock) is a miss. Eviction
// is a pure function of the operations, so the Go model and the kernel
// evict the same entries even when the table is full. It counts hits,
// misses, inserts, updates, evictions and expiries in [TableStats]. Every
// operation is O(ways); a set takes memory when first written, up to the
// table's capacity, so that only Insert allocates, while the table grows.
// A balancer that has mixed a packet's host pair for its own hashes
// passes the key's set hash to [SetTable.LookupHashed] and
// [SetTable.InsertHashed] instead of hashing the key again, as the
// kernel program does, and the [Entry] by pointer.
//
// Cilium's fragment map is an LRU hash; its model keeps it in an
// [github.com/titanlb/titanlb/lru.Map], as the connection tables of every
// model are. (The LRU lived here as frag.LRU; the aliases are deprecated.)
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
