package cost

import (
	"fmt"
	"time"
)

// STU is a Simulation Time Unit, the unit of the cost model.
type STU uint64

// Op is one kind of datapath operation that a balancer pays for.
type Op uint8

// The operations of the cost model. [NumOps] is one past the last.
//
// The kernel prices a map access by the map's kind, so reads and writes
// come in kinds: [OpArrayRead] (an ARRAY lookup the verifier inlines),
// [OpMapRead] (a hash-map lookup, or one of a kind not told apart),
// [OpLRURead] (an LRU hash lookup); [OpMapWrite] (a map update helper
// call), [OpLRUInsert] (an LRU update of a new key, which may evict),
// [OpStore] (a new entry stored into a set through a looked-up pointer).
// An ARRAY lookup at a flow's hash in a consistent-hash ring, which a new
// flow makes at a random place in a ring larger than the first caches, is
// [OpRingRead]: where the kernel finds an established flow's state in
// lines it keeps reading, a new flow's ring slot is a cache miss.
// [Default] prices each kind as its family (reads 20, writes 60; a
// store 0, as the seed model prices every store through a pointer), so
// a model that tells the kinds apart costs the same STU; [Calibrated]
// prices each kind as the kernel does.
const (
	OpHash      Op = iota // a flow hash
	OpMapRead             // a hash-map lookup (BPF_MAP_TYPE_HASH), or a map lookup of a kind not told apart
	OpMapWrite            // a BPF map update helper call (not an LRU insert: OpLRUInsert)
	OpEncap               // IPIP encapsulation (adjust_head and a new header)
	OpTailCall            // a bpf_tail_call
	OpRewrite             // an in-place address/port rewrite with checksum fix
	OpArrayRead           // an ARRAY, PERCPU_ARRAY or ARRAY_OF_MAPS lookup (inlined by the verifier)
	OpLRURead             // an LRU_HASH lookup (hashes the key, walks a bucket, marks the node)
	OpLRUInsert           // an LRU_HASH update of a new key (takes a free node, or evicts one)
	OpStore               // a new entry stored into a set-associative table's set through its lookup's pointer
	OpClock               // a clock read (bpf_ktime_get_ns)
	OpRingRead            // a consistent-hash ring's slot read: an ARRAY lookup at a flow's hash, a random place in the ring
	NumOps                // number of operations; not an operation
)

var opNames = [NumOps]string{"hash", "map_read", "map_write", "encap", "tail_call", "rewrite",
	"array_read", "lru_read", "lru_insert", "store", "clock", "ring_read"}

// String returns the operation's name as used in reports ("hash", "map_read", ...).
func (o Op) String() string {
	if o < NumOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Model prices each operation in STU and converts STU to time.
// The zero Model prices everything at 0; use [Default] for the seed prices.
type Model struct {
	Hash      STU
	MapRead   STU
	MapWrite  STU
	Encap     STU
	TailCall  STU
	Rewrite   STU
	ArrayRead STU // [OpArrayRead]
	LRURead   STU // [OpLRURead]
	LRUInsert STU // [OpLRUInsert]
	Store     STU // [OpStore]
	Clock     STU // [OpClock]
	RingRead  STU // [OpRingRead]
	// NsPerSTU is the simulated nanoseconds one STU takes. 0 means 1.
	NsPerSTU float64
}

// Default returns the seed model: hash 10, map read 20, map write 60,
// encap 40, tail call 20, rewrite 10, 1 ns per STU. Each kind of read
// costs a map read (ARRAY and LRU lookups 20), an LRU insert a map
// write (60), a store into a set 0 (the seed model prices helper calls,
// not stores through a pointer), a clock read 20 (a helper call that
// reads memory, priced as a lookup) and a ring slot read 20 (an ARRAY
// lookup).
func Default() Model {
	return Model{Hash: 10, MapRead: 20, MapWrite: 60, Encap: 40, TailCall: 20, Rewrite: 10,
		ArrayRead: 20, LRURead: 20, LRUInsert: 60, Store: 0, Clock: 20, RingRead: 20, NsPerSTU: 1}
}

// Cost returns the price of op; an unknown op costs 0.
func (m Model) Cost(op Op) STU {
	if p := m.price(op); p != nil {
		return *p
	}
	return 0
}

// SetCost sets the price of op to s; an unknown op is ignored. With
// [Model.Cost] it lets a fit or a table set prices by operation.
func (m *Model) SetCost(op Op, s STU) {
	if p := m.price(op); p != nil {
		*p = s
	}
}

func (m *Model) price(op Op) *STU {
	switch op {
	case OpHash:
		return &m.Hash
	case OpMapRead:
		return &m.MapRead
	case OpMapWrite:
		return &m.MapWrite
	case OpEncap:
		return &m.Encap
	case OpTailCall:
		return &m.TailCall
	case OpRewrite:
		return &m.Rewrite
	case OpArrayRead:
		return &m.ArrayRead
	case OpLRURead:
		return &m.LRURead
	case OpLRUInsert:
		return &m.LRUInsert
	case OpStore:
		return &m.Store
	case OpClock:
		return &m.Clock
	case OpRingRead:
		return &m.RingRead
	}
	return nil
}

// Duration converts s to simulated time using NsPerSTU (0 means 1 ns per STU).
func (m Model) Duration(s STU) time.Duration {
	if m.NsPerSTU == 0 {
		return time.Duration(s)
	}
	return time.Duration(float64(s)*m.NsPerSTU + 0.5)
}

// Validate reports a model whose NsPerSTU is negative or not a number.
func (m Model) Validate() error {
	if m.NsPerSTU < 0 || m.NsPerSTU != m.NsPerSTU {
		return fmt.Errorf("cost: model.NsPerSTU %v: must be a non-negative number", m.NsPerSTU)
	}
	return nil
}

// Meter counts operations and their total price under one [Model].
// The zero Meter counts operations at price 0; use [NewMeter].
type Meter struct {
	price  [NumOps]STU
	counts [NumOps]uint64
	total  STU
}

// NewMeter returns a meter that charges the prices of m.
func NewMeter(m Model) *Meter {
	mt := &Meter{}
	for op := Op(0); op < NumOps; op++ {
		mt.price[op] = m.Cost(op)
	}
	return mt
}

// Charge records one op. It is inlinable and does not allocate; an unknown
// op is ignored. A nil Meter ignores every charge.
func (m *Meter) Charge(op Op) {
	if m == nil || op >= NumOps {
		return
	}
	m.counts[op]++
	m.total += m.price[op]
}

// Total returns the price of everything charged since the last [Meter.Reset].
func (m *Meter) Total() STU {
	if m == nil {
		return 0
	}
	return m.total
}

// Count returns how many times op was charged.
func (m *Meter) Count(op Op) uint64 {
	if m == nil || op >= NumOps {
		return 0
	}
	return m.counts[op]
}

// Reset clears the counts and the total; prices stay.
func (m *Meter) Reset() {
	m.counts = [NumOps]uint64{}
	m.total = 0
}

// Add adds other's counts and total to m (prices are not compared).
func (m *Meter) Add(other *Meter) {
	for i := range m.counts {
		m.counts[i] += other.counts[i]
	}
	m.total += other.total
}
