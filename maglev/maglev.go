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
	case !isPrime(size):
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
	credit    uint64
}

// permutation returns the offset and skip of name in a table of m slots.
func permutation(name string, m uint32) (offset, skip uint32) {
	offset = murmur3.SeedStringSum32(offsetSeed, name) % m
	skip = murmur3.SeedStringSum32(skipSeed, name)%(m-1) + 1
	return offset, skip
}

func populate(entries []Entry, slots []int32) {
	m := uint32(len(slots))
	for i := range slots {
		slots[i] = -1
	}
	var maxW uint32
	live := 0
	for _, e := range entries {
		if e.Weight > 0 {
			live++
			maxW = max(maxW, e.Weight)
		}
	}
	if live == 0 {
		return
	}
	cur := make([]cursor, len(entries))
	for i, e := range entries {
		off, skip := permutation(e.Name, m)
		cur[i] = cursor{pos: off, skip: skip, weight: e.Weight}
	}
	// taken mirrors slots >= 0 as a bitmap: 8 KiB for M = 65537, so the
	// probes of the nearly full table stay in L1 cache.
	taken := make([]uint64, (m+63)/64)
	filled := uint32(0)
	for {
		for i := range cur {
			c := &cur[i]
			if c.weight == 0 {
				continue
			}
			c.credit += uint64(c.weight)
			for c.credit >= uint64(maxW) {
				c.credit -= uint64(maxW)
				pos, skip := c.pos, c.skip
				for taken[pos>>6]&(1<<(pos&63)) != 0 {
					pos += skip
					if pos >= m {
						pos -= m
					}
				}
				slots[pos] = int32(i)
				taken[pos>>6] |= 1 << (pos & 63)
				pos += skip
				if pos >= m {
					pos -= m
				}
				c.pos = pos
				filled++
				if filled == m {
					return
				}
			}
		}
	}
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

// isPrime reports whether n is prime (trial division; n <= MaxSize).
func isPrime(n uint64) bool {
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
