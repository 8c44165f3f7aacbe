// Package maglev implements Maglev consistent hashing (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
// §3.4): a lookup table ("ring") of M slots, M prime, in which each entry owns
// about 1/N of the slots, and which changes little when an entry comes or
// goes.
//
// # Population
//
// Each entry's preference list is the permutation
// permutation[j] = (offset + j·skip) mod M, with
//
//	offset = murmur3_32(name, seed 0x4d41474c) mod M
//	skip   = murmur3_32(name, seed 0x45563031) mod (M-1) + 1
//
// and entries take turns claiming their next preferred empty slot until all
// M slots are owned (the paper's Pseudocode 1). Weights extend the turns as
// Katran's MaglevHashV2 and the paper's §3.4 remark do: every round each
// entry earns its weight in credit and claims one slot per maxWeight of
// credit, so an entry of weight w owns about w/Σw of the slots and an entry
// of weight 0 owns none. With equal weights this is exactly the paper's loop.
//
// The build keeps each entry's position in its permutation and advances it by
// adding skip and subtracting M on overflow, instead of a division per probe;
// [BenchmarkNew] compares it with the plain loop (BenchmarkNewPaperLoop).
//
// Measured on the project's 2-core machine when idle (go test -bench New,
// M = 65537, medians of 3): N = 100 builds in about 2.1 ms against 3.3 ms
// for the plain loop in the same run (one division per probe) and about
// 4.4 ms for the common Go implementation (dgryski/go-maglev, which
// composes three permutations, so three divisions, per probe); N = 1000 in
// about 2.5 ms. With N = 3 the plain loop is as fast or faster (1.2 ms
// against 1.5 ms): few entries make few failed probes, and the build is
// then bound by the 65537 claims' scattered writes and branch
// mispredictions, which no probing trick removes.
//
// # Lookup
//
// [Table.Lookup] returns Slots()[hash mod M], the reduction the paper, Katran
// and Cilium use, so rings built here can be written into an eBPF map as is.
// The remainder is computed exactly with a precomputed multiplier (Lemire,
// Kaser, Kurz: "Faster Remainder by Direct Computation", 2019) and does not
// allocate.
//
// # Disruption
//
// [Disruption] is the share of slots whose owner changed between two tables,
// the paper's measure of how many connections a change would move.
package maglev
