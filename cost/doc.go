// Package cost is TitanLB's deterministic cost model: a price in Simulation
// Time Units ([STU]) for each datapath operation ([Op]) and a [Meter] that
// counts the operations a balancer performs on a packet.
//
// # Seed costs
//
// The four seed prices come from the TitanLB proposal and are the unit of
// every figure the simulator reports:
//
//	OpHash      10 STU  one flow hash (murmur3 over a 12- or 16-byte key)
//	OpMapRead   20 STU  one BPF map lookup (hash, LRU, array or per-CPU array)
//	OpMapWrite  60 STU  one BPF map update (an LRU update may also evict)
//	OpEncap     40 STU  one bpf_xdp_adjust_head plus writing an IPIP header
//
// Further operations, with where their price comes from:
//
//	OpTailCall  20 STU  bpf_tail_call: the kernel reads the PROG_ARRAY slot and
//	                    jumps (kernel/bpf/core.c, JMP_TAIL_CALL); priced as the
//	                    array read it is.
//	OpRewrite   10 STU  rewriting an address or port in place and fixing the
//	                    checksum incrementally (csum_diff / l4_csum_replace in
//	                    Cilium's SNAT and DNAT); arithmetic on a few words, priced
//	                    as a hash.
//
// [Model.NsPerSTU] converts STU to simulated time (default 1 ns per STU).
//
// # Calibration
//
// [Calibrated] prices the operations in tenths of a nanosecond of the
// Titan XDP program (package xdp) in the kernel of the development
// machine: about 14 ns a hash, 8 ns a read, 331 ns a write (an LRU insert
// that evicts) and 6 ns an encapsulation, so that a packet's STU times
// NsPerSTU predicts its nanoseconds there. No single scale of [Default]'s
// prices can: the kernel's map write costs some 30 reads, not 3. How the
// prices were measured and fitted, the measurements, and how to check or
// re-derive them on another machine are in docs/calibration.md. sim
// reports a scenario's mean cost in the model's nanoseconds
// (sim.Result.AvgNs).
//
// # Allocation
//
// [Meter.Charge] is small enough to be inlined and never allocates; a
// [Meter] is not safe for concurrent use (give each simulated CPU its own, or
// reset one per packet).
package cost
