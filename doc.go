// Package titanlb is a discrete-event digital twin of XDP Layer-4 load
// balancers, and the real XDP program it describes.
//
// It models three designs on the same traffic and the same cost model:
// TitanLB's own stateful balancer, which tracks IPv4 fragments by IP ID so
// that every fragment of a datagram reaches one backend; Katran (stateless
// Maglev, which drops fragments); and Cilium (a pipeline of tail calls:
// correct on in-order fragments, at a higher per-packet cost). The xdp
// package loads TitanLB's algorithm into a Linux kernel, and its tests check,
// packet by packet, that the kernel program and the Go model pick the same
// backend.
//
// # Packages
//
//   - [github.com/titanlb/titanlb/cost]: Simulation Time Units per operation
//     (hash 10, map read 20, map write 60, encapsulation 40) and the Meter.
//   - [github.com/titanlb/titanlb/maglev]: Maglev consistent hashing.
//   - [github.com/titanlb/titanlb/frag]: fragment tracking (balancer side)
//     and reassembly (backend side).
//   - [github.com/titanlb/titanlb/balancer]: the Balancer interface, the
//     Packet header view, the shared flow hash and the frame codec.
//   - balancer/titan, balancer/katran, balancer/cilium: the three designs.
//   - [github.com/titanlb/titanlb/sim]: the event scheduler, scenarios and
//     results.
//   - [github.com/titanlb/titanlb/xdp]: the eBPF program and its loader.
//
// # Where to start
//
// Run the comparison with
//
//	go run ./examples/compare
//
// and read sim.Run: a scenario is data, a run is a function of it.
package titanlb
