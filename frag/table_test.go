package frag

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var (
	srcA = netip.MustParseAddr("10.0.0.1")
	dstV = netip.MustParseAddr("192.0.2.10")
)

func newTestTable(t testing.TB, opts Options) *Table {
	t.Helper()
	tb, err := NewTable(opts)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestKey(t *testing.T) {
	k := MakeKey(srcA, dstV, 17, 42)
	if k.Src() != srcA || k.Dst() != dstV || k.Proto() != 17 || k.ID() != 42 {
		t.Errorf("accessors of %v", k)
	}
	if got, want := k.String(), "10.0.0.1->192.0.2.10/17#42"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if k != KeyFrom4(srcA.As4(), dstV.As4(), 17, 42) {
		t.Error("MakeKey and KeyFrom4 disagree")
	}
	if MakeKey(netip.MustParseAddr("::ffff:10.0.0.1"), dstV, 17, 42) != k {
		t.Error("IPv4-mapped address not unmapped")
	}
	if got := MakeKey(netip.MustParseAddr("2001:db8::1"), netip.Addr{}, 6, 1).Src(); got != netip.IPv4Unspecified() {
		t.Errorf("IPv6 source became %v, want 0.0.0.0", got)
	}
	if MakeKey(srcA, dstV, 17, 43) == k || MakeKey(srcA, dstV, 6, 42) == k {
		t.Error("keys differing in ID or proto compare equal")
	}
	if n := testing.AllocsPerRun(100, func() { k = MakeKey(srcA, dstV, 17, k.ID()+1) }); n != 0 {
		t.Errorf("MakeKey allocates %v", n)
	}
}

func TestNewTableOptions(t *testing.T) {
	tb := newTestTable(t, Options{})
	if tb.Cap() != DefaultCapacity || tb.Timeout() != DefaultTimeout {
		t.Errorf("zero Options: Cap %d, Timeout %v; want %d, %v", tb.Cap(), tb.Timeout(), DefaultCapacity, DefaultTimeout)
	}
	for _, tc := range []struct {
		name string
		opts Options
		err  error
		msg  string
	}{
		{"negative capacity", Options{Capacity: -1}, ErrCapacity, "frag: options.Capacity -1: must be between 1 and MaxCapacity"},
		{"huge capacity", Options{Capacity: MaxCapacity + 1}, ErrCapacity, ""},
		{"negative timeout", Options{Timeout: -time.Second}, ErrTimeout, "frag: options.Timeout -1s: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTable(tc.opts)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("message %q, want %q", err, tc.msg)
			}
		})
	}
}

func TestTableExpiry(t *testing.T) {
	tb := newTestTable(t, Options{Capacity: 4, Timeout: 10 * time.Second})
	k := MakeKey(srcA, dstV, 17, 1)
	tb.Insert(k, Entry{Backend: 101, Created: 5 * time.Second})
	if e, ok := tb.Lookup(k, 15*time.Second); !ok || e.Backend != 101 {
		t.Fatalf("lookup at exactly the timeout: %+v, %v; want live entry", e, ok)
	}
	if _, ok := tb.Lookup(k, 15*time.Second+1); ok {
		t.Fatal("entry older than the timeout hit")
	}
	if tb.Len() != 0 {
		t.Errorf("expired entry not removed: Len %d", tb.Len())
	}
	// A clock behind Created is not an expiry.
	tb.Insert(k, Entry{Backend: 102, Created: time.Minute})
	if _, ok := tb.Lookup(k, 0); !ok {
		t.Error("entry created in the lookup's future missed")
	}
	want := TableStats{Hits: 2, Misses: 1, Inserts: 2, Expiries: 1}
	if got := tb.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestTableLRUAndCounters(t *testing.T) {
	tb := newTestTable(t, Options{Capacity: 3})
	key := func(id uint16) Key { return MakeKey(srcA, dstV, 17, id) }
	for id := range uint16(3) {
		if tb.Insert(key(id), Entry{Backend: 100 + uint32(id)}) {
			t.Fatal("eviction in a table with room")
		}
	}
	tb.Lookup(key(0), 0) // 0 becomes most recent: 1 is oldest
	if !tb.Insert(key(3), Entry{Backend: 103}) {
		t.Fatal("no eviction in a full table")
	}
	if _, ok := tb.Lookup(key(1), 0); ok {
		t.Error("least recently used entry 1 survived")
	}
	// Overwrite: an update, no eviction; the entry takes the new value.
	if tb.Insert(key(0), Entry{Backend: 200, SrcPort: 1, DstPort: 2, HasPorts: true}) {
		t.Error("update of a present key evicted")
	}
	if e, _ := tb.Lookup(key(0), 0); e.Backend != 200 || !e.HasPorts || e.SrcPort != 1 {
		t.Errorf("updated entry %+v", e)
	}
	var ids []uint16
	for k := range tb.All() {
		ids = append(ids, k.ID())
	}
	if want := []uint16{0, 3, 2}; !slices.Equal(ids, want) {
		t.Errorf("recency order %v, want %v", ids, want)
	}
	want := TableStats{Hits: 2, Misses: 1, Inserts: 4, Updates: 1, Evictions: 1}
	if got := tb.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if !tb.Delete(key(3)) || tb.Len() != 2 || tb.Cap() != 3 {
		t.Errorf("after Delete: Len %d Cap %d", tb.Len(), tb.Cap())
	}
	tb.Clear()
	if tb.Len() != 0 || tb.Stats() != (TableStats{}) {
		t.Error("Clear left entries or counters")
	}
}

func TestTableNoAlloc(t *testing.T) {
	tb := newTestTable(t, Options{Capacity: 256, Timeout: 200 * time.Microsecond})
	var id uint16
	now := time.Duration(0)
	allocs := testing.AllocsPerRun(10000, func() {
		id++
		now += time.Microsecond
		k := MakeKey(srcA, dstV, 17, id)
		if _, ok := tb.Lookup(k, now); !ok {
			tb.Insert(k, Entry{Backend: 101, Created: now})
		}
		if id%2 == 0 {
			tb.Lookup(MakeKey(srcA, dstV, 17, id-230), now) // expired, still present
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup/Insert allocate %v per run", allocs)
	}
	s := tb.Stats()
	if s.Evictions == 0 || s.Expiries == 0 {
		t.Errorf("churn should have evicted and expired: %+v", s)
	}
}

// refTable is the reference model of a Table: a reference LRU plus the
// expiry rule.
type refTable struct {
	lru     *refLRU[Key, Entry]
	timeout time.Duration
	stats   TableStats
}

func (r *refTable) lookup(k Key, now time.Duration) (Entry, bool) {
	e, ok := r.lru.vals[k]
	switch {
	case !ok:
		r.stats.Misses++
		return Entry{}, false
	case now-e.Created > r.timeout:
		r.lru.delete(k)
		r.stats.Misses++
		r.stats.Expiries++
		return Entry{}, false
	}
	r.lru.promote(k)
	r.stats.Hits++
	return e, true
}

func (r *refTable) insert(k Key, e Entry) bool {
	_, present := r.lru.vals[k]
	ev := r.lru.put(k, e)
	switch {
	case present:
		r.stats.Updates++
	case ev:
		r.stats.Inserts++
		r.stats.Evictions++
	default:
		r.stats.Inserts++
	}
	return ev
}

// FuzzTable runs a random sequence of operations on a Table and on the
// reference model and checks that they agree at every step and that the
// bound holds. Each 3-byte group of ops is one operation: kind, key, time
// step.
func FuzzTable(f *testing.F) {
	f.Add(uint8(4), uint8(10), []byte{0, 1, 1, 0, 2, 1, 1, 1, 50, 0, 3, 0, 2, 1, 1})
	f.Add(uint8(1), uint8(1), []byte{0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 2, 3, 0, 0})
	f.Add(uint8(16), uint8(255), []byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 255, 128, 64, 32})
	f.Fuzz(func(t *testing.T, capacity, timeout uint8, ops []byte) {
		c := int(capacity)%32 + 1
		to := time.Duration(timeout) + 1
		tb := newTestTable(t, Options{Capacity: c, Timeout: to})
		ref := &refTable{lru: newRefLRU[Key, Entry](c), timeout: to}
		now := time.Duration(0)
		for i := 0; i+3 <= len(ops); i += 3 {
			kind, kb, step := ops[i], ops[i+1], ops[i+2]
			now += time.Duration(step % 16)
			k := KeyFrom4([4]byte{10, 0, 0, kb % 4}, [4]byte{192, 0, 2, 10}, 17, uint16(kb/4))
			switch kind % 4 {
			case 0, 1:
				ge, gok := tb.Lookup(k, now)
				we, wok := ref.lookup(k, now)
				if ge != we || gok != wok {
					t.Fatalf("op %d: Lookup(%v, %v) = %+v, %v; want %+v, %v", i/3, k, now, ge, gok, we, wok)
				}
			case 2:
				e := Entry{Backend: uint32(kb), HasPorts: step&1 == 1, SrcPort: uint16(step), Created: now}
				if got, want := tb.Insert(k, e), ref.insert(k, e); got != want {
					t.Fatalf("op %d: Insert(%v) evicted %v, want %v", i/3, k, got, want)
				}
			case 3:
				if got, want := tb.Delete(k), ref.lru.delete(k); got != want {
					t.Fatalf("op %d: Delete(%v) = %v, want %v", i/3, k, got, want)
				}
			}
			if tb.Len() > tb.Cap() || tb.Len() != len(ref.lru.keys) {
				t.Fatalf("op %d: Len %d, reference %d, Cap %d", i/3, tb.Len(), len(ref.lru.keys), tb.Cap())
			}
		}
		var keys []Key
		for k := range tb.All() {
			keys = append(keys, k)
		}
		if !slices.Equal(keys, ref.lru.keys) {
			t.Fatalf("recency order\n got %v\nwant %v", keys, ref.lru.keys)
		}
		// Stats differ from the reference only by deletes, which Table
		// does not count in TableStats.
		if got := tb.Stats(); got != ref.stats {
			t.Fatalf("Stats = %+v, want %+v", got, ref.stats)
		}
	})
}

// BenchmarkTable measures a lookup that hits and an insert that evicts, on
// a table of the default capacity; BenchmarkTableBaseline does the same
// with a Go map (unbounded, no recency, no timeout) in the same run.
func BenchmarkTable(b *testing.B) {
	tb := newTestTable(b, Options{})
	keys := make([]Key, DefaultCapacity)
	for i := range keys {
		keys[i] = KeyFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}, [4]byte{192, 0, 2, 10}, 17, uint16(i))
		tb.Insert(keys[i], Entry{Backend: 101})
	}
	b.Run("lookup-hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := tb.Lookup(keys[i%len(keys)], 0); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("insert-evict", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tb.Insert(KeyFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}, [4]byte{192, 0, 2, 10}, 17, uint16(i>>16)), Entry{Backend: 102})
			i++
		}
	})
}

func BenchmarkTableBaseline(b *testing.B) {
	m := make(map[Key]Entry, DefaultCapacity)
	keys := make([]Key, DefaultCapacity)
	for i := range keys {
		keys[i] = KeyFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}, [4]byte{192, 0, 2, 10}, 17, uint16(i))
		m[keys[i]] = Entry{Backend: 101}
	}
	b.Run("gomap-lookup-hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := m[keys[i%len(keys)]]; !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
}
