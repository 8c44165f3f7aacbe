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
//	OpMapRead   20 STU  one BPF map lookup (a hash map's, or of a kind not told apart)
//	OpMapWrite  60 STU  one BPF map update helper call
//	OpEncap     40 STU  one bpf_xdp_adjust_head plus writing an IPIP header
//
// The kernel prices a map access by the map's kind, so the models charge
// reads and writes by kind; [Default] prices each kind as its family, so
// the STU stay those of the seed prices:
//
//	OpArrayRead 20 STU  an ARRAY, PERCPU_ARRAY or ARRAY_OF_MAPS lookup (inlined)
//	OpLRURead   20 STU  an LRU_HASH lookup
//	OpLRUInsert 60 STU  an LRU_HASH update of a new key (may evict)
//	OpStore      0 STU  a new entry stored into a set through its lookup's pointer
//	                    (the seed model prices helper calls, not stores)
//	OpClock     20 STU  bpf_ktime_get_ns, a helper call priced as a lookup
//	OpRingRead  20 STU  a consistent-hash ring's slot read (an ARRAY lookup at
//	                    the flow's hash: for a new flow, a random place)
//
// Further operations, with where their price comes from:
//
//	OpTailCall  20 STU  bpf_tail_call: the kernel reads the PROG_ARRAY slot and
//	                    jumps (kernel/bpf/core.c, JMP_TAIL_CALL); priced as a read.
//	OpRewrite   10 STU  rewriting an address or port in place and fixing the
//	                    checksum incrementally (csum_diff / l4_csum_replace in
//	                    Cilium's SNAT and DNAT); arithmetic on a few words, priced
//	                    as a hash.
//
// [Model.NsPerSTU] converts STU to simulated time (default 1 ns per STU);
// [Model.Cost] and [Model.SetCost] read and set a price by operation.
//
// # Calibration
//
// [Calibrated] prices the operations in tenths of a nanosecond of the
// kernel of the development machine, fitted to both XDP programs, Titan's
// (package xdp) and Katran's (measured side by side with it), so that a
// packet's STU times NsPerSTU predicts its nanoseconds there for either
// design's model: about 2 ns an ARRAY read, 10 a hash-map lookup, 21 an
// LRU lookup, 25 a clock read, 37 a new flow's ring slot, 65 a new entry
// stored into a random set, 338 an LRU insert. No single scale of
// [Default]'s prices can. The
// measurements, the fit and how to check or re-derive it are in
// docs/calibration.md; sim reports a scenario's mean cost in the model's
// nanoseconds (sim.Result.AvgNs).
//
// # Allocation
//
// [Meter.Charge] is small enough to be inlined and never allocates; a
// [Meter] is not safe for concurrent use (give each simulated CPU its own, or
// reset one per packet).
package cost
