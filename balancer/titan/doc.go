// Package titan is the Go model of TitanLB's own XDP load balancer: Maglev
// over a 5-tuple flow hash, a connection table, and a fragment table that
// keeps every fragment of a datagram on one backend, reordered fragments
// included.
//
// It imports [github.com/titanlb/titanlb/balancer], [github.com/titanlb/titanlb/cost],
// [github.com/titanlb/titanlb/frag] and the ring of [balancer.NewRing], and touches nothing
// else: no global state, no goroutines, no clock (time is [balancer.Env.Now]).
// The eBPF program in xdp/ implements the same algorithm from the same
// specification; its options embed [Config], resolved by [Config.Resolve],
// and its tests compare the two packet by packet.
//
// # Algorithm
//
// [Balancer.SetBackends] builds the Maglev ring with [balancer.NewRing] (the
// backends that are Up with Weight > 0, sorted by ID). A backend is usable
// for an existing table entry when it is in the current set and Up: a
// drained backend (Up, Weight 0) keeps the flows it has and gets no new
// ones. All three tables are global, shared by every CPU (NIC RSS hashes a
// datagram's non-first fragments on addresses only, so they land on other
// CPUs than their first fragment): no decision depends on [balancer.Env.CPU].
//
// For each IPv4 packet, [Balancer.Process]:
//
//  1. passes it ([balancer.Pass]) when VIPs are configured and its
//     destination is not one of them;
//  2. for a whole packet (MF=0, offset 0): hashes the 5-tuple
//     ([balancer.Hash5]; ports 0 for protocols other than TCP and UDP) and
//     looks up the connection table. A hit on a usable backend is followed.
//     Otherwise (a miss, or a backend down or gone) it takes the ring slot
//     hash % M (no backend: drop, [balancer.ReasonNoBackend]), writes the
//     connection entry (overwriting) and, under [OrphanHostHint], the
//     host-pair hint (source, destination, protocol) -> backend;
//  3. for a fragment, looks up the fragment table by (source, destination,
//     protocol, IP ID), and follows or writes it as the list below says;
//  4. forwards: IPIP encapsulation toward the backend.
//
// The fragment rules, on which parity with the kernel program depends:
//
//   - An entry older than [Config.FragTimeout] (now - created > timeout) is
//     a miss.
//   - On a hit whose backend is usable, a non-first fragment follows the
//     entry. So does a first fragment (offset 0, MF=1), after recording its
//     ports when an orphan created the entry (an update in place; created
//     is kept); a
//     first fragment whose ports differ from those recorded is dropped,
//     reason [ReasonConflictingFirstFragment].
//   - Otherwise (a miss, or the entry's backend is down or gone) a first
//     fragment picks as a whole packet does (step 2) and writes the entry
//     {backend, ports, created=now}.
//   - Otherwise a non-first fragment is an orphan: it overtook its first
//     fragment, or its entry expired, was evicted or points at a dead
//     backend. If the [OrphanAdmission] admits it (see # Orphan admission)
//     it picks by the [OrphanPolicy] and writes the entry {backend, no
//     ports, created=now}, so the rest of its datagram, first fragment
//     included, follows it; otherwise it is dropped, reason
//     [ReasonUnknownOrphan], and writes nothing.
//   - The entry is never deleted when the MF=0 fragment passes (it need not
//     be the last to arrive): entries expire or are evicted.
//
// A first fragment that follows an orphan's entry does not write the
// connection table: the datagram stays whole, but the flow's next whole
// packet is placed by its own 5-tuple, which is the orphan's backend only
// if the orphan policy guessed right. That is what the orphan policies are
// measured on.
//
// # Cost per packet
//
// Every operation the kernel program performs is charged to
// [balancer.Env.Meter]: a per-CPU stats read on every packet, a VIP map
// read when VIPs are configured, each hash ([cost.OpHash]: the 5-tuple or
// 3-tuple flow hash, and a fragment's set index), each connection,
// fragment-set, hint, ring or backend-array lookup ([cost.OpMapRead]; the
// backend array is read once for every backend a packet considers: to check
// a table entry's backend is usable, and for the address of a ring pick),
// each connection or hint table write ([cost.OpMapWrite]) and the
// encapsulation ([cost.OpEncap]). The fragment table costs a hash and a
// read per fragment and nothing more: it is a set-associative table
// ([frag.SetTable]; in the kernel an ARRAY whose value is a set of
// [frag.Ways] entries), so a fragment reads its key's set once, and a new
// or updated entry is a store into that set through the pointer the read
// returned, not a map update; like the stats counters' increments, such
// stores are not charged. With [cost.Default] prices (hash 10, read 20,
// write 60, encap 40) and no VIPs (add one read, 20 STU, with VIPs):
//
//	packet                                    hash read write encap   STU
//	new TCP or UDP flow (OrphanHash3)           1    4     1     1    190
//	new TCP or UDP flow (OrphanHostHint)        1    4     2     1    250
//	established TCP or UDP flow                 1    3     -     1    110
//	first fragment, known flow                  2    4     -     1    140
//	first fragment, new flow (OrphanHash3)      2    5     1     1    220
//	first fragment, new flow (OrphanHostHint)   2    5     2     1    280
//	first fragment after its orphan             1    3     -     1    110
//	non-first fragment with its entry           1    3     -     1    110
//	orphan, OrphanHash3                         2    4     -     1    140
//	orphan, OrphanHostHint, hint hit            1    4     -     1    130
//	orphan, OrphanHostHint, no usable hint      2    5     -     1    160
//	conflicting first fragment (dropped)        1    3     -     -     70
//	packet to another destination (VIPs set)    -    2     -     -     40
//
// The table is for [AdmitAll]. Under [AdmitEarned] (the default) the hint
// table is kept whatever the policy (its write on every new flow, its read
// on every orphan, as under OrphanHostHint), and the orphan credit is read
// (an ARRAY lookup and an atomic add) once per new flow and once per orphan
// of an unknown host pair: with the defaults (OrphanHostHint, AdmitEarned)
// a new flow costs 270 STU, a first fragment of a new flow 300, an orphan
// with no hint 180, and an orphan refused (stats, fragment-set, hint and
// credit reads and the set-index hash, dropped) 90. A table hit whose backend is unusable adds its
// backend read (20) to the re-pick. TestCostTable checks these counts.
//
// # Orphan policies
//
// [OrphanHash3] places an orphan on the ring slot of its 3-tuple hash
// ([balancer.Hash3]): with N backends it agrees with its flow's 5-tuple pick
// about 1/N of the time. [OrphanHostHint] remembers, per (source,
// destination, protocol), the backend of the latest new flow between those
// hosts, and places the orphan there when that backend is usable; UDP
// tunnels and QUIC, which keep one host pair, then stay on their backend. It
// costs one hint write per new flow and one hint read per orphan.
//
// Both were run side by side through the simulator (sim.Run, seed 1;
// TestOrphanPolicies, run with -v, prints these figures): backends 101, 102,
// 103; 10,000 flows, half TCP and half UDP, 100,000 datagrams/s for 1 s;
// 20% of fragmented datagrams reordered; flows from one host each, or
// sharing fewer hosts:
//
//	fragmentation  hosts   policy     Reliability  Affinity  AvgCost (STU)
//	100%           10000   hash3      1.00000      0.94925   122.60
//	100%           10000   hosthint   1.00000      1.00000   124.25
//	100%            2000   hash3      1.00000      0.95154   122.60
//	100%            2000   hosthint   1.00000      0.97157   124.20
//	100%             100   hash3      1.00000      0.95150   122.60
//	100%             100   hosthint   1.00000      0.95289   124.15
//	 50%           10000   hash3      1.00000      0.92893   121.41
//	 50%           10000   hosthint   1.00000      1.00000   124.16
//
// (At 100% fragmentation a UDP flow sends no whole packet, so the simulator
// names no backend for it and only TCP flows score affinity; the 50% rows
// include UDP flows.) Both policies keep every datagram whole: the first
// fragment follows the orphan either way. They differ in where the
// datagram goes: an orphan placed elsewhere than its flow's backend costs
// affinity. The 3-tuple hash is right about a third of the time (N = 3). The
// hint is the backend of the latest new flow between the two hosts: exactly
// the orphan's flow when a host pair carries one flow (tunnels, QUIC, most
// clients), so it recovers all the affinity the hash loses; with 5 flows
// per host pair it recovers 40% of it, with 100 almost nothing (the latest
// flow is then some other flow, right 1/N of the time like the hash), and
// it is never worse. It costs 1.3-2.3% more per packet (a hint write per new
// flow). OrphanHostHint is therefore [DefaultOrphanPolicy]; OrphanHash3
// saves the hint table's memory where host pairs carry many flows each.
//
// # Orphan admission
//
// Forwarding every orphan is what keeps reordered datagrams whole, and what
// an attacker exploits: non-first fragments with random sources and IP IDs
// (their first fragment never comes) each write a fragment table entry and
// are forwarded to a backend, whose reassembly queue holds them until it
// times out (30 s) and refuses new datagrams while full, legitimate ones
// included. [AdmitEarned] tells the two apart by the host pair: a
// legitimate orphan comes from a client that has, or soon will have, a flow
// through the balancer (its TCP SYN, its unfragmented UDP datagrams, the
// first fragment it overtook), a spoofed one from an address that never
// opens one. An orphan whose (source, destination, protocol) has a host-pair
// hint is admitted; one without spends a credit, which starts at
// [Config.OrphanCredits] (1024) and which every new flow earns back, up to
// that bound. In peace the credit stays full (new flows outnumber orphans of
// new hosts); under a flood it drains at once and the spoofed orphans are
// dropped at 90 STU each, without writing, while orphans of known hosts
// still pass. What it gives up: under a flood, an orphan of a host pair
// with no flow yet (the first datagram a new UDP client sends, fragmented
// and reordered) is lost; and an attacker who also opens flows (a SYN
// flood from the same addresses) buys one orphan per flow.
//
// Measured (sim TestAttacks, seed 7: backends 101-103, 2,000 flows, half
// UDP, 50,000 datagrams/s for 200 ms, 20% of them 9,000-byte datagrams sent
// as 7 fragments 1 ms apart, a quarter reordered, about 110,000 legitimate
// packets/s; the orphan flood sends 1.1 million orphans/s, 10 times the
// legitimate rate, from 65,536 spoofed sources):
//
//	                  no attack                orphan flood
//	admission         Reliability  Affinity    Reliability  Affinity  table entries  orphans to backends
//	AdmitAll          1.0000       0.9994      0.8252       0.9994    20338          220133
//	AdmitEarned       1.0000       0.9994      0.9965       0.9998     8730            2995
//
// Under AdmitAll the fragment table stays full of orphans (16,384 entries,
// 205,696 evictions; the legitimate datagrams still stay whole at the
// balancer, their later fragments finding the hint) and the backends'
// reassemblers fill with them: 17% of the legitimate datagrams are refused
// there ("reassembly: table full"). Under AdmitEarned the balancer holds
// only the legitimate traffic's entries, the backends get the 2,995
// orphans the new flows paid for, and the legitimate loss is the 0.35% of
// datagrams that were a new host's first, fragmented and reordered.
// Without an attack the two decide alike on this scenario and on the
// scenarios of TestOrphanPolicies (Reliability 1.00000 with either: the
// credit never runs out), at 20 STU more per new flow. AdmitEarned is
// therefore [DefaultOrphanAdmission]; AdmitAll keeps the older behaviour.
// The kernel program (xdp) implements both, with the same default.
//
// # Bounded tables
//
// The connection table ([Config.ConnTableSize], default 65536), the fragment
// table ([Config.FragTableSize], default 16384, entries live
// [Config.FragTimeout], default 30 s like Linux net.ipv4.ipfrag_time) and
// the hint table ([Config.HintTableSize], default 65536) are bounded and
// allocated by [New]; Process does not allocate. The connection and hint
// tables are LRUs ([lru.Map]): when full, a new entry evicts the least
// recently used one. The fragment table is a [frag.SetTable] of
// ceil(FragTableSize/4) sets of 4 entries, as the kernel program keeps it:
// a new entry takes the ways of its key's set in turn (first in, first
// out), evicting the set's oldest entry when it is still live, even while
// other sets have room. That eviction is deterministic, so the kernel
// evicts exactly the entries the model evicts. Either way the balancer degrades gracefully
// instead of failing:
//
//   - connection table full: an evicted flow's next packet re-picks from the
//     ring, which gives the same backend as long as the backend set has not
//     changed (Maglev is consistent); only flows evicted across a backend
//     change can move;
//   - fragment table full: a datagram whose entry was evicted mid-flight
//     sees its later fragments as orphans; they are forwarded by the orphan
//     policy and the datagram is split only if that pick differs from the
//     first fragment's;
//   - hint table full: orphans of evicted host pairs fall back to
//     [OrphanHash3].
//
// Measured (TestSimFullTables: the 100%-fragmentation, 20%-reordering,
// one-host-per-flow scenario above) with every table cut to 10 entries:
// Reliability stays 1.00000 and nothing is disrupted (a datagram's
// fragments arrive close together, and Maglev re-picks the same backend),
// AvgCost rises from 125.01 to 168.60 STU (re-picks and rewrites), and
// Affinity falls from 1.00000 to 0.94929, the hash3 figure (the hint table
// forgets). [Balancer.Stats] reports evictions and occupancy of each table.
package titan
