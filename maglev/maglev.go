package maglev

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/twmb/murmur3"
)

// DefaultSize is the table size used when New is given 0: the paper's and
// Katran's 65537.
const DefaultSize = 65537

// MaxSize is the largest table size New accepts.
const MaxSize = 1 << 24

// Seeds of the two permutation hashes.
const (
	offsetSeed uint32 = 0x4d41474c // "MAGL"
	skipSeed   uint32 = 0x45563031 // "EV01"
)

// Entry is one backend as the table sees it. Name seeds its permutation, so
// an entry keeps its slots across rebuilds as long as its name does.
type Entry struct {
	Name   string
	Weight uint32 // 0: takes no slots
}

// Errors from [New], wrapped with the offending field and value.
var (
	ErrNoEntries     = errors.New("no entries")
	ErrDuplicateName = errors.New("duplicate name")
	ErrEmptyName     = errors.New("empty name")
	ErrSizeNotPrime  = errors.New("not prime")
	ErrSizeTooSmall  = errors.New("smaller than the number of entries")
	ErrSizeTooLarge  = errors.New("larger than MaxSize")
)

// Table is a populated Maglev lookup table. It is immutable and safe for
// concurrent lookups.
type Table struct {
	entries []Entry
	slots   []int32
	m       uint64
	magic   uint64 // ceil(2^64 / m), for the exact remainder
}

// New builds the table of entries with size slots (a prime; 0 means
// [DefaultSize]). Entries are referred to by their index in entries.
// It returns an error naming the field for empty input, an empty or
// duplicate name, or a size that is not a prime at least len(entries).
// A table whose weights are all 0 is valid: every slot is -1.
func New(entries []Entry, size uint64) (*Table, error) {
	if size == 0 {
		size = DefaultSize
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("maglev: entries: %w", ErrNoEntries)
	}
	seen := make(map[string]int, len(entries))
	for i, e := range entries {
		if e.Name == "" {
			return nil, fmt.Errorf("maglev: entries[%d].Name: %w", i, ErrEmptyName)
		}
		if j, ok := seen[e.Name]; ok {
			return nil, fmt.Errorf("maglev: entries[%d].Name %q: %w (entries[%d])", i, e.Name, ErrDuplicateName, j)
		}
		seen[e.Name] = i
	}
	switch {
	case size > MaxSize:
		return nil, fmt.Errorf("maglev: size %d: %w", size, ErrSizeTooLarge)
	case size < uint64(len(entries)):
		return nil, fmt.Errorf("maglev: size %d: %w (%d)", size, ErrSizeTooSmall, len(entries))
	case !IsPrime(size):
		return nil, fmt.Errorf("maglev: size %d: %w", size, ErrSizeNotPrime)
	}
	t := &Table{
		entries: append([]Entry(nil), entries...),
		slots:   make([]int32, size),
		m:       size,
		magic:   ^uint64(0)/size + 1,
	}
	populate(t.entries, t.slots)
	return t, nil
}

// cursor is one entry's place in its permutation during population.
type cursor struct {
	pos, skip uint32
	weight    uint32
	id        uint32    // the entry's index
	mult      [5]uint32 // j·skip mod M, for probe's batches
	inv       uint32    // skip⁻¹ mod M, computed when the tail phase needs it
	credit    uint64
}

// permutation returns the offset and skip of name in a table of m slots.
func permutation(name string, m uint32) (offset, skip uint32) {
	offset = murmur3.SeedStringSum32(offsetSeed, name) % m
	skip = murmur3.SeedStringSum32(skipSeed, name)%(m-1) + 1
	return offset, skip
}

// tailSize returns how many empty slots remain when population switches
// from probing each entry's permutation to scanning the list of empty
// slots. With k slots empty a probe succeeds with chance k/M, so the last
// slots cost M/k probes each (M·ln(M/tail) probes in all); scanning costs k
// steps each (tail²/2 in all). It returns the power of two at or below
// √M/2, at least 64, which measured best at M = 65537 and 655373.
func tailSize(m uint32) uint32 {
	t := uint32(64)
	for (2*t)*(2*t)*4 <= m {
		t *= 2
	}
	return t
}

// populate fills slots. Owners are first recorded in the narrowest integer
// type that holds an entry index (a byte each for up to 256 entries: 64 KiB
// at M = 65537, against the ring's 256 KiB), because the claims write all
// over the table and a small table stays in cache; the ring is then written
// in one sequential pass.
func populate(entries []Entry, slots []int32) {
	switch n := len(entries); {
	case n <= 1<<8:
		fill(entries, slots, make([]uint8, len(slots)))
	case n <= 1<<16:
		fill(entries, slots, make([]uint16, len(slots)))
	default:
		fill(entries, slots, slots)
	}
}

func fill[T uint8 | uint16 | int32](entries []Entry, slots []int32, owner []T) {
	m := uint32(len(slots))
	var maxW uint32
	live := 0
	for _, e := range entries {
		if e.Weight > 0 {
			live++
			maxW = max(maxW, e.Weight)
		}
	}
	if live == 0 {
		for i := range slots {
			slots[i] = -1
		}
		return
	}
	equal := true
	cur := make([]cursor, 0, live) // the entries that take slots
	for i, e := range entries {
		if e.Weight == 0 {
			continue
		}
		equal = equal && e.Weight == maxW
		off, skip := permutation(e.Name, m)
		c := cursor{pos: off, skip: skip, weight: e.Weight, id: uint32(i)}
		for j := 1; j < len(c.mult); j++ {
			c.mult[j] = step(c.mult[j-1], skip, m)
		}
		cur = append(cur, c)
	}
	// taken mirrors the claimed slots as a bitmap: 8 KiB for M = 65537, so
	// the probes of the nearly full table stay in L1 cache.
	taken := make([]uint64, (m+63)/64)
	tail := tailSize(m)
	tailAt := uint32(0)
	if m > tail {
		tailAt = m - tail
	}
	filled := uint32(0)
	if equal {
		filled = rounds(cur, owner, taken, m, tailAt)
	}
	var empty []uint32 // the empty slots, once tail phase has begun
	if filled == tailAt {
		empty = emptySlots(taken, m, tail)
	}
	for {
		for i := range cur {
			c := &cur[i]
			turns := uint64(1) // equal weights: one slot a round, the paper's loop
			if !equal {
				c.credit += uint64(c.weight)
				turns = c.credit / uint64(maxW)
				c.credit -= turns * uint64(maxW)
			}
			for ; turns > 0; turns-- {
				var pos uint32
				if empty == nil {
					pos = probe(taken, c, m)
				} else {
					pos, empty = nearest(c, empty, m)
				}
				owner[pos] = T(c.id)
				taken[pos>>6] |= 1 << (pos & 63)
				c.pos = step(pos, c.skip, m)
				filled++
				if filled == m {
					for s, o := range owner {
						slots[s] = int32(o)
					}
					return
				}
				if filled == tailAt {
					empty = emptySlots(taken, m, tail)
				}
			}
		}
	}
}

// rounds runs the paper's loop for equal weights, each entry claiming one
// slot in turn, for as many whole rounds as keep the claimed slots at most
// until, and returns how many slots it claimed. It is fill's loop without
// the weights, the count and the tail phase, small enough for the compiler
// to keep the probe loop's values in registers.
func rounds[T uint8 | uint16 | int32](cur []cursor, owner []T, taken []uint64, m, until uint32) uint32 {
	n := uint32(len(cur))
	r := until / n
	for k := r; k > 0; k-- {
		for cs := cur; len(cs) > 0; cs = cs[1:] {
			c := &cs[0]
			pos := probe(taken, c, m)
			owner[pos] = T(c.id)
			taken[pos>>6] |= 1 << (pos & 63)
			c.pos = step(pos, c.skip, m)
		}
	}
	return r * n
}

// probe returns the first slot not taken in c's permutation from c.pos on.
// It tests four positions at a time and picks the first free one by
// arithmetic, so that the branch that ends the search is taken once per
// four positions: with about half the slots taken, a branch per position
// would be mispredicted about every other time.
func probe(taken []uint64, c *cursor, m uint32) uint32 {
	pos := c.pos
	for {
		p1, p2, p3 := step(pos, c.mult[1], m), step(pos, c.mult[2], m), step(pos, c.mult[3], m)
		b := taken[pos>>6]>>(pos&63)&1 | taken[p1>>6]>>(p1&63)&1<<1 | taken[p2>>6]>>(p2&63)&1<<2 | taken[p3>>6]>>(p3&63)&1<<3
		if b != 15 {
			return step(pos, c.mult[bits.TrailingZeros64(^b)&3], m)
		}
		pos = step(pos, c.mult[4], m)
	}
}

// step returns (pos + skip) mod m for pos, skip < m < 2^31. It has no
// branch: whether pos+skip wraps is a coin toss the branch predictor would
// lose about every other time.
func step(pos, skip, m uint32) uint32 {
	d := pos + skip - m // below 0, so above 2^31 as a uint32, if no wrap
	return d + m&uint32(int32(d)>>31)
}

// emptySlots lists the slots not yet taken, about tail of them.
func emptySlots(taken []uint64, m, tail uint32) []uint32 {
	empty := make([]uint32, 0, min(m, tail))
	for s := uint32(0); s < m; s++ {
		if taken[s>>6]&(1<<(s&63)) == 0 {
			empty = append(empty, s)
		}
	}
	return empty
}

// nearest returns the empty slot that c's permutation reaches first from its
// current position, the slot probing would find, and empty without it.
// Slot s is (s - pos)·skip⁻¹ mod M steps ahead.
func nearest(c *cursor, empty []uint32, m uint32) (uint32, []uint32) {
	if c.inv == 0 {
		c.inv = powMod(c.skip, m-2, m) // Fermat: M is prime
	}
	best, bestAt := uint64(m), 0
	r := ^uint64(0) / uint64(m) // Barrett: x/m is x·r/2^64 or one more
	for k, s := range empty {
		x := uint64(step(s, m-c.pos, m)) * uint64(c.inv)
		q, _ := bits.Mul64(x, r)
		d := x - q*uint64(m)
		if d >= uint64(m) {
			d -= uint64(m)
		}
		if d < best {
			best, bestAt = d, k
		}
	}
	pos := empty[bestAt]
	last := len(empty) - 1
	empty[bestAt] = empty[last]
	return pos, empty[:last]
}

// powMod returns b^e mod m for m < 2^32.
func powMod(b, e, m uint32) uint32 {
	r, x := uint64(1), uint64(b)%uint64(m)
	for ; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = r * x % uint64(m)
		}
		x = x * x % uint64(m)
	}
	return uint32(r)
}

// Lookup returns the index (into the entries given to [New]) of the entry
// that owns hash: Slots()[hash % M]. It returns -1 when every weight is 0.
// It does not allocate.
func (t *Table) Lookup(hash uint32) int {
	lowbits := t.magic * uint64(hash)
	hi, _ := bits.Mul64(lowbits, t.m)
	return int(t.slots[hi])
}

// Slots returns the ring: for each slot, the index of its owner in the
// entries given to [New], or -1. The slice is shared: do not modify it.
func (t *Table) Slots() []int32 { return t.slots }

// Size returns M, the number of slots.
func (t *Table) Size() uint64 { return t.m }

// Entries returns a copy of the entries the table was built from.
func (t *Table) Entries() []Entry { return append([]Entry(nil), t.entries...) }

// Counts returns the number of slots each entry owns, by entry index.
func (t *Table) Counts() []int {
	c := make([]int, len(t.entries))
	for _, s := range t.slots {
		if s >= 0 {
			c[s]++
		}
	}
	return c
}

// Owner returns the name of the entry that owns slot i, or "" for an empty
// or out-of-range slot.
func (t *Table) Owner(i int) string {
	if i < 0 || i >= len(t.slots) || t.slots[i] < 0 {
		return ""
	}
	return t.entries[t.slots[i]].Name
}

// Disruption returns the share of slots whose owner (by name) differs
// between before and after: the share of flows a rebuild would move. Tables
// of different sizes, or a nil table, give 1.
func Disruption(before, after *Table) float64 {
	if before == nil || after == nil || before.m != after.m {
		return 1
	}
	moved := 0
	for i := range before.slots {
		if before.Owner(i) != after.Owner(i) {
			moved++
		}
	}
	return float64(moved) / float64(before.m)
}

// IsPrime reports whether n is prime, as a table size must be. It uses
// trial division, so it is meant for sizes up to [MaxSize]; configurations
// that carry a Maglev size (titan.Config.RingSize, xdp.Options.RingSize)
// check it with this function.
func IsPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint64(3); d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}
