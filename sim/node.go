package sim

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/murmur"
)

// packet is a packet in flight through the simulated node: the header the
// balancer sees, plus the simulator's bookkeeping, which the balancer does
// not see.
type packet struct {
	hdr    balancer.Packet
	arrive Time
	flow   uint32
	seq    uint32 // arrival number in a recorded run (RunRecorded)
	dgram  uint64 // fragments: datagram number (ring slot, reassembly tag)
	frag   uint16 // fragment index (0: the first, by offset)
	nfrag  uint16 // fragments in the datagram; 0 or 1: not fragmented
	attack bool   // sent by an Attack: left out of the legitimate metrics
	svc    uint16 // index in Scenario.Services (noService: none); 0 without services
}

// cpu is one CPU of the node with its RX queue: a single server that
// processes its queue in order. The packet in service stays at the head of
// the ring until its service ends, so that a packet is copied once, into
// the ring, on its way through the node.
type cpu struct {
	queue    []packet        // ring, grown by doubling up to limit+1 slots
	limit    int             // Node.QueueLen: packets waiting, besides the one in service
	head, n  int             // n: packets held, the one in service (at head) included
	hdr      balancer.Packet // the copy of the head's header handed to the balancer
	dec      balancer.Decision
	busyTime Time
	env      balancer.Env
	stu      cost.STU          // the cost of the packet in service
	meter    *cost.Meter       // legitimate packets' operations, the whole run
	atkMeter *cost.Meter       // attack packets'
	lb       balancer.Balancer // its node's balancer
}

// busy reports whether a packet is in service.
func (c *cpu) busy() bool { return c.n > 0 }

// cur returns the packet in service; the CPU is busy.
func (c *cpu) cur() *packet { return &c.queue[c.head] }

// push appends p to the ring and reports whether it fit: a packet arriving
// at an idle CPU always does (it goes into service), one arriving at a
// busy CPU if fewer than limit packets wait.
func (c *cpu) push(p *packet) bool {
	if c.n == len(c.queue) {
		if c.n > c.limit {
			return false
		}
		c.grow()
	}
	i := c.head + c.n
	if i >= len(c.queue) {
		i -= len(c.queue)
	}
	c.queue[i] = *p
	c.n++
	return true
}

// grow doubles the ring (up to limit+1), keeping the packets in order, so
// that deep queues cost memory only when they fill.
func (c *cpu) grow() {
	q := make([]packet, min(max(2*len(c.queue), 64), c.limit+1))
	for i := range c.n {
		j := c.head + i
		if j >= len(c.queue) {
			j -= len(c.queue)
		}
		q[i] = c.queue[j]
	}
	c.queue, c.head = q, 0
}

// pop removes the packet in service.
func (c *cpu) pop() {
	c.head++
	if c.head == len(c.queue) {
		c.head = 0
	}
	c.n--
}

// rssSeed keys the node's RSS hash, independent of the balancers' flow hash
// so that the CPU a flow lands on says nothing about its backend.
const rssSeed = 0x52535331 // "RSS1"

// rss returns the RX queue of p among n, as a NIC's receive-side scaling
// does: a hash of the 4-tuple (addresses and ports) for a whole packet and
// of the 2-tuple (addresses) for any fragment, first included, since
// non-first fragments carry no ports (for IPv6 too: the ports of a
// fragment sit behind its Fragment header, which a NIC's RSS does not
// parse past, as Microsoft's RSS specification has it for IPv6
// fragments). The hash is murmur3's finaliser over the tuple (an IPv6
// address as two 64-bit words), reduced to n with a multiply-shift.
func rss(p *balancer.Packet, n int) int {
	if !p.Src.Is4() {
		return rss6(p, n)
	}
	s, d := p.Src.As4(), p.Dst.As4()
	h := uint64(rssSeed)
	h ^= uint64(s[0])<<24 | uint64(s[1])<<16 | uint64(s[2])<<8 | uint64(s[3])
	h = murmur.Fmix64(h)
	h ^= uint64(d[0])<<24 | uint64(d[1])<<16 | uint64(d[2])<<8 | uint64(d[3])
	if !p.IsFragment() {
		h ^= uint64(p.SrcPort)<<48 | uint64(p.DstPort)<<32
	}
	h = murmur.Fmix64(h)
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// rss6 is rss for an IPv6 packet.
func rss6(p *balancer.Packet, n int) int {
	h := addrHash6(rssSeed, p)
	if !p.IsFragment() {
		h ^= uint64(p.SrcPort)<<48 | uint64(p.DstPort)<<32
	}
	h = murmur.Fmix64(h)
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// addrWords returns a's 16-byte form as two words, the high 8 bytes and
// the low 8. Each read of an address's bytes costs a stall (As16's
// array is copied in a load that waits for the stores that wrote it), so
// a packet's addresses are read once each.
func addrWords(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// addrHash6 mixes seed with an IPv6 packet's source address and the high
// word of its destination, and xors in the low word of its destination,
// unmixed: the caller mixes it in with the ports, or alone.
func addrHash6(seed uint64, p *balancer.Packet) uint64 {
	s0, s1 := addrWords(p.Src)
	d0, d1 := addrWords(p.Dst)
	h := murmur.Fmix64(seed ^ s0)
	h = murmur.Fmix64(h ^ s1)
	return murmur.Fmix64(h^d0) ^ d1
}

// fragData6 returns the fragment data of an IPv6 fragment: the bytes
// after its Fragment header, the headers before it taken as
// [balancer.Encode] writes them (8 bytes each).
func fragData6(h *balancer.Packet) int {
	return int(h.Len) - balancer.IPv6Len - balancer.ExtHeaderLen*int(h.ExtHeaders)
}
