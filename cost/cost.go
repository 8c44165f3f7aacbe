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
const (
	OpHash     Op = iota // a flow hash
	OpMapRead            // a BPF map lookup
	OpMapWrite           // a BPF map update
	OpEncap              // IPIP encapsulation (adjust_head and a new header)
	OpTailCall           // a bpf_tail_call
	OpRewrite            // an in-place address/port rewrite with checksum fix
	NumOps               // number of operations; not an operation
)

var opNames = [NumOps]string{"hash", "map_read", "map_write", "encap", "tail_call", "rewrite"}

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
	Hash     STU
	MapRead  STU
	MapWrite STU
	Encap    STU
	TailCall STU
	Rewrite  STU
	// NsPerSTU is the simulated nanoseconds one STU takes. 0 means 1.
	NsPerSTU float64
}

// Default returns the seed model: hash 10, map read 20, map write 60,
// encap 40, tail call 20, rewrite 10, 1 ns per STU.
func Default() Model {
	return Model{Hash: 10, MapRead: 20, MapWrite: 60, Encap: 40, TailCall: 20, Rewrite: 10, NsPerSTU: 1}
}

// Cost returns the price of op; an unknown op costs 0.
func (m Model) Cost(op Op) STU {
	switch op {
	case OpHash:
		return m.Hash
	case OpMapRead:
		return m.MapRead
	case OpMapWrite:
		return m.MapWrite
	case OpEncap:
		return m.Encap
	case OpTailCall:
		return m.TailCall
	case OpRewrite:
		return m.Rewrite
	}
	return 0
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
