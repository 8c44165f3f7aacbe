// Package xdp is the TitanLB datapath in the kernel: the Titan XDP program
// (titan.c, built with bpf2go; the generated titan_bpfel.go and .o are
// committed so that build and test need no clang), its loader, a
// [balancer.Balancer] that runs packets through it ([NewBalancer]), and
// the backend-side decapsulation program ([LoadDecap]).
//
// # Usage
//
// [Load] loads the program with [Options]; the zero value is valid.
// Options embeds [titan.Config], the algorithm's configuration that
// balancer/titan takes too, beside the kernel's own fields. Give it its
// backends with [Program.SetBackends], then attach it to an interface with
// [Program.Attach] in an [AttachMode], or run one Ethernet frame through it
// with [Program.Run] (BPF_PROG_TEST_RUN, no interface needed). Read its
// counters with [Program.Stats], its kernel time per packet with
// [Program.Bench], and release it with [Program.Close]. A backend without
// an ipip device strips the outer header with [LoadDecap] and
// [Decap.Attach]. To outlive its process, attach with
// [Program.AttachPinned] (link and maps pinned in bpffs); a new process
// takes it back with every table entry by [Adopt]; [Pinned.Unpin] or
// [UnpinDir] detach it.
//
// # Guarantees
//
//   - Parity: for the same [titan.Config], packets and backend sets, the
//     program and balancer/titan make the same decision for every packet
//     (action, backend, drop reason), however full its tables (their
//     replacement is deterministic), while the run is shorter than the
//     fragment timeout.
//     docs/parity.md states the claim and its evidence.
//   - Bad input: a malformed frame is dropped (XDP_DROP) exactly where
//     [balancer.Decode] rejects it, each reason counted in [Stats]; a
//     non-IPv4 frame, and with VIPs a packet to no VIP, is passed.
//   - Forwarding is IPIP from [Options].SourceAddr (default: the VIP) to
//     the backend, sent back out with XDP_TX.
//   - Every table is bounded and preallocated at Load; a backend drained
//     to weight 0 keeps its flows and gets no new ones.
//   - A [Program] is not safe for concurrent use; the kernel program runs
//     on every CPU at once over shared maps.
//
// xdp imports balancer/titan, whose Config its Options embed: one
// definition of the algorithm's fields, defaults, errors and drop reasons
// for the Go model and the kernel. The program's steps and maps, and the
// decisions behind them, are in docs/design.md; its kernel benchmarks in
// docs/benchmarks.md; the cost model's calibration against it in
// docs/calibration.md.
//
// # Privileges
//
// Loading, running and attaching need root, or CAP_BPF with CAP_NET_ADMIN
// (CAP_SYS_ADMIN will do); without them [Load] returns an error wrapping
// [ErrNotPermitted] (and [os.ErrPermission]). Kernel 5.11 or later
// (BPF_PROG_TEST_RUN for XDP, batch map updates, bpf_jiffies64); no BTF
// needed. The tests skip with the reason when the privileges are missing,
// and fail instead when TITANLB_REQUIRE_BPF=1.
//
// # Regenerating
//
//	go generate ./xdp
//
// runs bpf2go (pinned as a tool in go.mod) with Debian's clang 14 and
// libbpf-dev headers; the output is byte-for-byte reproducible, so CI
// regenerates and fails on `git diff --exit-code`.
package xdp
