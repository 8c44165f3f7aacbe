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
//	OpHash          0  (below the resolution: the fits gave 0-10 ns)
//	OpMapRead      59  5.9 ns
//	OpMapWrite   2714  271 ns (an LRU insert that evicts)
//	OpEncap       173  17 ns
//	OpTailCall     59  not measured: a read, as Default prices it
//	OpRewrite      30  not measured: half a read, as Default prices it
//	NsPerSTU      0.1
//
// Measured 2026-11-25 on the development machine: Linux 6.18.44, 2 vCPUs
// (Intel Xeon), shared with other work (load average 5.4-6.2). Method:
// xdp.CalibrateWith loads one program per path (tables of 16,384
// entries), runs each path's packet 20,000 times per BPF_PROG_TEST_RUN
// call in a wrapper that restores the frame, measures the wrapper alone
// in the same rounds and subtracts it, interleaves 21 rounds of all
// paths after a warm-up round and takes each path's median; the op
// counters of the program confirm every packet took its path.
// xdp.FitModel then fits the prices: non-negative least squares of the
// relative error of ns = Σ ops × price over the paths. The committed
// prices are the fit to the median of three such calibrations, run a
// few seconds apart (below). Medians of 21 rounds agree across runs to
// within 10%; a single round, or medians of a few, vary far more with
// the machine's load (up to 1.7x on the write paths at load averages
// above 5).
//
//	path                  hash reads writes encap  net ns (3 runs)   median  Calibrated
//	established TCP         1    3     0     1      33  34  34        34      35
//	established UDP         1    3     0     1      33  34  34        34      35
//	new flow TCP            1    5     2     1     626 664 665       664     590
//	first fragment          1    4     1     1     285 286 309       286     312
//	non-first fragment      0    3     0     1      36  37  37        37      35
//	orphan fragment         0    4     1     1     306 311 318       311     312
//	stateless TCP           1    3     0     1      41  41  42        41      35
//	stateless fragment      0    1     0     0       6   6   6         6       6
//	established TCP, VIPs   1    4     0     1      37  37  37        37      41
//	not a VIP (pass)        0    2     0     0      11  12  12        12      12
//
// A single write price is a compromise: a new flow's two inserts (the
// connection and hint tables) cost about 300 ns each, a fragment's one
// about 250 ns.
//
// A single scale cannot do this: under [Default]'s prices the paths cost
// 0.3-2.5 ns per STU, because the kernel's map write costs some 45 reads,
// not 3. The xdp package's TestCalibratedPredictsKernel measures every
// path on the machine it runs on and checks Calibrated's prediction
// within 25%; to re-derive the prices on another machine run
//
//	TITANLB_CALIBRATE_ROUNDS=21 TITANLB_CALIBRATE_RUNS=3 go test ./xdp -run 'TestCalibrate$' -v
//
// (as root; it pools the three runs' rounds) and paste the printed model.
// Run a few minutes after the committed figures were taken (load average
// 2-4), it gave read 62, write 2867, encap 181: within 6% of these.
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
