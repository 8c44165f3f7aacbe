// Package maglev implements Maglev consistent hashing (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
// §3.4): a lookup table ("ring") of M slots, M prime, in which each entry
// owns about 1/N of the slots, and which changes little when an entry comes
// or goes.
//
// # Building a table
//
// [New] takes the entries (a name and a weight each) and M (0 means
// [DefaultSize], 65537, the paper's and Katran's size) and returns an
// immutable [Table]. Entries are referred to by their index in the slice
// given to New. Bad input is an error that names the field: no entries, an
// empty or duplicate name, or a size that is not a prime between the number
// of entries and [MaxSize]. A table whose weights are all 0 is valid and
// every slot of it is -1.
//
// Each entry's preference list is the permutation
// permutation[j] = (offset + j·skip) mod M, with
//
//	offset = murmur3_32(name, seed 0x4d41474c) mod M
//	skip   = murmur3_32(name, seed 0x45563031) mod (M-1) + 1
//
// and entries take turns claiming their next preferred empty slot until all
// M slots are owned (the paper's Pseudocode 1). A name keeps its
// permutation across rebuilds, so an entry keeps most of its slots.
// Weights extend the turns as Katran's MaglevHashV2 and the paper's §3.4
// remark do: every round each entry earns its weight in credit and claims
// one slot per maxWeight of credit, so an entry of weight w owns about
// w/Σw of the slots and an entry of weight 0 owns none. With equal weights
// the table is slot for slot the one the paper's loop builds; the tests
// compare both, and with the loop of the common Go implementation
// (github.com/dgryski/go-maglev).
//
// The build is faster than that loop (BenchmarkNew runs both and reports
// the ratio; figures in docs/maglev.md): it probes four positions of a
// permutation per branch, without a division, against a bitmap of the
// taken slots that stays in cache, and finds the last few slots by
// scanning the list of empty ones instead of probing.
//
// # Lookup
//
// [Table.Lookup] returns Slots()[hash mod M], the reduction the paper,
// Katran and Cilium use, so rings built here can be written into an eBPF
// map as is. The remainder is computed exactly with a precomputed
// multiplier (Lemire, Kaser, Kurz: "Faster Remainder by Direct
// Computation", 2019); Lookup does not allocate and is safe for concurrent
// use.
//
// # Disruption
//
// [Disruption] is the share of slots whose owner changed between two
// tables, the paper's measure of how many connections a change would move.
// [Table.Counts] and [Table.Owner] show who owns what.
package maglev
