package frag

import (
	"fmt"
	"iter"
	"net/netip"
	"strconv"
	"time"
)

// Defaults of [Options].
const (
	// DefaultCapacity is the table capacity when Options.Capacity is 0.
	DefaultCapacity = 16384
	// DefaultTimeout is the entry lifetime when Options.Timeout is 0: 30 s,
	// Linux's net.ipv4.ipfrag_time.
	DefaultTimeout = 30 * time.Second
)

// Key identifies the datagram a fragment belongs to, as RFC 791 does:
// source and destination IPv4 addresses, protocol and IP identification.
//
// Like [netip.Addr] it is a small comparable value: use it as a map key or
// compare it with ==. It does not allocate. The zero Key is the key of
// 0.0.0.0 -> 0.0.0.0, protocol 0, ID 0.
type Key struct {
	src, dst [4]byte
	proto    uint8
	id       uint16
}

// MakeKey returns the key of a fragment from src to dst with the given
// protocol and IP ID. An address that is not IPv4 is taken as 0.0.0.0 (an
// IPv4-mapped IPv6 address is unmapped first).
func MakeKey(src, dst netip.Addr, proto uint8, id uint16) Key {
	return Key{src: as4(src), dst: as4(dst), proto: proto, id: id}
}

// KeyFrom4 returns the key built from raw network-order IPv4 addresses.
func KeyFrom4(src, dst [4]byte, proto uint8, id uint16) Key {
	return Key{src: src, dst: dst, proto: proto, id: id}
}

func as4(a netip.Addr) [4]byte {
	a = a.Unmap()
	if !a.Is4() {
		return [4]byte{}
	}
	return a.As4()
}

// hash mixes the key's 11 bytes into 64 bits (a murmur3-style finalizer
// over two words): cheaper than a generic hash, and well spread in the low
// bits that pick a table slot.
func (k Key) hash() uint64 {
	a := uint64(k.src[0]) | uint64(k.src[1])<<8 | uint64(k.src[2])<<16 | uint64(k.src[3])<<24 |
		uint64(k.dst[0])<<32 | uint64(k.dst[1])<<40 | uint64(k.dst[2])<<48 | uint64(k.dst[3])<<56
	b := uint64(k.proto) | uint64(k.id)<<8
	return mix64(a ^ mix64(b+0x9e3779b97f4a7c15))
}

// mix64 is the 64-bit finalizer of MurmurHash3.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// Src returns the source address.
func (k Key) Src() netip.Addr { return netip.AddrFrom4(k.src) }

// Dst returns the destination address.
func (k Key) Dst() netip.Addr { return netip.AddrFrom4(k.dst) }

// Proto returns the IP protocol.
func (k Key) Proto() uint8 { return k.proto }

// ID returns the IP identification.
func (k Key) ID() uint16 { return k.id }

// String returns the key as "src->dst/proto#id", e.g.
// "10.0.0.1->192.0.2.10/17#42".
func (k Key) String() string {
	return k.Src().String() + "->" + k.Dst().String() + "/" +
		strconv.Itoa(int(k.proto)) + "#" + strconv.Itoa(int(k.id))
}

// Entry is what a balancer records for a datagram: the backend its
// fragments go to and, once the first fragment has been seen, its ports.
type Entry struct {
	Backend          uint32        // the backend's ID (a balancer.BackendID)
	SrcPort, DstPort uint16        // the first fragment's ports, when HasPorts
	HasPorts         bool          // false while only non-first fragments were seen
	Created          time.Duration // when the entry was written, on the caller's clock
}

// Options configure a [Table]. The zero Options are valid.
type Options struct {
	// Capacity is the most entries the table holds (0: [DefaultCapacity]).
	// A new entry in a full table evicts the least recently used one.
	Capacity int
	// Timeout is how long an entry lives after Created (0:
	// [DefaultTimeout]). An entry with now - Created > Timeout is expired:
	// a lookup misses it and removes it.
	Timeout time.Duration
}

// TableStats counts what a [Table] did since it was made or cleared.
type TableStats struct {
	Hits      uint64 // lookups that found a live entry
	Misses    uint64 // lookups that found no live entry (expired ones included)
	Inserts   uint64 // Insert added a key
	Updates   uint64 // Insert replaced the entry of a present key
	Evictions uint64 // live or stale entries evicted by an Insert into a full table
	Expiries  uint64 // lookups that found an expired entry and removed it
}

// Table is the balancer side's bounded, time-aware fragment table: a
// [Key] -> [Entry] map with least-recently-used eviction at capacity and a
// timeout checked against the caller's clock. Lookups, inserts and deletes
// are O(1) and do not allocate: all memory is allocated by [NewTable].
//
// A Table is not safe for concurrent use.
type Table struct {
	lru     *LRU[Key, Entry]
	timeout time.Duration
	stats   TableStats
}

// NewTable returns an empty table. The error names a bad option: a capacity
// that is negative or above [MaxCapacity], or a negative timeout.
func NewTable(opts Options) (*Table, error) {
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
	l, err := NewLRUFunc[Key, Entry](c, Key.hash)
	if err != nil {
		return nil, err
	}
	return &Table{lru: l, timeout: to}, nil
}

// Lookup returns the live entry of k at time now and marks it most recently
// used. An entry older than the timeout (now - Created > Timeout) is a miss:
// it is removed and counted as an expiry.
func (t *Table) Lookup(k Key, now time.Duration) (Entry, bool) {
	l := t.lru
	i, _ := l.find(k, l.hashOf(k))
	if i == nilIndex {
		t.stats.Misses++
		return Entry{}, false
	}
	e := l.nodes[i].val
	if now-e.Created > t.timeout {
		l.remove(i)
		t.stats.Expiries++
		t.stats.Misses++
		return Entry{}, false
	}
	t.stats.Hits++
	l.moveToFront(i)
	return e, true
}

// Insert writes e for k (overwriting any entry) and marks it most recently
// used. A new key in a full table evicts the least recently used entry
// first; Insert reports whether that happened.
func (t *Table) Insert(k Key, e Entry) (evicted bool) {
	updated, evicted := t.lru.put(k, e)
	switch {
	case updated:
		t.stats.Updates++
	case evicted:
		t.stats.Inserts++
		t.stats.Evictions++
	default:
		t.stats.Inserts++
	}
	return evicted
}

// Delete removes k and reports whether it was present. A balancer does not
// delete when the last fragment passes (it may not be the last to arrive);
// Delete is for callers that know a datagram is complete.
func (t *Table) Delete(k Key) bool { return t.lru.Delete(k) }

// Len returns the number of entries, expired ones not yet removed included.
func (t *Table) Len() int { return t.lru.Len() }

// Cap returns the capacity: Len never exceeds it.
func (t *Table) Cap() int { return t.lru.Cap() }

// Timeout returns the entry lifetime.
func (t *Table) Timeout() time.Duration { return t.timeout }

// Stats returns the counters.
func (t *Table) Stats() TableStats { return t.stats }

// Clear removes every entry and zeroes the counters.
func (t *Table) Clear() {
	t.lru.Clear()
	t.stats = TableStats{}
}

// All yields the entries from the most to the least recently used, expired
// ones included, without touching their recency.
func (t *Table) All() iter.Seq2[Key, Entry] { return t.lru.All() }
