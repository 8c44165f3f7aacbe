package frag

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/titanlb/titanlb/internal/enum"
	"github.com/titanlb/titanlb/lru"
)

// Defaults and limits of [ReassemblerOptions].
const (
	// DefaultMaxDatagrams is the number of datagrams a [Reassembler] holds
	// in progress when ReassemblerOptions.MaxDatagrams is 0.
	DefaultMaxDatagrams = 4096
	// DefaultMaxFragments is the most fragments one datagram may have when
	// ReassemblerOptions.MaxFragments is 0: a 64 KiB datagram over a
	// 1500-byte MTU needs 45.
	DefaultMaxFragments = 64
	// MaxFragmentsLimit is the largest ReassemblerOptions.MaxFragments:
	// 65536 bytes in 8-byte units.
	MaxFragmentsLimit = 8192
	// maxDatagram is the largest IPv4 total length (a datagram's payload
	// plus its 20-byte header may not exceed it) and the largest IPv6
	// payload length (a datagram's fragmentable part may not exceed it,
	// Linux's IPV6_MAXPLEN check in net/ipv6/reassembly.c).
	maxDatagram   = 65535
	ipv4HeaderLen = 20
)

// headerLen is what counts toward maxDatagram beside a datagram of key k's
// payload: the IPv4 header, nothing for IPv6.
func headerLen(k Key) int {
	if k.Is6() {
		return 0
	}
	return ipv4HeaderLen
}

// ErrFragments is wrapped by [NewReassembler] for a MaxFragments out of range.
var ErrFragments = errors.New("must be between 1 and MaxFragmentsLimit")

// ReassemblerOptions configures a [Reassembler]. The zero value is valid:
// every zero field takes its documented default.
type ReassemblerOptions struct {
	// Timeout is how long an incomplete datagram is kept after its first
	// fragment arrived; 0 means [DefaultTimeout] (30 s, Linux's
	// net.ipv4.ipfrag_time).
	Timeout time.Duration
	// MaxDatagrams bounds the datagrams in progress; 0 means
	// [DefaultMaxDatagrams]. A fragment of a new datagram that finds the
	// reassembler full is dropped ([DropTableFull]), as Linux drops new
	// fragments above net.ipv4.ipfrag_high_thresh.
	MaxDatagrams int
	// MaxFragments bounds the fragments of one datagram; 0 means
	// [DefaultMaxFragments].
	MaxFragments int
}

// Fragment is what a [Reassembler] needs to know of one received IPv4 or
// IPv6 fragment (or whole packet): its datagram, its place and size.
type Fragment struct {
	Key    Key    // the datagram: source, destination, protocol, identification (IPv4 or IPv6)
	Offset uint16 // fragment offset in 8-byte units, as on the wire (13 bits)
	More   bool   // the MF (IPv6: M) flag
	// Len is the fragment's payload bytes: the IPv4 total length minus the
	// header; for IPv6 the bytes after the Fragment header (for a whole
	// packet, the payload length).
	Len int
	// Tag is opaque to reassembly. A simulator sets it to its own datagram
	// number, so that a datagram assembled from fragments of two datagrams
	// sharing a Key (an IP ID wrap) is reported as Mixed.
	Tag uint64
}

// Datagram is what [Reassembler.Add] reports about the fragment it was
// given: whether it completed a datagram, or was dropped and why.
type Datagram struct {
	// Complete is true when this fragment completed a datagram (or was a
	// whole, unfragmented packet): every byte from 0 to Size arrived,
	// exactly once.
	Complete bool
	// Drop is why the fragment was dropped; [DropNone] when it was not.
	Drop DropReason
	// Key is the fragment's datagram.
	Key Key
	// Size is the payload bytes of a complete datagram.
	Size int
	// Fragments is the number of fragments a complete datagram had.
	Fragments int
	// Tag is the Tag of the datagram's first received fragment.
	Tag uint64
	// Mixed is true when a complete datagram's fragments did not all carry
	// the same Tag.
	Mixed bool
}

// DropReason says why a [Reassembler] dropped a fragment or a datagram.
type DropReason uint8

// The drop reasons. Those marked "datagram" discard the whole datagram in
// progress along with the fragment (Linux's ip_frag_queue in
// net/ipv4/ip_fragment.c does so for overlaps, "goto discard_qp", since
// RFC 5722's rule was applied to IPv4 in Linux 4.19; the model extends it
// to the other corrupt-datagram cases, which can never complete anyway);
// the others drop only the fragment. Linux trims a non-last fragment to a
// multiple of 8 instead of dropping it; either way the datagram keeps a
// hole and times out.
const (
	DropNone         DropReason = iota
	DropZeroLength              // fragment with no payload
	DropBadLength               // a non-last fragment whose length is not a multiple of 8
	DropTooBig                  // fragment ending past 65535 bytes (datagram)
	DropDuplicate               // exact duplicate of a fragment already held
	DropOverlap                 // partial overlap with a fragment already held (datagram)
	DropInconsistent            // data past the last fragment's end, or two different ends (datagram)
	DropTooMany                 // more than MaxFragments fragments (datagram)
	DropTableFull               // MaxDatagrams datagrams already in progress
	DropTimeout                 // datagram incomplete after Timeout, or abandoned by Flush (datagram)
	numDropReasons
)

var dropNames = [numDropReasons]string{
	"none", "zero-length fragment", "bad fragment length", "beyond 65535 bytes",
	"duplicate fragment", "overlapping fragment", "inconsistent length",
	"too many fragments", "table full", "timeout",
}

// String returns the reason as used in reports ("overlapping fragment", ...).
func (r DropReason) String() string { return enum.String(dropNames[:], r, "drop") }

// DropReasons lists every reason but [DropNone], in order.
func DropReasons() []DropReason {
	rs := make([]DropReason, 0, numDropReasons-1)
	for r := DropNone + 1; r < numDropReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// ReassemblerStats counts what a [Reassembler] did.
type ReassemblerStats struct {
	Completed uint64                 // datagrams completed from fragments
	Whole     uint64                 // unfragmented packets passed through
	Dropped   [numDropReasons]uint64 // by DropReason: fragments, or datagrams for the datagram reasons
}

// span is a received byte range [start, end) of a datagram's payload.
type span struct{ start, end uint32 }

// progress is one datagram being reassembled.
type progress struct {
	created time.Duration
	total   int32 // payload length, known once the last fragment arrived; -1 before
	got     int32 // payload bytes held
	tag     uint64
	mixed   bool
	spans   []span // sorted by start, non-overlapping; capacity kept for reuse
}

// Reassembler is the backend side of fragmentation: it reassembles IPv4
// and IPv6 datagrams from their fragments as a receiving host's kernel
// does (Linux net/ipv4/ip_fragment.c, net/ipv6/reassembly.c and
// net/ipv4/inet_fragment.c, which both use), keeping only which byte
// ranges arrived, not the bytes. Both families share the limits and the
// drop reasons; "past 65535 bytes" counts the IPv4 header but not the
// IPv6 one (whose limit is on the payload length), and an IPv6 datagram
// is its [Key]: addresses, Next Header and the 32-bit identification.
//
// For each datagram ([Key]) in progress it keeps the received ranges,
// sorted. A fragment that exactly repeats a range is dropped
// ([DropDuplicate]); one that partly overlaps a range discards the datagram
// ([DropOverlap], as Linux does since RFC 5722's rule was applied to IPv4;
// an exact duplicate is dropped alone there too: inet_frag_queue_insert in
// net/ipv4/inet_fragment.c tells IPFRAG_DUP from IPFRAG_OVERLAP).
// Zero-length fragments, non-last fragments whose length is not a multiple
// of 8, fragments ending past 65535 bytes, data past the last fragment's
// end and datagrams of more than MaxFragments fragments are dropped with
// their own [DropReason]. When the last byte arrives the datagram is
// reported [Datagram.Complete] and forgotten. So a datagram is never
// reported complete with a missing or a doubled byte; FuzzReassembler
// checks that against a byte map.
//
// Memory is bounded: at most MaxDatagrams datagrams of at most
// MaxFragments ranges each. A datagram is dropped ([DropTimeout]) once
// Timeout has passed since its first fragment arrived; expiry is checked,
// oldest first, on each [Reassembler.Add] and by [Reassembler.Expire], on
// the caller's clock (simulated time), which must not go back.
//
// After warm-up, Add does not allocate: datagram records and their range
// lists are reused. A Reassembler is not safe for concurrent use; the zero
// value is not usable, call [NewReassembler].
type Reassembler struct {
	timeout  time.Duration
	maxFrags int
	index4   *lru.Map[key4, int32] // IPv4 datagram -> slot; recency = arrival of first fragment
	index6   *lru.Map[key6, int32] // the same for IPv6, sharing the slots
	slots    []progress
	free     []int32
	stats    ReassemblerStats
	// floor is at or before the arrival of every datagram in progress
	// (math.MaxInt64 when none has arrived since the last expiry pass
	// emptied the table), so that Expire returns at once, without
	// reading the oldest entry, while now-floor is within the timeout.
	floor time.Duration
}

// NewReassembler returns a reassembler configured by opts, or an error
// naming the bad field.
func NewReassembler(opts ReassemblerOptions) (*Reassembler, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("frag: reassembler.Timeout %v: %w", opts.Timeout, ErrTimeout)
	}
	if opts.MaxDatagrams < 0 || opts.MaxDatagrams > MaxCapacity {
		return nil, fmt.Errorf("frag: reassembler.MaxDatagrams %d: %w", opts.MaxDatagrams, ErrCapacity)
	}
	if opts.MaxFragments < 0 || opts.MaxFragments > MaxFragmentsLimit {
		return nil, fmt.Errorf("frag: reassembler.MaxFragments %d: %w", opts.MaxFragments, ErrFragments)
	}
	r := &Reassembler{timeout: opts.Timeout, maxFrags: opts.MaxFragments, floor: math.MaxInt64}
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	if r.maxFrags == 0 {
		r.maxFrags = DefaultMaxFragments
	}
	n := opts.MaxDatagrams
	if n == 0 {
		n = DefaultMaxDatagrams
	}
	idx4, err := lru.NewFunc[key4, int32](n, key4.hash)
	if err != nil {
		return nil, fmt.Errorf("frag: reassembler.MaxDatagrams %d: %w", n, err)
	}
	idx6, err := lru.NewFunc[key6, int32](n, key6.hash)
	if err != nil {
		return nil, fmt.Errorf("frag: reassembler.MaxDatagrams %d: %w", n, err)
	}
	r.index4, r.index6 = idx4, idx6
	r.slots = make([]progress, n)
	r.free = make([]int32, n)
	for i := range r.free {
		r.free[i] = int32(n - 1 - i)
	}
	return r, nil
}

// Len returns the number of datagrams in progress.
func (r *Reassembler) Len() int { return r.index4.Len() + r.index6.Len() }

// The datagram index is one LRU per family, keyed by the compact way keys
// of [SetTable] (an IPv4 key indexed as 12 bytes, as before IPv6 keys
// existed), over one array of slots: MaxDatagrams bounds both together.

func (r *Reassembler) peek(k Key) (int32, bool) {
	if k.meta&metaV6 != 0 {
		return r.index6.Peek(mkKey6(k.src0, k.src1, k.dst0, k.dst1, k.meta))
	}
	return r.index4.Peek(mkKey4(k.src0, k.dst0, k.meta))
}

func (r *Reassembler) put(k Key, i int32) {
	if k.meta&metaV6 != 0 {
		r.index6.Put(mkKey6(k.src0, k.src1, k.dst0, k.dst1, k.meta), i)
		return
	}
	r.index4.Put(mkKey4(k.src0, k.dst0, k.meta), i)
}

// oldest returns the datagram whose first fragment arrived first, of
// either family (IPv4 on a tie).
func (r *Reassembler) oldest() (Key, int32, bool) {
	k4, i4, ok4 := r.index4.Oldest()
	k6, i6, ok6 := r.index6.Oldest()
	if ok6 && (!ok4 || r.slots[i6].created < r.slots[i4].created) {
		return k6.key(), i6, true
	}
	return k4.key(), i4, ok4
}

// Stats returns the counters.
func (r *Reassembler) Stats() ReassemblerStats { return r.stats }

// Timeout returns the configured timeout.
func (r *Reassembler) Timeout() time.Duration { return r.timeout }

// Expire drops, as [DropTimeout], the datagrams whose first fragment
// arrived more than Timeout before now, and returns how many it dropped.
func (r *Reassembler) Expire(now time.Duration) int {
	if now-r.floor <= r.timeout { // nothing arrived before floor
		return 0
	}
	n := 0
	for {
		k, i, ok := r.oldest()
		if !ok {
			r.floor = math.MaxInt64
			return n
		}
		if now-r.slots[i].created <= r.timeout {
			r.floor = r.slots[i].created
			return n
		}
		r.release(k, i)
		r.stats.Dropped[DropTimeout]++
		n++
	}
}

// Flush drops every datagram in progress as [DropTimeout] (none of them can
// complete any more: the caller sends no more fragments) and returns how
// many it dropped.
func (r *Reassembler) Flush() int {
	n := 0
	for {
		k, i, ok := r.oldest()
		if !ok {
			return n
		}
		r.release(k, i)
		r.stats.Dropped[DropTimeout]++
		n++
	}
}

func (r *Reassembler) release(k Key, i int32) {
	if k.meta&metaV6 != 0 {
		r.index6.Delete(mkKey6(k.src0, k.src1, k.dst0, k.dst1, k.meta))
	} else {
		r.index4.Delete(mkKey4(k.src0, k.dst0, k.meta))
	}
	p := &r.slots[i]
	p.spans = p.spans[:0]
	r.free = append(r.free, i)
}

// Range lists are carved from chunks shared by slotChunk slots, each
// starting with room for spanRoom ranges, so that filling an empty
// reassembler costs one allocation per slotChunk datagrams, not one per
// datagram. A list that outgrows its room is reallocated once and kept.
const (
	slotChunk = 64
	spanRoom  = 4
)

// carve gives every slot of slot i's chunk that has no range list yet its
// room in one new chunk.
func (r *Reassembler) carve(i int32) {
	lo := int(i) &^ (slotChunk - 1)
	hi := min(lo+slotChunk, len(r.slots))
	room := min(spanRoom, r.maxFrags)
	chunk := make([]span, (hi-lo)*room)
	for j := lo; j < hi; j++ {
		if r.slots[j].spans == nil {
			k := (j - lo) * room
			r.slots[j].spans = chunk[k : k : k+room]
		}
	}
}

// Add takes in one fragment that arrived at time now (not before the time
// of the previous call) and reports what became of it. A whole packet
// (offset 0, MF clear) is reported complete at once. Add does not allocate
// in steady state and never panics, whatever f holds.
func (r *Reassembler) Add(now time.Duration, f Fragment) Datagram {
	r.Expire(now)
	d := Datagram{Key: f.Key, Tag: f.Tag}
	drop := func(why DropReason) Datagram {
		r.stats.Dropped[why]++
		d.Drop = why
		return d
	}
	if f.Len <= 0 {
		return drop(DropZeroLength)
	}
	if f.Offset == 0 && !f.More {
		if f.Len+headerLen(f.Key) > maxDatagram {
			return drop(DropTooBig)
		}
		r.stats.Whole++
		d.Complete, d.Size, d.Fragments = true, f.Len, 1
		return d
	}
	start := int(f.Offset) * 8
	end := start + f.Len
	i, ok := r.peek(f.Key)
	kill := func(why DropReason) Datagram {
		if ok {
			r.release(f.Key, i)
		}
		return drop(why)
	}
	if f.Offset > 0x1fff || end+headerLen(f.Key) > maxDatagram {
		return kill(DropTooBig)
	}
	if f.More && f.Len%8 != 0 {
		return drop(DropBadLength)
	}
	if !ok {
		if len(r.free) == 0 {
			return drop(DropTableFull)
		}
		i = r.free[len(r.free)-1]
		r.free = r.free[:len(r.free)-1]
		p := &r.slots[i]
		if p.spans == nil {
			r.carve(i)
		}
		p.created, p.total, p.got, p.tag, p.mixed = now, -1, 0, f.Tag, false
		r.floor = min(r.floor, now)
		p.spans = p.spans[:0]
		r.put(f.Key, i)
		ok = true
	}
	p := &r.slots[i]
	d.Tag = p.tag
	s, e := uint32(start), uint32(end)
	// Find the insertion point: the first span starting at or after s.
	j := len(p.spans)
	for j > 0 && p.spans[j-1].start >= s {
		j--
	}
	if j < len(p.spans) && p.spans[j].start == s && p.spans[j].end == e {
		return drop(DropDuplicate)
	}
	if (j > 0 && p.spans[j-1].end > s) || (j < len(p.spans) && p.spans[j].start < e) {
		return kill(DropOverlap)
	}
	if !f.More {
		if p.total >= 0 && uint32(p.total) != e {
			return kill(DropInconsistent)
		}
		if n := len(p.spans); n > 0 && p.spans[n-1].end > e {
			return kill(DropInconsistent)
		}
	} else if p.total >= 0 && e > uint32(p.total) {
		return kill(DropInconsistent)
	}
	if len(p.spans) >= r.maxFrags {
		return kill(DropTooMany)
	}
	if !f.More {
		p.total = int32(end)
	}
	p.spans = append(p.spans, span{})
	copy(p.spans[j+1:], p.spans[j:])
	p.spans[j] = span{s, e}
	p.got += int32(f.Len)
	if f.Tag != p.tag {
		p.mixed = true
	}
	if p.total < 0 || p.got != p.total {
		return d
	}
	// Every held range is inside [0, total), none overlaps, and they add up
	// to total: the datagram is whole.
	d.Complete, d.Size, d.Fragments, d.Mixed = true, int(p.total), len(p.spans), p.mixed
	r.stats.Completed++
	r.release(f.Key, i)
	return d
}
