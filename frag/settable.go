package frag

import (
	"fmt"
	"iter"
	"time"

	"github.com/titanlb/titanlb/internal/murmur"
	"github.com/titanlb/titanlb/internal/sparse"
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
	// Capacity is the number of entries of each address family (0:
	// [DefaultCapacity]), rounded up to a whole number of sets of [Ways]
	// entries: the table has ceil(Capacity/Ways) sets for IPv4 keys and
	// as many for IPv6 keys.
	Capacity int
	// Timeout is how long an entry lives after Created (0:
	// [DefaultTimeout]); an entry with now - Created > Timeout is expired.
	Timeout time.Duration
	// Seed seeds the hash that maps a key to its set ([SetHash]): the
	// balancer's seed, as the kernel program uses it.
	Seed uint32
}

// key4 is an IPv4 [Key] as a way holds it: 12 bytes, compared inline.
type key4 struct {
	src, dst uint32 // the addresses' bytes read as little-endian words
	id       uint16
	proto    uint8
}

// key4 returns the IPv4 way key of the words of a Key (passed as words,
// not as a Key: a Key copied whole through memory costs more than the
// lookup).
func mkKey4(s0, d0, meta uint64) key4 {
	return key4{src: uint32(s0), dst: uint32(d0), id: uint16(meta), proto: uint8(meta >> 32)}
}

func (k key4) key() Key {
	return Key{src0: uint64(k.src), dst0: uint64(k.dst), meta: uint64(k.id) | uint64(k.proto)<<32}
}

// hash mixes the key into 64 bits (a murmur3-style finalizer over two
// words): the reassembler's index hash, cheaper than a generic hash and
// well spread in the low bits that pick a slot.
func (k key4) hash() uint64 {
	a := uint64(k.src) | uint64(k.dst)<<32
	b := uint64(k.proto) | uint64(k.id)<<8
	return murmur.Fmix64(a ^ murmur.Fmix64(b+0x9e3779b97f4a7c15))
}

// key6 is an IPv6 [Key] as a way holds it, compared inline.
type key6 struct {
	s, d words2 // structs of scalars: passed in registers, compared inline
	meta uint64
}

type words2 struct{ w0, w1 uint64 }

func mkKey6(s0, s1, d0, d1, meta uint64) key6 {
	return key6{words2{s0, s1}, words2{d0, d1}, meta}
}

func (k key6) key() Key {
	return Key{src0: k.s.w0, src1: k.s.w1, dst0: k.d.w0, dst1: k.d.w1, meta: k.meta}
}

// hash is [key4.hash] for IPv6 keys: three words folded in.
func (k key6) hash() uint64 {
	a := murmur.Fmix64(k.s.w0^murmur.Fmix64(k.s.w1+0x9e3779b97f4a7c15)) ^ k.d.w0
	b := murmur.Fmix64(k.d.w1 ^ k.meta<<1)
	return murmur.Fmix64(a ^ murmur.Fmix64(b+0x9e3779b97f4a7c15))
}

// setWay is one entry slot of a set: a key and an [Entry], its fields
// laid out flat so that the flags and ports fill the key's padding (an
// IPv4 way is 32 bytes, an IPv6 one 64).
type setWay[K comparable] struct {
	key              K
	used, hasPorts   bool
	srcPort, dstPort uint16
	backend          uint32
	created          time.Duration
}

// entry returns the way's entry.
func (w *setWay[K]) entry() Entry {
	var e Entry
	w.fill(&e)
	return e
}

// fill writes the way's entry into *e, field by field (see
// [SetTable.LookupHashed] on why not as a whole).
func (w *setWay[K]) fill(e *Entry) {
	e.Backend, e.SrcPort, e.DstPort, e.HasPorts, e.Created = w.backend, w.srcPort, w.dstPort, w.hasPorts, w.created
}

// put writes *e into the way, which is used; its key is the caller's to
// write.
func (w *setWay[K]) put(e *Entry) {
	w.used, w.hasPorts = true, e.HasPorts
	w.srcPort, w.dstPort, w.backend, w.created = e.SrcPort, e.DstPort, e.Backend, e.Created
}

// setKey6 writes the IPv6 key of the words s0, s1, d0, d1, meta into w,
// word by word: a key6 built and then copied whole would be read back in
// 16-byte loads that wait for its 8-byte stores (see
// [SetTable.LookupHashed]).
func setKey6(w *setWay[key6], s0, s1, d0, d1, meta uint64) {
	w.key.s.w0, w.key.s.w1, w.key.d.w0, w.key.d.w1, w.key.meta = s0, s1, d0, d1, meta
}

// set is Ways entries and the cursor: the way next%Ways takes the next new
// key.
type set[K comparable] struct {
	next uint32
	ways [Ways]setWay[K]
}

// find4 returns the way of k in the IPv4 set s, or nil.
func find4(s *set[key4], k key4) *setWay[key4] {
	for i := range s.ways {
		if w := &s.ways[i]; w.used && w.key == k {
			return w
		}
	}
	return nil
}

// find6 returns the way of the key with the words s0, s1, d0, d1, meta
// in the IPv6 set s, or nil. It takes the words and compares them
// itself: == on the 40-byte key calls memequal, and a key6 passed whole
// is copied through memory (see setKey6).
func find6(s *set[key6], s0, s1, d0, d1, meta uint64) *setWay[key6] {
	for i := range s.ways {
		w := &s.ways[i]
		if w.used && w.key.s.w0 == s0 && w.key.s.w1 == s1 && w.key.d.w0 == d0 && w.key.d.w1 == d1 && w.key.meta == meta {
			return w
		}
	}
	return nil
}

// take returns the way at the set's cursor, which advances, with when
// the entry it held was created, if it was used. The caller writes the
// new key and entry into it.
func (s *set[K]) take() (w *setWay[K], created time.Duration, used bool) {
	w = &s.ways[s.next%Ways]
	s.next++
	return w, w.created, w.used
}

// SetTable is a fragment table laid out as the kernel program keeps it: a
// fixed array of sets of [Ways] entries each per address family, a key
// living only in the set its hash picks ([SetTable.SetOf]) in its
// family's array. A lookup reads one set and compares its keys; an insert
// writes into the same set:
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
// IPv4 and IPv6 keys live in two arrays of the same number of sets, as
// the kernel program keeps them (an IPv6 key is 40 bytes, an IPv4 one 12):
// the families never evict each other, and the IPv4 array is what it was
// before IPv6 keys existed.
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
// its turn. Lookup and SetOf are O(Ways) and do not allocate; Insert is
// O(Ways) and allocates only as the table's memory grows: a set takes
// memory when it is first written, up to every set of the family
// (internal/sparse), so that a family or a region of the table a run
// does not use costs it nothing. A SetTable is not safe for concurrent
// use.
type SetTable struct {
	sets4   sparse.Array[set[key4]]
	sets6   sparse.Array[set[key6]]
	nsets   uint32
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
	n := SetCount(c)
	return &SetTable{sets4: sparse.Make[set[key4]](n), sets6: sparse.Make[set[key6]](n), nsets: uint32(n), timeout: to, seed: opts.Seed}, nil
}

// SetCount returns the number of sets of a table of capacity entries:
// ceil(capacity / [Ways]), at least 1.
func SetCount(capacity int) int { return max(1, (capacity+Ways-1)/Ways) }

// SetOf returns the index of k's set in its family's array: [SetHash]
// modulo the number of sets.
func (t *SetTable) SetOf(k Key) int { return int(t.sets4.Index(SetHash(k, t.seed))) }

// SetHash is the hash of [SetTable.SetOf]: MurmurHash3 (x86, 32-bit) of the
// host pair, the source then destination address bytes (read as
// little-endian words: 8 bytes for an IPv4 key, 32 for an IPv6 one),
// seeded with seed, plus the identification. seed is [SetOptions.Seed], the
// balancer's seed: the hash's rounds over the host pair are the first
// rounds of the balancer's flow hashes of the same family (balancer.Hash5
// and Hash3 of the same seed), which the kernel program computes once for
// a fragment and finishes three ways. The lengths (8, 32) differ from the
// flow hashes' (16 and 12, 40 and 36), so the set hash is none of them.
// The protocol is in the key, not in the hash.
//
// The identification is added, not hashed: a sender numbers its datagrams
// to a destination consecutively, so its consecutive datagrams fall into
// consecutive sets, spread evenly over the table, and the kernel
// program's read of a new datagram's set walks memory forward (which the
// CPU prefetches) instead of missing the cache at a random set. The host
// pair's hash still places each pair's run at a seeded, unpredictable
// offset.
func SetHash(k Key, seed uint32) uint32 { return setHash(k.src0, k.src1, k.dst0, k.dst1, k.meta, seed) }

// setHash is [SetHash] of a key's words, passed in registers.
func setHash(s0, s1, d0, d1, meta uint64, seed uint32) uint32 {
	h := murmur.Mix(seed, uint32(s0))
	if meta&metaV6 == 0 {
		return murmur.Fmix(murmur.Mix(h, uint32(d0))^8) + uint32(meta)
	}
	h = murmur.Mix(h, uint32(s0>>32))
	h = murmur.Mix(h, uint32(s1))
	h = murmur.Mix(h, uint32(s1>>32))
	h = murmur.Mix(h, uint32(d0))
	h = murmur.Mix(h, uint32(d0>>32))
	h = murmur.Mix(h, uint32(d1))
	h = murmur.Mix(h, uint32(d1>>32))
	return murmur.Fmix(h^32) + uint32(meta)
}

// Lookup returns the live entry of k at time now. An entry older than the
// timeout is a miss, counted as an expiry; it stays in its way until an
// insert reuses it.
func (t *SetTable) Lookup(k Key, now time.Duration) (Entry, bool) {
	var e Entry
	ok := t.LookupHashed(k, SetHash(k, t.seed), now, &e)
	return e, ok
}

// LookupHashed is [SetTable.Lookup] for a per-packet caller: one that has
// k's set hash already, h = [SetHash](k, seed) with the table's seed (it
// mixed the host pair's rounds for its own hashes, as a balancer does and
// the kernel program computes them once per packet), and an Entry to
// fill. When the entry is live it writes it into *e (unless e is nil)
// and reports true; otherwise *e is left as it was. h picks the set, so another h looks in
// another set, where only InsertHashed with that h puts k.
//
// It fills *e instead of returning an Entry because Go returns a struct
// of five fields through memory: the caller's copy of it, written field
// by field and read back whole, stalls the CPU (docs/simulation.md).
func (t *SetTable) LookupHashed(k Key, h uint32, now time.Duration, e *Entry) bool {
	i := t.sets4.Index(h) // both families have nsets sets
	if k.meta&metaV6 != 0 {
		var w *setWay[key6]
		if s := t.sets6.Get(i); s != nil {
			w = find6(s, k.src0, k.src1, k.dst0, k.dst1, k.meta)
		}
		return live(t, w, now, e)
	}
	var w *setWay[key4]
	if s := t.sets4.Get(i); s != nil {
		w = find4(s, mkKey4(k.src0, k.dst0, k.meta))
	}
	return live(t, w, now, e)
}

// live counts a lookup that found w (nil: none) and writes w's entry into
// *e if it is live at now.
func live[K comparable](t *SetTable, w *setWay[K], now time.Duration, e *Entry) bool {
	switch {
	case w == nil:
	case now-w.created > t.timeout:
		t.stats.Expiries++
	default:
		t.stats.Hits++
		if e != nil {
			w.fill(e)
		}
		return true
	}
	t.stats.Misses++
	return false
}

// Insert writes e for k into k's set at time now, choosing the way as the
// type's doc says, and reports whether a live entry of another key was
// evicted.
func (t *SetTable) Insert(k Key, e Entry, now time.Duration) (evicted bool) {
	return t.InsertHashed(k, SetHash(k, t.seed), &e, now)
}

// InsertHashed is [SetTable.Insert] with k's set hash h, as
// [SetTable.LookupHashed] takes it, and the entry by pointer (read, not
// kept), for the reason LookupHashed gives. A nil e inserts the zero
// Entry.
func (t *SetTable) InsertHashed(k Key, h uint32, e *Entry, now time.Duration) (evicted bool) {
	if e == nil {
		e = new(Entry)
	}
	i := t.sets4.Index(h)
	var created time.Duration
	var used bool
	if k.meta&metaV6 != 0 {
		s := t.sets6.Ref(i)
		if w := find6(s, k.src0, k.src1, k.dst0, k.dst1, k.meta); w != nil {
			w.put(e)
			t.stats.Updates++
			return false
		}
		var w *setWay[key6]
		w, created, used = s.take()
		setKey6(w, k.src0, k.src1, k.dst0, k.dst1, k.meta)
		w.put(e)
	} else {
		k4 := mkKey4(k.src0, k.dst0, k.meta)
		s := t.sets4.Ref(i)
		if w := find4(s, k4); w != nil {
			w.put(e)
			t.stats.Updates++
			return false
		}
		var w *setWay[key4]
		w, created, used = s.take()
		w.key = k4
		w.put(e)
	}
	t.stats.Inserts++
	switch {
	case !used:
		t.n++
	case now-created <= t.timeout:
		t.stats.Evictions++
		return true
	}
	return false
}

// Len returns the number of entries of both families, expired ones not
// yet reused included.
func (t *SetTable) Len() int { return t.n }

// Cap returns the capacity of each family: the number of sets times
// [Ways].
func (t *SetTable) Cap() int { return int(t.nsets) * Ways }

// Sets returns the number of sets of each family.
func (t *SetTable) Sets() int { return int(t.nsets) }

// Timeout returns the entry lifetime.
func (t *SetTable) Timeout() time.Duration { return t.timeout }

// Stats returns the counters. Evictions counts live entries of other keys
// overwritten by an insert (an expired way is reused without counting).
func (t *SetTable) Stats() TableStats { return t.stats }

// Clear removes every entry and zeroes the counters.
func (t *SetTable) Clear() {
	t.sets4.Clear()
	t.sets6.Clear()
	t.n = 0
	t.stats = TableStats{}
}

// All yields the entries set by set, way by way, expired ones included:
// the IPv4 ones, then the IPv6 ones.
func (t *SetTable) All() iter.Seq2[Key, Entry] {
	return func(yield func(Key, Entry) bool) {
		for i := range t.nsets {
			if s := t.sets4.Get(i); s != nil {
				for j := range s.ways {
					if w := &s.ways[j]; w.used && !yield(w.key.key(), w.entry()) {
						return
					}
				}
			}
		}
		for i := range t.nsets {
			if s := t.sets6.Get(i); s != nil {
				for j := range s.ways {
					if w := &s.ways[j]; w.used && !yield(w.key.key(), w.entry()) {
						return
					}
				}
			}
		}
	}
}
