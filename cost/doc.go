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
// Titan XDP program (package xdp) in the kernel:
//
//	OpHash        141  14 ns
//	OpMapRead      80  8 ns
//	OpMapWrite   3309  331 ns (an LRU insert that evicts)
//	OpEncap        62  6 ns
//	OpTailCall     80  not measured: a read, as Default prices it
//	OpRewrite      40  not measured: half a read, as Default prices it
//	NsPerSTU      0.1
//
// Measured 2026-11-25, 21:23 UTC, on the development machine: Linux
// 6.18.44, 2 vCPUs (Intel Xeon), load average 0.1-0.4, the Titan program
// with fragment sets of 32-byte ways reused in turn, the set hash sharing
// the flow hash's host-pair rounds, jiffies as the fragment table's
// clock, built for BPF v3 (wrapper alone: 16 ns). Method: xdp.CalibrateWith
// loads one program per path (tables of 16,384 entries), runs each path's
// packet 20,000 times per BPF_PROG_TEST_RUN call in a wrapper that
// restores the frame, measures the wrapper alone (with the path's
// variation of the frame) in the same rounds and subtracts it, interleaves
// 21 rounds of all paths after a warm-up round, three times a few seconds
// apart, and takes each path's median over the 63 rounds; the op counters
// of the program confirm every packet took its path. xdp.FitModel then
// fits the prices to the paths the model prices exactly: non-negative
// least squares of the relative error of ns = Σ ops × price. Medians of 21
// or more rounds agree across runs to within about 10%; a single round,
// or the medians of a few, vary far more with the machine's load (up to
// 1.7x on the write paths at load averages above 5).
//
//	path                  hash reads writes encap   net ns  Calibrated
//	established TCP         1    3     0     1        49       44
//	established UDP         1    3     0     1        43       44
//	new flow TCP            1    5     2     1       722      722
//	stateless TCP           1    3     0     1        45       44
//	stateless fragment      0    1     0     0         9        8
//	established TCP, VIPs   1    4     0     1        48       52
//	not a VIP (pass)        0    2     0     0        15       16
//	no backend (drop)       1    3     0     0        38       38
//	first fragment *        2    4     0     1        65       66
//	non-first fragment *    1    3     0     1        31       44
//	orphan fragment *       1    4     0     1        52       52
//
// *: left out of the fit, which one read price cannot make right: a
// fragment's reads are ARRAY lookups (stats, the fragment set, the
// backend), which the verifier inlines into a bounds check and an address
// computation, where the established path's reads include an LRU hash
// lookup (hashing the key, walking a bucket); a non-first fragment makes
// an established packet's operations and costs 30% less. A fragment that
// misses the table also stores a new entry into its set, which titan
// charges as nothing (a store through a looked-up pointer). The two errors
// about cancel on the inserting paths. While the store cost some 45 ns (a
// cold set of 168 bytes), Calibrated underpriced those two by half.
//
// The split between a hash and an encapsulation is weakly determined
// (only the no-backend path, an established packet without its
// encapsulation, separates them; runs minutes apart fitted hash 6-14 ns
// and encap 6-10 ns, an earlier program hash 16 ns and encap 2 ns); their
// sum, 16-20 ns, is not.
//
// A single scale cannot do this: under [Default]'s prices the paths cost
// 0.3-2.9 ns per STU, because the kernel's map write costs some 30 reads,
// not 3. The xdp package's TestCalibratedPredictsKernel measures every
// path on the machine it runs on and checks Calibrated's prediction
// within 25%; to re-derive the prices on another machine run
//
//	TITANLB_CALIBRATE_ROUNDS=21 TITANLB_CALIBRATE_RUNS=3 go test ./xdp -run 'TestCalibrate$' -v
//
// (as root; it pools the three runs' rounds) and paste the printed model.
//
// sim reports a scenario's mean cost in the model's nanoseconds
// (sim.Result.AvgNs).
//
// # Allocation
//
// [Meter.Charge] is small enough to be inlined and never allocates; a
// [Meter] is not safe for concurrent use (give each simulated CPU its own, or
// reset one per packet).
package cost
