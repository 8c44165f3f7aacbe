package kbench

import (
	"net/netip"
	"slices"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// Path is one datapath path of the program that [Calibrate] measures: a
// frame, how the benchmark wrapper varies it, the packets that set up the
// state it runs against, and the operations the program performs on it
// (the ones balancer/titan charges for the same packet; a test checks
// they agree, except on the VIP paths, which titan has no VIP list for).
type Path struct {
	Name      string
	Stateless bool                // measured on the stateless variant
	VIPs      []netip.Addr        // the program's VIPs (xdp.Options.VIPs); none: balance all IPv4
	Down      bool                // every backend down: the packet finds none and is dropped
	Vary      Vary                // see [BenchOptions]
	Ops       [cost.NumOps]uint64 // operations per packet on this path
	Prime     []balancer.Packet   // run once before measuring
	Packet    balancer.Packet     // the measured packet
	Payload   int                 // payload bytes after its headers
	// Uncharged names work the program does on this path that no
	// operation of the cost model charges; [FitModel] leaves such paths
	// out. "" for none.
	Uncharged string
	// Overcharged names operations the cost model prices above what they
	// cost the program on this path; [FitModel] leaves such paths out
	// too. "" for none.
	Overcharged string
}

// Fitted reports whether the cost model prices p's work, neither more
// nor less: [FitModel] fits the prices to such paths only.
func (p Path) Fitted() bool { return p.Uncharged == "" && p.Overcharged == "" }

// Backends returns the backend set p is measured with: bs, all down
// when p.Down.
func (p Path) Backends(bs []balancer.Backend) []balancer.Backend {
	bs = slices.Clone(bs)
	for i := range bs {
		bs[i].Up = bs[i].Up && !p.Down
	}
	return bs
}

// STU prices p's operations with m.
func (p Path) STU(m cost.Model) cost.STU {
	var s cost.STU
	for op, n := range p.Ops {
		s += cost.STU(n) * m.Cost(cost.Op(op))
	}
	return s
}

// storeUncharged is what the fragment-table miss paths do uncharged:
// titan charges a store into the set the lookup returned as nothing, and
// the kernel's op counters do not count it, but writing a new entry into
// a set that a new datagram's key picks (the clock read for its creation
// time; a cache miss when the set is not the one after the sender's
// previous datagram's) costs time no operation prices.
const storeUncharged = "a new entry stored into the fragment set (uncharged by titan)"

// newFlowUncharged is what a new flow does uncharged: titan charges the
// stores of its connection and hint entries into the sets its lookups
// returned as nothing, but a new flow's sets are at random places in
// tables larger than the cache (its flow hash, its host pair's hash), a
// cache miss each that an established flow, reading the same set every
// time, never pays.
const newFlowUncharged = "new entries stored into the connection and hint sets (uncharged by titan), their cache misses"

// arrayOvercharged is what a fragment's path reads: ARRAY lookups only
// (stats, the fragment set, the backend), which the verifier inlines into
// a bounds check and an address computation, where one read price is
// fitted to paths whose reads include an LRU hash lookup (hashing the key
// and walking a bucket): a non-first fragment makes an established
// packet's operations and costs some 25% less.
const arrayOvercharged = "the fragment set read, an inlined ARRAY lookup priced as a hash-map lookup"

func ops(hash, reads, writes, encap uint64) [cost.NumOps]uint64 {
	var o [cost.NumOps]uint64
	o[cost.OpHash], o[cost.OpMapRead], o[cost.OpMapWrite], o[cost.OpEncap] = hash, reads, writes, encap
	return o
}

// Paths returns the measured paths, with the default options (no VIPs,
// unless the path says otherwise; OrphanHostHint, AdmitEarned). Reads
// include the per-CPU stats lookup every packet makes.
func Paths() []Path {
	client := netip.AddrFrom4([4]byte{198, 51, 100, 7})
	vip := netip.AddrFrom4([4]byte{192, 0, 2, 10})
	tcp := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: balancer.TCPAck, IPID: 1}
	udp := balancer.Packet{Src: client, Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 40001, DstPort: 4789, IPID: 2}
	first := udp
	first.IPID, first.MoreFragments = 3, true
	nonFirst := first
	nonFirst.SrcPort, nonFirst.DstPort, nonFirst.FragOffset = 0, 0, 185
	return []Path{
		// stats, conn, backend; hash; encap.
		{Name: "established-tcp", Ops: ops(1, 3, 0, 1), Prime: []balancer.Packet{tcp}, Packet: tcp, Payload: 100},
		{Name: "established-udp", Ops: ops(1, 3, 0, 1), Prime: []balancer.Packet{udp}, Packet: udp, Payload: 100},
		// stats, conn set (miss), ring, backend, hint set, orphan credit
		// (earned); flow and host-pair set hashes; the conn and hint
		// entries are stores into their sets (no write).
		{Name: "new-flow-tcp", Vary: VaryFlow, Ops: ops(2, 6, 0, 1), Packet: tcp, Payload: 100,
			Uncharged: newFlowUncharged},
		// stats, frag set (miss), conn (hit), backend; set-index and
		// flow hashes; the new entry is a store into the set (no write).
		{Name: "first-fragment", Vary: VaryDatagram, Ops: ops(2, 4, 0, 1), Prime: []balancer.Packet{udp}, Packet: first, Payload: 1472,
			Uncharged: storeUncharged, Overcharged: arrayOvercharged},
		// stats, frag set (hit), backend; set-index hash.
		{Name: "non-first-fragment", Ops: ops(1, 3, 0, 1), Prime: []balancer.Packet{first}, Packet: nonFirst, Payload: 1480,
			Overcharged: arrayOvercharged},
		// stats, frag set (miss), hint (hit), backend; set-index hash;
		// the new entry is a store into the set.
		{Name: "orphan-fragment", Vary: VaryDatagram, Ops: ops(1, 4, 0, 1), Prime: []balancer.Packet{udp}, Packet: nonFirst, Payload: 1480,
			Uncharged: storeUncharged, Overcharged: arrayOvercharged},
		// stats, ring, backend; hash; encap.
		{Name: "stateless-tcp", Stateless: true, Ops: ops(1, 3, 0, 1), Packet: tcp, Payload: 100},
		// stats; dropped.
		{Name: "stateless-fragment", Stateless: true, Ops: ops(0, 1, 0, 0), Packet: nonFirst, Payload: 1480},
		// With a VIP list: stats, vips, conn, backend; hash; encap. One
		// read more than established-tcp.
		{Name: "established-tcp-vip", VIPs: []netip.Addr{vip}, Ops: ops(1, 4, 0, 1), Prime: []balancer.Packet{tcp}, Packet: tcp, Payload: 100},
		// Not to a VIP: stats, vips; XDP_PASS.
		{Name: "not-vip", VIPs: []netip.Addr{client}, Ops: ops(0, 2, 0, 0), Packet: tcp, Payload: 100},
		// Every backend down: stats, conn (miss), ring (empty slot);
		// hash; dropped. established-tcp without its encapsulation, in
		// operations: it separates the hash's price from the encap's.
		{Name: "no-backend-tcp", Down: true, Ops: ops(1, 3, 0, 0), Packet: tcp, Payload: 100},
	}
}
