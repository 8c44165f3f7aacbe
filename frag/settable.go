package frag

import (
	"fmt"
	"iter"
	"time"

	"github.com/titanlb/titanlb/internal/murmur"
)

// Ways is the number of entries in each set of a [SetTable].
const Ways = 4

// SetSeedTweak was XORed into the seed of the set hash while that hash
// covered the host pair and protocol, the bytes of the balancer's 3-tuple
// flow hash, so that the two would not coincide.
//
// Deprecated: [SetHash] now hashes the host pair alone (8 bytes, a
// different length from every flow hash) with the seed itself, so that
// the kernel program shares the hash's first rounds with the flow hash.
// The constant is unused and kept for code that names it.
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
	// Seed seeds the hash that maps a key to its set ([SetHash]): the
	// balancer's seed, as the kernel program uses it.
	Seed uint32
}

// setWay is one entry slot of a set.
type setWay struct {
	key  Key
	e    Entry
	used bool
}

// set is Ways entries and the cursor: the way next%Ways takes the next new
// key.
type set struct {
	next uint32
	ways [Ways]setWay
}

// SetTable is a fragment table laid out as the kernel program keeps it: a
// fixed array of sets of [Ways] entries each, a key living only in the set
// its hash picks ([SetTable.SetOf]). A lookup reads one set and compares
// its keys; an insert writes into the same set:
//
//  1. into the way holding the key, if any, live or expired (an update);
//  2. else into the way at the set's cursor, which then advances, evicting
//     that way's entry if it is live.
//
// A set's ways thus take new keys in turn, first in, first out: the way
// reused is the one whose key was inserted longest ago. Since an entry's
// Created is its insert time, that is also the oldest entry, so a set that
// holds an expired entry evicts no live one, except after a key was
// rewritten in place with a new Created (rule 1), which keeps its turn.
// Eviction is a pure function of the sequence of operations and needs no
// clock resolution: the Go model and the kernel program evict the same
// entries, even when full. The kernel's choice costs a load and a store of
// the cursor, where a least-recently-written choice compared four stamps.
//
// The price of sets is that one may evict while other sets have room: with
// as many live keys as half the capacity at random sets (many host pairs,
// each pair's run of IP IDs at its own offset; one pair's consecutive IDs
// fill the sets evenly), a set is asked to hold 5 or more of them with
// probability about 5% (Poisson with mean 2), so a SetTable starts evicting
// live entries at a lower occupancy than an LRU of the same capacity.
//
// A lookup does not remove an expired entry (it counts an expiry and
// misses); the entry's way is reused by a later insert of its key or at
// its turn. Lookup, Insert and SetOf are O(Ways) and do not allocate:
// [NewSetTable] allocates every set. A SetTable is not safe for concurrent
// use.
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
// host pair, the 8 bytes source then destination (read as little-endian
// words), seeded with seed, plus the IP ID. seed is [SetOptions.Seed], the
// balancer's seed: the hash's two rounds over the host pair are the first
// two rounds of the balancer's flow hashes (balancer.Hash5 and Hash3 of
// the same seed), which the kernel program computes once for a fragment
// and finishes three ways. The length (8) differs from the flow hashes'
// (16 and 12), so the set hash is none of them. The protocol is in the key,
// not in the hash.
//
// The IP ID is added, not hashed: a sender numbers its datagrams to a
// destination consecutively, so its consecutive datagrams fall into
// consecutive sets, spread evenly over the table, and the kernel
// program's read of a new datagram's set walks memory forward (which the
// CPU prefetches) instead of missing the cache at a random set. The host
// pair's hash still places each pair's run at a seeded, unpredictable
// offset.
func SetHash(k Key, seed uint32) uint32 {
	h := murmur.Mix(murmur.Mix(seed, murmur.Word(k.src)), murmur.Word(k.dst))
	return murmur.Fmix(h^8) + uint32(k.id)
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
	for i := range s.ways {
		if w := &s.ways[i]; w.used && w.key == k {
			w.e = e
			t.stats.Updates++
			return false
		}
	}
	w := &s.ways[s.next%Ways]
	s.next++
	t.stats.Inserts++
	switch {
	case !w.used:
		t.n++
	case now-w.e.Created <= t.timeout:
		evicted = true
		t.stats.Evictions++
	}
	*w = setWay{key: k, e: e, used: true}
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
