package frag

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	raSrc = netip.MustParseAddr("10.0.0.1")
	raDst = netip.MustParseAddr("10.0.0.2")
)

func raKey(id uint16) Key { return MakeKey(raSrc, raDst, 17, id) }

func raKey6(id uint32) Key {
	return MakeKey6(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 17, id)
}

func newRA(t testing.TB, o ReassemblerOptions) *Reassembler {
	t.Helper()
	r, err := NewReassembler(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// frags splits a payload of size bytes into fragments of at most per
// bytes (a multiple of 8).
func frags(k Key, size, per int, tag uint64) []Fragment {
	var fs []Fragment
	for off := 0; off < size; off += per {
		n := min(per, size-off)
		fs = append(fs, Fragment{Key: k, Offset: uint16(off / 8), More: off+n < size, Len: n, Tag: tag})
	}
	return fs
}

func TestReassemblerOrders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order []int
	}{
		{"in order", []int{0, 1, 2, 3}},
		{"reversed", []int{3, 2, 1, 0}},
		{"last first", []int{3, 0, 1, 2}},
		{"shuffled", []int{2, 0, 3, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRA(t, ReassemblerOptions{})
			fs := frags(raKey(7), 3000, 752, 9)
			if len(fs) != 4 {
				t.Fatalf("%d fragments, want 4", len(fs))
			}
			for n, i := range tc.order {
				d := r.Add(time.Duration(n), fs[i])
				if d.Drop != DropNone {
					t.Fatalf("fragment %d dropped: %v", i, d.Drop)
				}
				if last := n == len(tc.order)-1; d.Complete != last {
					t.Fatalf("after %d fragments Complete = %v", n+1, d.Complete)
				}
				if d.Complete && (d.Size != 3000 || d.Fragments != 4 || d.Mixed || d.Tag != 9) {
					t.Fatalf("completed %+v, want size 3000, 4 fragments, tag 9", d)
				}
			}
			if r.Len() != 0 || r.Stats().Completed != 1 {
				t.Errorf("Len %d Completed %d, want 0, 1", r.Len(), r.Stats().Completed)
			}
		})
	}
}

func TestReassemblerRejects(t *testing.T) {
	k := raKey(1)
	f := func(off uint16, n int, more bool) Fragment {
		return Fragment{Key: k, Offset: off, More: more, Len: n}
	}
	for _, tc := range []struct {
		name     string
		in       []Fragment
		want     DropReason // of the last fragment
		inFlight int        // datagrams left in progress
	}{
		{"zero length", []Fragment{f(0, 8, true), f(1, 0, true)}, DropZeroLength, 1},
		{"length not a multiple of 8", []Fragment{f(0, 12, true)}, DropBadLength, 0},
		{"duplicate", []Fragment{f(0, 16, true), f(0, 16, true)}, DropDuplicate, 1},
		{"overlap kills", []Fragment{f(0, 16, true), f(1, 16, true)}, DropOverlap, 0},
		{"overlap before", []Fragment{f(2, 16, true), f(0, 24, true)}, DropOverlap, 0},
		{"contains", []Fragment{f(1, 8, true), f(0, 32, true)}, DropOverlap, 0},
		{"past 65535", []Fragment{f(8189, 40, false)}, DropTooBig, 0},
		{"offset field overflow", []Fragment{f(0x2000, 8, true)}, DropTooBig, 0},
		{"whole packet too big", []Fragment{f(0, 65516, false)}, DropTooBig, 0},
		{"data past end", []Fragment{f(4, 16, true), f(1, 8, false)}, DropInconsistent, 0},
		{"two ends", []Fragment{f(4, 16, false), f(1, 8, false)}, DropInconsistent, 0},
		{"more past end", []Fragment{f(4, 16, false), f(8, 8, true)}, DropInconsistent, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRA(t, ReassemblerOptions{})
			var d Datagram
			for i, fr := range tc.in {
				d = r.Add(0, fr)
				if i < len(tc.in)-1 && d.Drop != DropNone {
					t.Fatalf("fragment %d dropped early: %v", i, d.Drop)
				}
			}
			if d.Drop != tc.want || d.Complete {
				t.Fatalf("last fragment: drop %v complete %v, want drop %v", d.Drop, d.Complete, tc.want)
			}
			if r.Len() != tc.inFlight {
				t.Errorf("%d datagrams in progress, want %d", r.Len(), tc.inFlight)
			}
			if got := r.Stats().Dropped[tc.want]; got != 1 {
				t.Errorf("Stats().Dropped[%v] = %d, want 1", tc.want, got)
			}
		})
	}
}

func TestReassemblerTooMany(t *testing.T) {
	r := newRA(t, ReassemblerOptions{MaxFragments: 3})
	fs := frags(raKey(1), 32, 8, 0)
	for i := range 3 {
		if d := r.Add(0, fs[i]); d.Drop != DropNone {
			t.Fatalf("fragment %d: %v", i, d.Drop)
		}
	}
	if d := r.Add(0, fs[3]); d.Drop != DropTooMany {
		t.Fatalf("4th fragment of 3 allowed: %v, want %v", d.Drop, DropTooMany)
	}
	if r.Len() != 0 {
		t.Errorf("datagram kept after too many fragments")
	}
}

func TestReassemblerTimeoutAndBound(t *testing.T) {
	r := newRA(t, ReassemblerOptions{MaxDatagrams: 2, Timeout: time.Second})
	first := Fragment{Key: raKey(1), More: true, Len: 8}
	r.Add(0, first)
	r.Add(100*time.Millisecond, Fragment{Key: raKey(2), More: true, Len: 8})
	if d := r.Add(200*time.Millisecond, Fragment{Key: raKey(3), More: true, Len: 8}); d.Drop != DropTableFull {
		t.Fatalf("third datagram in a table of 2: %v, want %v", d.Drop, DropTableFull)
	}
	if r.Len() != 2 {
		t.Fatalf("Len %d, want 2", r.Len())
	}
	// At exactly Timeout the first is still kept; just after, it expires
	// and its last fragment starts a new, incomplete datagram.
	if n := r.Expire(time.Second); n != 0 {
		t.Fatalf("Expire at the timeout dropped %d", n)
	}
	d := r.Add(time.Second+1, Fragment{Key: raKey(1), Offset: 1, Len: 8})
	if d.Complete || d.Drop != DropNone {
		t.Fatalf("fragment after expiry: %+v, want pending", d)
	}
	if got := r.Stats().Dropped[DropTimeout]; got != 1 {
		t.Fatalf("timeouts %d, want 1", got)
	}
	if n := r.Flush(); n != 2 || r.Len() != 0 {
		t.Fatalf("Flush dropped %d, Len %d; want 2, 0", n, r.Len())
	}
}

func TestReassemblerMixedTags(t *testing.T) {
	r := newRA(t, ReassemblerOptions{})
	a := frags(raKey(5), 24, 16, 1)
	b := frags(raKey(5), 24, 16, 2)
	r.Add(0, a[0])
	d := r.Add(1, b[1])
	if !d.Complete || !d.Mixed || d.Tag != 1 {
		t.Fatalf("datagram of two tags: %+v, want complete, mixed, tag 1", d)
	}
}

func TestReassemblerWholePacket(t *testing.T) {
	r := newRA(t, ReassemblerOptions{})
	d := r.Add(0, Fragment{Key: raKey(3), Len: 1000, Tag: 4})
	if !d.Complete || d.Size != 1000 || d.Fragments != 1 || d.Tag != 4 {
		t.Fatalf("whole packet: %+v", d)
	}
	if s := r.Stats(); s.Whole != 1 || s.Completed != 0 {
		t.Errorf("stats %+v, want 1 whole, 0 completed", s)
	}
}

func TestNewReassemblerErrors(t *testing.T) {
	for _, tc := range []struct {
		o     ReassemblerOptions
		field string
		err   error
	}{
		{ReassemblerOptions{Timeout: -1}, "reassembler.Timeout", ErrTimeout},
		{ReassemblerOptions{MaxDatagrams: -1}, "reassembler.MaxDatagrams", ErrCapacity},
		{ReassemblerOptions{MaxFragments: MaxFragmentsLimit + 1}, "reassembler.MaxFragments", ErrFragments},
	} {
		_, err := NewReassembler(tc.o)
		if !errors.Is(err, tc.err) {
			t.Errorf("NewReassembler(%+v) = %v, want %v", tc.o, err, tc.err)
			continue
		}
		if got := err.Error(); !strings.Contains(got, tc.field) {
			t.Errorf("error %q does not name %s", got, tc.field)
		}
	}
}

func TestDropReasonString(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range DropReasons() {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("reason %d: name %q empty or repeated", r, s)
		}
		seen[s] = true
	}
	if DropReason(200).String() != "drop(200)" {
		t.Errorf("unknown reason: %q", DropReason(200).String())
	}
}

func TestReassemblerNoAllocs(t *testing.T) {
	r := newRA(t, ReassemblerOptions{MaxDatagrams: 64})
	var fs [][]Fragment
	for id := range 256 {
		fs = append(fs, frags(raKey(uint16(id)), 4000, 1480, uint64(id)))
	}
	n := 0
	run := func() {
		for _, f := range fs[n%len(fs)] {
			r.Add(time.Duration(n), f)
		}
		n++
	}
	for range 1000 {
		run()
	}
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Errorf("%v allocations per datagram, want 0", a)
	}
}

// TestReassemblerIPv6 reassembles IPv6 datagrams: reordered, told apart
// by 32-bit identifications, with the IPv6 size limit (the payload length:
// a fragment may end at 65535, where an IPv4 one must leave room for its
// 20-byte header), and the same drop reasons as IPv4.
func TestReassemblerIPv6(t *testing.T) {
	r := newRA(t, ReassemblerOptions{})
	a, b := frags(raKey6(7), 3000, 1232, 1), frags(raKey6(7|1<<16), 3000, 1232, 2)
	for i, f := range []Fragment{a[2], b[0], a[0], b[2], a[1]} {
		if d := r.Add(time.Duration(i), f); d.Drop != DropNone || d.Complete != (i == 4) || d.Mixed {
			t.Fatalf("fragment %d: %+v", i, d)
		}
	}
	if r.Len() != 1 {
		t.Fatalf("%d datagrams in progress, want the second", r.Len())
	}
	if d := r.Add(5, b[1]); !d.Complete || d.Size != 3000 || d.Tag != 2 || !d.Key.Is6() {
		t.Fatalf("second datagram: %+v", d)
	}
	last := func(k Key, off uint16, n int) Fragment { return Fragment{Key: k, Offset: off, Len: n} }
	for _, tc := range []struct {
		f    Fragment
		want DropReason
	}{
		{last(raKey6(1), 8191, 7), DropNone},   // ends at 65535
		{last(raKey(1), 8191, 7), DropTooBig},  // IPv4: 65535 + 20 bytes of header
		{last(raKey(2), 8189, 3), DropNone},    // IPv4: ends at 65515
		{last(raKey6(2), 8191, 8), DropTooBig}, // ends at 65536
		{Fragment{Key: raKey6(3), Len: 65535}, DropNone},
		{Fragment{Key: raKey6(3), Len: 65536}, DropTooBig},
		{Fragment{Key: raKey6(4), More: true, Len: 12}, DropBadLength},
		{Fragment{Key: raKey6(5), Offset: 3, Len: 0}, DropZeroLength},
	} {
		if d := r.Add(10, tc.f); d.Drop != tc.want {
			t.Errorf("%v offset %d len %d: drop %v, want %v", tc.f.Key, tc.f.Offset, tc.f.Len, d.Drop, tc.want)
		}
	}
	// Overlap discards the datagram, as RFC 5722 asks of IPv6.
	r.Add(20, Fragment{Key: raKey6(9), More: true, Len: 16})
	if d := r.Add(21, Fragment{Key: raKey6(9), Offset: 1, More: true, Len: 16}); d.Drop != DropOverlap {
		t.Fatalf("overlap: %+v", d)
	}
	if d := r.Add(22, Fragment{Key: raKey6(9), Offset: 2, Len: 8}); d.Drop != DropNone || d.Complete {
		t.Fatalf("after an overlap the datagram starts anew: %+v", d)
	}
}

// FuzzReassembler feeds arbitrary fragment sequences over three datagram
// keys (two IPv4, one IPv6) and checks against a byte map: a datagram is
// reported complete exactly when every byte of it arrived once, never with
// a missing or doubled byte, a fragment is too big exactly past its
// family's limit, and the reassembler stays within its bounds.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte{0, 0, 16, 1, 0, 2, 16, 0})
	f.Add([]byte{1, 2, 8, 0, 1, 0, 16, 1, 1, 0, 16, 1})
	f.Add([]byte{2, 0, 8, 1, 9, 2, 1, 8, 1, 0, 2, 8, 1, 0, 1, 8, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxD, maxF = 2, 4
		timeout := 50 * time.Millisecond
		r := newRA(t, ReassemblerOptions{MaxDatagrams: maxD, MaxFragments: maxF, Timeout: timeout})
		type model struct {
			created time.Duration
			bytes   map[int]int
			total   int // -1 unknown
		}
		cur := map[Key]*model{}
		var now time.Duration
		for len(in) >= 4 {
			op := in[:4]
			in = in[4:]
			k := raKey(uint16(op[0] % 3))
			if op[0]%3 == 2 {
				k = raKey6(1<<16 | 1) // the low 16 bits of the ID are raKey(1)'s
			}
			now += time.Duration(op[0]>>2) * time.Millisecond
			off := uint16(op[1] % 16)
			if op[1] >= 0xf0 {
				off = 8190 + uint16(op[1]&3)
			}
			fr := Fragment{Key: k, Offset: off, Len: int(op[2] % 40), More: op[3]&1 == 1}
			for kk, m := range cur {
				if now-m.created > timeout {
					delete(cur, kk)
				}
			}
			d := r.Add(now, fr)
			unfragmented := fr.Offset == 0 && !fr.More
			if tooBig := int(fr.Offset)*8+fr.Len+headerLen(k) > 65535; fr.Len > 0 && !unfragmented && tooBig != (d.Drop == DropTooBig) {
				t.Fatalf("%v: fragment ending at %d: drop %v", k, int(fr.Offset)*8+fr.Len, d.Drop)
			}
			if r.Len() > maxD {
				t.Fatalf("%d datagrams in progress, bound %d", r.Len(), maxD)
			}
			for i := range r.slots {
				if len(r.slots[i].spans) > maxF {
					t.Fatalf("datagram with %d ranges, bound %d", len(r.slots[i].spans), maxF)
				}
			}
			switch d.Drop {
			case DropTooBig, DropOverlap, DropInconsistent, DropTooMany:
				delete(cur, k)
				continue
			case DropTableFull:
				if cur[k] != nil {
					t.Fatalf("table full for a datagram in progress")
				}
				continue
			case DropZeroLength, DropBadLength, DropDuplicate:
				continue
			case DropNone:
			default:
				t.Fatalf("unexpected drop %v", d.Drop)
			}
			if fr.Offset == 0 && !fr.More {
				if !d.Complete || d.Size != fr.Len {
					t.Fatalf("whole packet %+v -> %+v", fr, d)
				}
				continue
			}
			m := cur[k]
			if m == nil {
				m = &model{created: now, bytes: map[int]int{}, total: -1}
				cur[k] = m
			}
			start := int(fr.Offset) * 8
			for b := start; b < start+fr.Len; b++ {
				m.bytes[b]++
				if m.bytes[b] > 1 {
					t.Fatalf("accepted byte %d twice", b)
				}
			}
			if !fr.More {
				m.total = start + fr.Len
			}
			whole := m.total >= 0 && len(m.bytes) == m.total
			for b := range m.bytes {
				if m.total >= 0 && b >= m.total {
					t.Fatalf("accepted byte %d past the end %d", b, m.total)
				}
			}
			if d.Complete != whole {
				t.Fatalf("Complete %v, but the byte map says whole %v (total %d, %d bytes)", d.Complete, whole, m.total, len(m.bytes))
			}
			if d.Complete {
				if d.Size != m.total {
					t.Fatalf("completed size %d, want %d", d.Size, m.total)
				}
				delete(cur, k)
			}
			if r.Len() != len(cur) {
				t.Fatalf("%d datagrams in progress, model has %d", r.Len(), len(cur))
			}
		}
	})
}

// A backend reassembles a datagram whose fragments arrive out of order.
func ExampleReassembler() {
	r, err := NewReassembler(ReassemblerOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	k := MakeKey(netip.MustParseAddr("10.1.0.7"), netip.MustParseAddr("192.0.2.1"), 17, 4242)
	// 3000 payload bytes over a 1500-byte MTU: 1480 + 1480 + 40 bytes.
	frags := []Fragment{
		{Key: k, Offset: 370, Len: 40},               // last (MF clear)
		{Key: k, Offset: 0, More: true, Len: 1480},   // first
		{Key: k, Offset: 185, More: true, Len: 1480}, // middle
		{Key: k, Offset: 185, More: true, Len: 1480}, // middle again
	}
	for i, f := range frags {
		d := r.Add(time.Duration(i)*time.Microsecond, f)
		fmt.Printf("fragment at %d: complete %v, size %d, drop %v\n", f.Offset*8, d.Complete, d.Size, d.Drop)
	}
	// Output:
	// fragment at 2960: complete false, size 0, drop none
	// fragment at 0: complete false, size 0, drop none
	// fragment at 1480: complete true, size 3000, drop none
	// fragment at 1480: complete false, size 0, drop none
}

// BenchmarkReassembler reassembles 3-fragment datagrams, 64 in progress at
// a time; one op is one fragment.
func BenchmarkReassembler(b *testing.B) {
	r := newRA(b, ReassemblerOptions{})
	var fs []Fragment
	for id := range 1024 {
		fs = append(fs, frags(raKey(uint16(id)), 4000, 1480, uint64(id))...)
	}
	// Interleave: first fragments of 64 datagrams, then their seconds, ...
	var order []Fragment
	for base := 0; base < 1024; base += 64 {
		for j := range 3 {
			for d := base; d < base+64; d++ {
				order = append(order, fs[3*d+j])
			}
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Add(time.Duration(i), order[i%len(order)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frags/s")
}
