// Package titan is the Go model of TitanLB's own XDP load balancer: Maglev
// over a 5-tuple flow hash, a connection table, and a fragment table that
// keeps every fragment of a datagram on one backend, reordered fragments
// included.
//
// # Usage
//
// [New] takes a [Config]; the zero Config is valid, every zero field
// standing for the default named beside it, and [Config.Resolve] fills
// them in or names the bad field. Give the balancer its backends with
// [Balancer.SetBackends] (a catch-all per address family: every VIP,
// port and protocol), or its services, each (VIP, port, protocol) with
// its own pool and ring, with [Balancer.SetServices]; then each IPv4 or
// IPv6 packet to [Balancer.Process], which
// returns its [balancer.Decision] and charges its operations to
// [balancer.Env.Meter]. [Balancer.Stats] reports the paths taken and each
// table's occupancy and evictions.
//
// # Algorithm
//
// A whole packet hashes its 5-tuple ([balancer.Hash5]) and follows its
// connection table entry, or takes the Maglev ring slot of the hash and
// records it, in the ring of the packet's service (none: passed). A
// fragment looks up the fragment table by (source, destination,
// protocol, IP ID; IPv6: the 32-bit Identification) and follows its
// entry; a first fragment
// that misses picks as a whole packet does; a non-first fragment that
// misses (an orphan: it overtook its first fragment, or its entry expired,
// was evicted or points at a dead backend) is admitted or dropped by the
// [OrphanAdmission], placed by the [OrphanPolicy], and recorded, so that
// the rest of its datagram, first fragment included, follows it. Entries
// expire after [Config.FragTimeout] or are evicted; none is deleted when
// the last fragment passes. A backend is usable when it is Up and in the
// pool of the packet's service: a backend drained to weight 0 keeps its
// flows and gets no new ones. The full rules (docs/services-and-ipv6.md
// for services, IPv6 and orphans of a VIP with several services), the
// cost of each path, and the simulation
// figures that chose [DefaultOrphanPolicy] and [DefaultOrphanAdmission]
// are in docs/design.md.
//
// # Guarantees
//
//   - Parity: the kernel program (package xdp) implements the same rules;
//     its options embed [Config], resolved by [Config.Resolve], and it
//     decides alike packet by packet (docs/parity.md).
//   - Cost: every operation the kernel performs is charged, as the kernel
//     performs it, so sim figures price the real datapath.
//   - No global state, no goroutines, no clock: time is
//     [balancer.Env.Now], and no decision depends on [balancer.Env.CPU]
//     (all tables are global, as in the kernel).
//   - Bounded: every table ([Config.ConnTableSize],
//     [Config.FragTableSize], [Config.HintTableSize]) is an array of
//     sets of four entries as the kernel keeps it, with a replacement
//     that is a pure function of the packets (the kernel evicts what the
//     model evicts); a set takes memory when first written, up to the
//     table's size, so Process allocates only while a table grows to its
//     working set (one chunk of 256 sets at a time). Full tables degrade
//     gracefully: an evicted flow re-picks from the consistent ring, an
//     evicted datagram's later fragments become orphans, an evicted host
//     pair falls back to [OrphanHash3].
//   - Bad input is a counted drop with a reason, never a panic.
package titan
