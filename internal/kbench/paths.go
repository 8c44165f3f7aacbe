package kbench

import (
	"net/netip"

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

// STU prices p's operations with m.
func (p Path) STU(m cost.Model) cost.STU {
	var s cost.STU
	for op, n := range p.Ops {
		s += cost.STU(n) * m.Cost(cost.Op(op))
	}
	return s
}

// Ops counts the operations of a path by kind.
type Ops struct {
	Hash, ArrayRead, MapRead, LRURead, LRUInsert, Store, Clock, Encap, RingRead uint64
}

// Vector returns o indexed by cost.Op.
func (o Ops) Vector() [cost.NumOps]uint64 {
	var v [cost.NumOps]uint64
	v[cost.OpHash], v[cost.OpArrayRead], v[cost.OpMapRead], v[cost.OpLRURead] = o.Hash, o.ArrayRead, o.MapRead, o.LRURead
	v[cost.OpLRUInsert], v[cost.OpStore], v[cost.OpClock], v[cost.OpEncap] = o.LRUInsert, o.Store, o.Clock, o.Encap
	v[cost.OpRingRead] = o.RingRead
	return v
}

// Paths returns the measured paths, with the default options (no VIPs,
// unless the path says otherwise; OrphanHostHint, AdmitEarned). Every
// read but the VIP list's (a HASH) is an ARRAY lookup, the per-CPU stats
// lookup every packet makes included.
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
		// stats, conn set, backend; flow hash; encap.
		{Name: "established-tcp", Ops: Ops{Hash: 1, ArrayRead: 3, Encap: 1}.Vector(), Prime: []balancer.Packet{tcp}, Packet: tcp, Payload: 100},
		{Name: "established-udp", Ops: Ops{Hash: 1, ArrayRead: 3, Encap: 1}.Vector(), Prime: []balancer.Packet{udp}, Packet: udp, Payload: 100},
		// stats, conn set (miss), ring, backend, hint set, orphan credit
		// (earned); flow and host-pair set hashes; the conn and hint
		// entries stored into their sets, each at a random place in its
		// table (a new source every packet).
		{Name: "new-flow-tcp", Vary: VaryFlow, Ops: Ops{Hash: 2, ArrayRead: 5, RingRead: 1, Store: 2, Encap: 1}.Vector(), Packet: tcp, Payload: 100},
		// stats, frag set (miss), conn (hit), backend; set-index and
		// flow hashes; the new fragment entry is a store into the set the
		// lookup read, the one after the sender's previous datagram's
		// (consecutive IDs), uncharged as any store into a line in cache.
		{Name: "first-fragment", Vary: VaryDatagram, Ops: Ops{Hash: 2, ArrayRead: 4, Encap: 1}.Vector(), Prime: []balancer.Packet{udp}, Packet: first, Payload: 1472},
		// stats, frag set (hit), backend; set-index hash.
		{Name: "non-first-fragment", Ops: Ops{Hash: 1, ArrayRead: 3, Encap: 1}.Vector(), Prime: []balancer.Packet{first}, Packet: nonFirst, Payload: 1480},
		// stats, frag set (miss), hint (hit), backend; set-index hash;
		// the new entry is a store into the set (uncharged, as above).
		{Name: "orphan-fragment", Vary: VaryDatagram, Ops: Ops{Hash: 1, ArrayRead: 4, Encap: 1}.Vector(), Prime: []balancer.Packet{udp}, Packet: nonFirst, Payload: 1480},
		// stats, ring, backend; hash; encap. The same packet every call
		// reads the same ring slot, in cache, where the ring read is
		// priced as a new flow's, at a random place. (From a new source
		// every call it measured 37-71 ns on the development machine,
		// from one run to the next: too unsteady to fit.)
		{Name: "stateless-tcp", Stateless: true, Ops: Ops{Hash: 1, ArrayRead: 2, RingRead: 1, Encap: 1}.Vector(), Packet: tcp, Payload: 100,
			Overcharged: "ring_read: the same slot every call, in cache"},
		// stats; dropped.
		{Name: "stateless-fragment", Stateless: true, Ops: Ops{ArrayRead: 1}.Vector(), Packet: nonFirst, Payload: 1480},
		// With a VIP list: stats, vips (a HASH), conn, backend; hash;
		// encap. One hash-map read more than established-tcp.
		{Name: "established-tcp-vip", VIPs: []netip.Addr{vip}, Ops: Ops{Hash: 1, ArrayRead: 3, MapRead: 1, Encap: 1}.Vector(), Prime: []balancer.Packet{tcp}, Packet: tcp, Payload: 100},
		// Not to a VIP: stats, vips; XDP_PASS.
		{Name: "not-vip", VIPs: []netip.Addr{client}, Ops: Ops{ArrayRead: 1, MapRead: 1}.Vector(), Packet: tcp, Payload: 100},
	}
}
