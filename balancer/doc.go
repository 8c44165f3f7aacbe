// Package balancer holds the contract every TitanLB load balancer meets:
// the [Packet] header view, [Backend], [Decision], [Env] and the [Balancer]
// interface, plus the flow hash that the Go models and the eBPF program share
// byte for byte ([Hash5], [Hash3]) and a frame codec ([Decode], [Encode]).
//
// [NewRing] builds the Maglev ring of backend IDs that every balancer and
// the eBPF program share: a custom balancer picks its backends with it.
// Services ([ServiceKey], [Service], [ServiceSetter]) are held and resolved
// by a [ServiceTable], one ring per service; docs/services-and-ipv6.md
// gives the design.
//
// It imports only [github.com/titanlb/titanlb/cost] and
// [github.com/titanlb/titanlb/maglev] (and internal/murmur, the hash steps
// it shares with frag); the implementations
// live in balancer/titan, balancer/katran and balancer/cilium, and the kernel
// program's adapter in xdp.
//
// # Flow hash layout
//
// The flow hash is MurmurHash3 x86 32-bit ([github.com/twmb/murmur3]
// computes the same values; this package's [Hash5] and [Hash3] are unrolled,
// allocation-free versions of it, checked against that library in tests)
// over a fixed little key, with a seed ([DefaultSeed] unless configured).
//
// The 5-tuple key is 16 bytes:
//
//	offset  size  field
//	0       4     source IPv4 address, network byte order
//	4       4     destination IPv4 address, network byte order
//	8       2     source port, network byte order
//	10      2     destination port, network byte order
//	12      1     IP protocol
//	13      3     zero
//
// The 3-tuple key is 12 bytes: source address (4), destination address (4),
// protocol (1), three zero bytes. Murmur3 reads the key as little-endian
// 32-bit words, so the C program builds the same bytes in a struct and hashes
// its words; no tail bytes are ever processed.
//
// A packet with an IPv6 address hashes the same fields over 40 bytes
// (source 16, destination 16, ports 2+2, protocol 1, three zero) and 36
// bytes for the 3-tuple ([Key5IPv6], [Key3IPv6]).
//
// A packet without ports (a non-first fragment) hashes its 5-tuple with
// ports 0; balancers that must not do so use [Hash3].
//
// # Packets
//
// [Packet] is a value type of header fields only: what a datapath can read
// from the wire. [Decode] turns an Ethernet/IPv4 or IPv6 frame into one
// (IPv6 extension headers walked up to [MaxExtHeaders]) and names what is
// malformed when it cannot; [Encode] builds a valid frame (IPv4 header
// checksum and TCP/UDP checksums set) from one. A Packet built in
// Go may hold what no header carries; [Packet.Malformed] says so, and
// every balancer drops such a packet with [ReasonMalformed].
package balancer
