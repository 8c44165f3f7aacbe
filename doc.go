// Package titanlb is a discrete-event digital twin of XDP Layer-4 load
// balancers, and the real XDP program it describes. This package holds no
// code: it is the map of the module.
//
// Three designs run on the same traffic and the same cost model: Titan,
// which tracks IPv4 fragments by IP ID so that every fragment of a
// datagram reaches one backend; Katran (stateless Maglev, which drops
// fragments); and Cilium (a pipeline of tail calls that tracks fragments
// in order). A run reports what the backends received whole and what each
// packet cost in Simulation Time Units (STU).
//
// # Packages
//
//   - [github.com/titanlb/titanlb/sim]: scenarios (plain data), sim.Run and
//     sim.Sweep, the scheduler, ECMP fleets, attacks, pcap traces.
//   - [github.com/titanlb/titanlb/balancer]: the three-method
//     Balancer interface every design implements, the Packet header
//     view, the flow hashes, the frame codec and
//     the Maglev ring builder NewRing.
//   - [github.com/titanlb/titanlb/balancer/titan],
//     [github.com/titanlb/titanlb/balancer/katran],
//     [github.com/titanlb/titanlb/balancer/cilium]: the designs, each
//     citing the upstream source it models.
//   - [github.com/titanlb/titanlb/cost]: STU prices per operation and the
//     Meter a balancer charges.
//   - [github.com/titanlb/titanlb/maglev]: Maglev consistent hashing.
//   - [github.com/titanlb/titanlb/frag]: fragment tracking and reassembly.
//   - [github.com/titanlb/titanlb/lru]: the bounded LRU map the models
//     keep their tables in.
//   - [github.com/titanlb/titanlb/xdp]: Titan's eBPF program, its loader,
//     and NewBalancer, the kernel program as a simulated balancer.
//
// # Guarantees
//
// A scenario is data and a run is a function of it: the same scenario and
// seed give a byte-identical [github.com/titanlb/titanlb/sim.Result]. The Go model of Titan and the
// kernel program choose the same backend for the same packet; the xdp
// package's parity tests check it packet by packet.
//
// # Where to start
//
// Run the comparison, then read its source:
//
//	go run ./examples/compare
//
// The example below is one run. To write a balancer of your own,
// implement [github.com/titanlb/titanlb/balancer.Balancer] as examples/custom does, in under 80
// lines, and run it beside the others with [github.com/titanlb/titanlb/sim.Run]. To put the
// algorithm in a kernel, see [github.com/titanlb/titanlb/xdp.Load] and examples/xdp. Measurements,
// design notes and how the tests run are in the repository's docs/
// directory.
package titanlb
