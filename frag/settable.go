package frag

import (
	"fmt"
	"iter"
	"time"
)

// Ways is the number of entries in each set of a [SetTable].
const Ways = 4

// SetSeedTweak is XORed into [SetOptions.Seed] before a [SetTable] hashes a
// key to its set, so that the set index is not the balancer's 3-tuple flow
// hash of the same seed (the two would coincide for IP ID 0). The kernel
// program uses the same constant.
const SetSeedTweak = 0x46524147 // "FRAG"

// SetOptions configure a [SetTable]. The zero SetOptions are valid.
type SetOptions struct {
	// Capacity is the number of entries (0: [DefaultCapacity]), rounded
	// up to a whole number of sets of [Ways] entries: the table has
	// ceil(Capacity/Ways) sets.
	Capacity int
	// Timeout is how long an entry lives after Created (0:
	// [DefaultTimeout]); an entry with now - Created > Timeout is expired.
	Timeout time.Duration
	// Seed seeds the hash that maps a key to its set (XORed with
	// [SetSeedTweak]).
	Seed uint32
}

// setWay is one entry slot of a set.
type setWay struct {
	key  Key
	e    Entry
	seq  uint64 // the set's write count when this way was last written
	used bool
}

// set is Ways entries and the count of writes into them.
type set struct {
	seq  uint64
	ways [Ways]setWay
}

// SetTable is a fragment table laid out as the kernel program keeps it: a
// fixed array of sets of [Ways] entries each, a key living only in the set
// its hash picks ([SetTable.SetOf]). A lookup reads one set and compares
// its keys; an insert writes into the same set:
//
//  1. into the way holding the key, if any (an update);
//  2. else into the lowest empty or expired way (now - Created > Timeout);
//  3. else into the least recently written way, evicting its entry.
//
// Every write (an insert or an update) stamps the way with the set's write
// count, so "least recently written" is exact and does not depend on the
// clock's resolution. Unlike the LRU of [Table], eviction is a pure
// function of the sequence of operations: the Go model and the kernel
// program evict the same entries, even when full. The price is that a set
// may evict while other sets have room: with as many live keys as half the
// capacity at random sets (many host pairs, each pair's run of IP IDs at
// its own offset; one pair's consecutive IDs fill the sets evenly), a set
// is asked to hold 5 or more of them with probability about 5% (Poisson
// with mean 2), so a SetTable starts evicting live
// entries at a lower occupancy than an LRU of the same capacity.
//
// A lookup does not remove an expired entry (it counts an expiry and
// misses); the entry's way is reused by a later insert. Lookup, Insert and
// SetOf are O(Ways) and do not allocate: [NewSetTable] allocates every set.
// A SetTable is not safe for concurrent use.
type SetTable struct {
	sets    []set
	timeout time.Duration
	seed    uint32
	n       int
	stats   TableStats
}

// NewSetTable returns an empty table. The error names a bad option: a
// capacity that is negative or above [MaxCapacity], or a negative timeout.
func NewSetTable(opts SetOptions) (*SetTable, error) {
	c := opts.Capacity
	if c == 0 {
		c = DefaultCapacity
	}
	if c < 1 || c > MaxCapacity {
		return nil, fmt.Errorf("frag: options.Capacity %d: %w", opts.Capacity, ErrCapacity)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("frag: options.Timeout %v: %w", opts.Timeout, ErrTimeout)
	}
	to := opts.Timeout
	if to == 0 {
		to = DefaultTimeout
	}
	return &SetTable{sets: make([]set, SetCount(c)), timeout: to, seed: opts.Seed}, nil
}

// SetCount returns the number of sets of a table of capacity entries:
// ceil(capacity / [Ways]), at least 1.
func SetCount(capacity int) int { return max(1, (capacity+Ways-1)/Ways) }

// SetOf returns the index of k's set: [SetHash] modulo the number of sets.
func (t *SetTable) SetOf(k Key) int {
	return int(SetHash(k, t.seed) % uint32(len(t.sets)))
}

// SetHash is the hash of [SetTable.SetOf]: MurmurHash3 (x86, 32-bit) of the
// host pair and protocol, the 12 bytes of balancer.Key3 (source,
// destination, protocol, three zero bytes, read as little-endian words),
// seeded with seed^[SetSeedTweak], plus the IP ID. seed is
// [SetOptions.Seed].
//
// The IP ID is added, not hashed: a sender numbers its datagrams to a
// destination consecutively, so its consecutive datagrams fall into
// consecutive sets, spread evenly over the table, and the kernel
// program's read of a new datagram's set walks memory forward (which the
// CPU prefetches) instead of missing the cache at a random set. The host
// pair's hash still places each pair's run at a seeded, unpredictable
// offset.
func SetHash(k Key, seed uint32) uint32 {
	w0 := uint32(k.src[0]) | uint32(k.src[1])<<8 | uint32(k.src[2])<<16 | uint32(k.src[3])<<24
	w1 := uint32(k.dst[0]) | uint32(k.dst[1])<<8 | uint32(k.dst[2])<<16 | uint32(k.dst[3])<<24
	h := murmurK(seed^SetSeedTweak, w0)
	h = murmurK(h, w1)
	h = murmurK(h, uint32(k.proto))
	h ^= 12
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h + uint32(k.id)
}

// murmurK mixes one word into a MurmurHash3 state.
func murmurK(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = k<<15 | k>>17
	k *= 0x1b873593
	h ^= k
	h = h<<13 | h>>19
	return h*5 + 0xe6546b64
}

// Lookup returns the live entry of k at time now. An entry older than the
// timeout is a miss, counted as an expiry; it stays in its way until an
// insert reuses it.
func (t *SetTable) Lookup(k Key, now time.Duration) (Entry, bool) {
	s := &t.sets[t.SetOf(k)]
	for i := range s.ways {
		w := &s.ways[i]
		if !w.used || w.key != k {
			continue
		}
		if now-w.e.Created > t.timeout {
			t.stats.Expiries++
			break
		}
		t.stats.Hits++
		return w.e, true
	}
	t.stats.Misses++
	return Entry{}, false
}

// Insert writes e for k into k's set at time now, choosing the way as the
// type's doc says, and reports whether a live entry of another key was
// evicted.
func (t *SetTable) Insert(k Key, e Entry, now time.Duration) (evicted bool) {
	s := &t.sets[t.SetOf(k)]
	v := -1
	for i := range s.ways {
		if s.ways[i].used && s.ways[i].key == k {
			v = i
			t.stats.Updates++
			break
		}
	}
	if v < 0 {
		for i := range s.ways {
			if w := &s.ways[i]; !w.used || now-w.e.Created > t.timeout {
				v = i
				break
			}
		}
		if v < 0 {
			v = 0
			for i := 1; i < Ways; i++ {
				if s.ways[i].seq < s.ways[v].seq {
					v = i
				}
			}
			evicted = true
			t.stats.Evictions++
		}
		t.stats.Inserts++
		if !s.ways[v].used {
			t.n++
		}
	}
	s.seq++
	s.ways[v] = setWay{key: k, e: e, seq: s.seq, used: true}
	return evicted
}

// Len returns the number of entries, expired ones not yet reused included.
func (t *SetTable) Len() int { return t.n }

// Cap returns the capacity: the number of sets times [Ways].
func (t *SetTable) Cap() int { return len(t.sets) * Ways }

// Sets returns the number of sets.
func (t *SetTable) Sets() int { return len(t.sets) }

// Timeout returns the entry lifetime.
func (t *SetTable) Timeout() time.Duration { return t.timeout }

// Stats returns the counters. Evictions counts live entries of other keys
// overwritten by an insert (an expired way is reused without counting).
func (t *SetTable) Stats() TableStats { return t.stats }

// Clear removes every entry and zeroes the counters.
func (t *SetTable) Clear() {
	clear(t.sets)
	t.n = 0
	t.stats = TableStats{}
}

// All yields the entries set by set, way by way, expired ones included.
func (t *SetTable) All() iter.Seq2[Key, Entry] {
	return func(yield func(Key, Entry) bool) {
		for i := range t.sets {
			for j := range t.sets[i].ways {
				if w := &t.sets[i].ways[j]; w.used && !yield(w.key, w.e) {
					return
				}
			}
		}
	}
}
