package frag

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func newTestSetTable(t testing.TB, opts SetOptions) *SetTable {
	t.Helper()
	st, err := NewSetTable(opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sameSet returns n distinct keys that st puts into the set of keys[0].
func sameSet(st *SetTable, n int) []Key {
	var ks []Key
	want := -1
	for id := 0; len(ks) < n && id < 1<<16; id++ {
		k := KeyFrom4([4]byte{10, 0, 0, 1}, [4]byte{192, 0, 2, 10}, 17, uint16(id))
		if want < 0 {
			want = st.SetOf(k)
		}
		if st.SetOf(k) == want {
			ks = append(ks, k)
		}
	}
	return ks
}

func TestNewSetTableOptions(t *testing.T) {
	st := newTestSetTable(t, SetOptions{})
	if st.Cap() != DefaultCapacity || st.Sets() != DefaultCapacity/Ways || st.Timeout() != DefaultTimeout {
		t.Errorf("zero options: Cap %d, Sets %d, Timeout %v", st.Cap(), st.Sets(), st.Timeout())
	}
	for capacity, sets := range map[int]int{1: 1, 4: 1, 5: 2, 10: 3, 4096: 1024} {
		st := newTestSetTable(t, SetOptions{Capacity: capacity})
		if st.Sets() != sets || st.Cap() != sets*Ways || SetCount(capacity) != sets {
			t.Errorf("capacity %d: %d sets, cap %d; want %d sets", capacity, st.Sets(), st.Cap(), sets)
		}
	}
	for _, tc := range []struct {
		opts SetOptions
		err  error
		msg  string
	}{
		{SetOptions{Capacity: -1}, ErrCapacity, "frag: options.Capacity -1: "},
		{SetOptions{Capacity: MaxCapacity + 1}, ErrCapacity, fmt.Sprintf("frag: options.Capacity %d: ", MaxCapacity+1)},
		{SetOptions{Timeout: -time.Second}, ErrTimeout, "frag: options.Timeout -1s: "},
	} {
		_, err := NewSetTable(tc.opts)
		if !errors.Is(err, tc.err) || err.Error() != tc.msg+tc.err.Error() {
			t.Errorf("%+v: error %v, want %q + %v", tc.opts, err, tc.msg, tc.err)
		}
	}
}

func TestSetTableLookupInsert(t *testing.T) {
	st := newTestSetTable(t, SetOptions{Capacity: 64, Timeout: time.Second})
	k := MakeKey(srcA, dstV, 17, 7)
	if _, ok := st.Lookup(k, 0); ok {
		t.Fatal("hit in an empty table")
	}
	e := Entry{Backend: 3, SrcPort: 1000, DstPort: 53, HasPorts: true, Created: 5}
	if st.Insert(k, e, 5) {
		t.Error("insert into an empty table evicted")
	}
	if got, ok := st.Lookup(k, 10); !ok || got != e {
		t.Errorf("Lookup = %+v %v, want %+v", got, ok, e)
	}
	e2 := e
	e2.Backend = 4
	st.Insert(k, e2, 20)
	if got, _ := st.Lookup(k, 20); got != e2 || st.Len() != 1 {
		t.Errorf("after update: %+v, Len %d", got, st.Len())
	}
	// Expired: now - Created > Timeout misses, and stays until reused.
	if _, ok := st.Lookup(k, 5+time.Second); !ok {
		t.Error("entry exactly Timeout old missed")
	}
	if _, ok := st.Lookup(k, 6+time.Second); ok {
		t.Error("expired entry hit")
	}
	want := TableStats{Hits: 3, Misses: 2, Inserts: 1, Updates: 1, Expiries: 1}
	if s := st.Stats(); s != want || st.Len() != 1 {
		t.Errorf("Stats %+v Len %d, want %+v Len 1", s, st.Len(), want)
	}
	n := 0
	for key, v := range st.All() {
		n++
		if key != k || v != e2 {
			t.Errorf("All yields %v %+v", key, v)
		}
	}
	if n != 1 {
		t.Errorf("All yields %d entries, want 1", n)
	}
	st.Clear()
	if st.Len() != 0 || st.Stats() != (TableStats{}) {
		t.Errorf("after Clear: Len %d, Stats %+v", st.Len(), st.Stats())
	}
	if _, ok := st.Lookup(k, 10); ok {
		t.Error("hit after Clear")
	}
}

// TestSetTableEviction fills one set and checks which way each insert
// takes: a key's own way, else the ways in turn (first in, first out),
// counting an eviction only when the way's entry is live.
func TestSetTableEviction(t *testing.T) {
	st := newTestSetTable(t, SetOptions{Capacity: 4 * Ways, Timeout: 100})
	ks := sameSet(st, Ways+3)
	if len(ks) != Ways+3 {
		t.Fatalf("found %d keys of one set", len(ks))
	}
	for i := range Ways {
		if st.Insert(ks[i], Entry{Backend: uint32(i), Created: time.Duration(i)}, time.Duration(i)) {
			t.Fatalf("insert %d evicted with room in the set", i)
		}
	}
	// Rewrite ks[0] in its way: an update, which keeps its turn.
	if st.Insert(ks[0], Entry{Backend: 10, Created: 0}, 4) {
		t.Fatal("an update evicted")
	}
	if e, ok := st.Lookup(ks[0], 4); !ok || e.Backend != 10 {
		t.Fatalf("ks[0] after its update: %+v %v", e, ok)
	}
	// The set is full: the next new key takes ks[0]'s way, the first in.
	if !st.Insert(ks[Ways], Entry{Backend: 20, Created: 5}, 5) {
		t.Fatal("insert into a full set did not evict")
	}
	if _, ok := st.Lookup(ks[0], 5); ok {
		t.Error("ks[0], first in, survived")
	}
	for _, i := range []int{1, 2, 3, Ways} {
		if _, ok := st.Lookup(ks[i], 5); !ok {
			t.Errorf("ks[%d] evicted", i)
		}
	}
	// At time 102, ks[1] (created 1) is expired and next in turn: the
	// insert reuses its way without counting an eviction.
	if st.Insert(ks[Ways+1], Entry{Backend: 30, Created: 102}, 102) {
		t.Error("insert counted an eviction of an expired entry")
	}
	if _, ok := st.Lookup(ks[1], 102); ok {
		t.Error("ks[1]'s expired way not reused")
	}
	// ks[2] (created 2) is live at 102 and next in turn: evicted.
	if !st.Insert(ks[Ways+2], Entry{Backend: 40, Created: 102}, 102) {
		t.Error("insert over live ks[2] did not count an eviction")
	}
	for _, i := range []int{3, Ways, Ways + 1, Ways + 2} {
		if _, ok := st.Lookup(ks[i], 102); !ok {
			t.Errorf("ks[%d] missing at 102", i)
		}
	}
	if s := st.Stats(); s.Evictions != 2 || s.Inserts != Ways+3 || s.Updates != 1 || st.Len() != Ways {
		t.Errorf("Stats %+v, Len %d", s, st.Len())
	}
	// The bound: many keys never hold more than Cap entries.
	for id := range 10_000 {
		st.Insert(KeyFrom4([4]byte{10, 1, byte(id >> 8), byte(id)}, [4]byte{192, 0, 2, 10}, 6, uint16(id)), Entry{Created: 200}, 200)
		if st.Len() > st.Cap() {
			t.Fatalf("Len %d > Cap %d", st.Len(), st.Cap())
		}
	}
	if st.Len() != st.Cap() {
		t.Errorf("after 10,000 keys Len %d, want Cap %d", st.Len(), st.Cap())
	}
}

func TestSetTableSpread(t *testing.T) {
	st := newTestSetTable(t, SetOptions{Capacity: 4096})
	count := make([]int, st.Sets())
	for id := range 1 << 16 {
		count[st.SetOf(MakeKey(srcA, dstV, 17, uint16(id)))]++
	}
	want := (1 << 16) / st.Sets()
	for i, n := range count {
		if n < want/2 || n > want*2 {
			t.Fatalf("set %d holds %d of 65,536 IP IDs of one host pair, want about %d", i, n, want)
		}
	}
	other := newTestSetTable(t, SetOptions{Capacity: 4096, Seed: 1})
	same := 0
	for id := range 1000 {
		k := MakeKey(srcA, dstV, 17, uint16(id))
		if st.SetOf(k) == other.SetOf(k) {
			same++
		}
	}
	if same > 10 {
		t.Errorf("seeds 0 and 1 put %d of 1,000 keys in the same set", same)
	}
}

func TestSetTableNoAllocs(t *testing.T) {
	st := newTestSetTable(t, SetOptions{Capacity: 1024})
	i := 0
	n := testing.AllocsPerRun(1000, func() {
		k := KeyFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}, [4]byte{192, 0, 2, 1}, 17, uint16(i))
		k6 := KeyFrom16([16]byte{0x20, 1, 13: byte(i >> 8), 14: byte(i)}, [16]byte{0x20, 1, 15: 1}, 17, uint32(i)<<16)
		st.Insert(k, Entry{Backend: 1, Created: time.Duration(i)}, time.Duration(i))
		st.Insert(k6, Entry{Backend: 1, Created: time.Duration(i)}, time.Duration(i))
		st.Lookup(k, time.Duration(i))
		st.Lookup(k6, time.Duration(i))
		i++
	})
	if n != 0 {
		t.Errorf("Insert and Lookup allocate %v times", n)
	}
}

// TestSetTableIPv6 holds IPv4 and IPv6 keys in one table: an IPv6 key
// whose bytes are an IPv4 key's, or whose ID differs only above 16 bits,
// is another datagram.
func TestSetTableIPv6(t *testing.T) {
	st := newTestSetTable(t, SetOptions{Capacity: 64})
	k4 := KeyFrom4([4]byte{10, 0, 0, 1}, [4]byte{192, 0, 2, 10}, 17, 9)
	k6 := KeyFrom16([16]byte{10, 0, 0, 1}, [16]byte{192, 0, 2, 10}, 17, 9)
	k6hi := KeyFrom16([16]byte{10, 0, 0, 1}, [16]byte{192, 0, 2, 10}, 17, 9|1<<16)
	st.Insert(k4, Entry{Backend: 4}, 0)
	st.Insert(k6, Entry{Backend: 6}, 0)
	for k, want := range map[Key]uint32{k4: 4, k6: 6} {
		if e, ok := st.Lookup(k, 0); !ok || e.Backend != want {
			t.Errorf("Lookup(%v) = %+v, %v; want backend %d", k, e, ok, want)
		}
	}
	if _, ok := st.Lookup(k6hi, 0); ok {
		t.Error("an IPv6 ID differing above 16 bits found another datagram's entry")
	}
	if st.Len() != 2 {
		t.Errorf("Len %d, want 2", st.Len())
	}
	n := 0
	for k := range st.All() {
		if k.Is6() {
			n++
		}
	}
	if n != 1 {
		t.Errorf("All yields %d IPv6 keys, want 1", n)
	}
}

// refSetTable is the reference model of a SetTable for the fuzz target:
// per set a slice of Ways records, stamped with a global insert count; a
// new key replaces the set's oldest stamp (an empty way's is 0, the lowest
// way first among equals), so first in, first out is checked against a
// rule that keeps no cursor.
type refSetTable struct {
	sets    [2][][]refWay // by family: IPv4, IPv6
	timeout time.Duration
	clock   uint64
	seed    uint32
}

type refWay struct {
	key   Key
	e     Entry
	stamp uint64 // 0: empty
}

func (r *refSetTable) set(k Key) []refWay {
	f := 0
	if k.Is6() {
		f = 1
	}
	return r.sets[f][SetHash(k, r.seed)%uint32(len(r.sets[f]))]
}

func (r *refSetTable) lookup(k Key, now time.Duration) (Entry, bool) {
	for _, w := range r.set(k) {
		if w.stamp != 0 && w.key == k && now-w.e.Created <= r.timeout {
			return w.e, true
		}
	}
	return Entry{}, false
}

func (r *refSetTable) insert(k Key, e Entry, now time.Duration) bool {
	s := r.set(k)
	for i, w := range s {
		if w.stamp != 0 && w.key == k {
			s[i].e = e
			return false
		}
	}
	pick := 0
	for i, w := range s {
		if w.stamp < s[pick].stamp {
			pick = i
		}
	}
	evict := s[pick].stamp != 0 && now-s[pick].e.Created <= r.timeout
	r.clock++
	s[pick] = refWay{key: k, e: e, stamp: r.clock}
	return evict
}

// FuzzSetTable drives a SetTable and the reference model with the same
// operations (few host pairs and IP IDs, IPv4 and IPv6 keys, so sets
// collide, fill and evict; a clock that jumps past the timeout) and
// compares every result.
func FuzzSetTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})
	f.Add([]byte{255, 254, 0, 0, 0, 0, 128, 1, 1, 1, 129, 2, 3, 4, 200, 9, 9, 9, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		const timeout = 50
		st, err := NewSetTable(SetOptions{Capacity: 3 * Ways, Timeout: timeout, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		ref := &refSetTable{timeout: timeout, seed: 7}
		for f := range ref.sets {
			ref.sets[f] = make([][]refWay, st.Sets())
			for i := range ref.sets[f] {
				ref.sets[f][i] = make([]refWay, Ways)
			}
		}
		var now time.Duration
		for len(in) >= 2 {
			op, arg := in[0], in[1]
			in = in[2:]
			k := KeyFrom4([4]byte{10, 0, 0, arg & 3}, [4]byte{192, 0, 2, 10}, 17, uint16(arg>>2&31))
			if arg&0x80 != 0 { // the same bytes as an IPv6 key, the ID's high bits set
				k = KeyFrom16([16]byte{10, 0, 0, arg & 3}, [16]byte{192, 0, 2, 10}, 17, uint32(arg>>2&31)|uint32(arg>>6&1)<<16)
			}
			switch op % 3 {
			case 0:
				now += time.Duration(op / 3)
			case 1:
				ge, gok := st.Lookup(k, now)
				re, rok := ref.lookup(k, now)
				if ge != re || gok != rok {
					t.Fatalf("lookup %v at %v: SetTable %+v %v, reference %+v %v", k, now, ge, gok, re, rok)
				}
			case 2:
				e := Entry{Backend: uint32(op), Created: now, HasPorts: op&8 != 0}
				if g, r := st.Insert(k, e, now), ref.insert(k, e, now); g != r {
					t.Fatalf("insert %v at %v: SetTable evicted %v, reference %v", k, now, g, r)
				}
			}
			n := 0
			for _, f := range ref.sets {
				for _, s := range f {
					for _, w := range s {
						if w.stamp != 0 {
							n++
						}
					}
				}
			}
			if st.Len() != n || st.Len() > 2*st.Cap() {
				t.Fatalf("Len %d, reference %d, Cap %d", st.Len(), n, st.Cap())
			}
		}
	})
}

func ExampleSetTable() {
	st, err := NewSetTable(SetOptions{Capacity: 16384})
	if err != nil {
		fmt.Println(err)
		return
	}
	k := MakeKey(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.10"), 17, 42)
	st.Insert(k, Entry{Backend: 2, SrcPort: 5000, DstPort: 53, HasPorts: true}, 0)
	e, ok := st.Lookup(k, time.Second)
	fmt.Println(st.Sets(), "sets of", Ways, "ways;", e.Backend, ok, st.Len())
	// Output: 4096 sets of 4 ways; 2 true 1
}

// BenchmarkSetTable looks up and inserts keys of 4096 datagrams from 256
// host pairs (one op: a lookup and an insert), into a table of 16384
// entries: IPv4 keys and IPv6 keys.
func BenchmarkSetTable(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		name := "ipv4"
		if v6 {
			name = "ipv6"
		}
		b.Run(name, func(b *testing.B) {
			st := newTestSetTable(b, SetOptions{Seed: 7})
			keys := make([]Key, 4096)
			for i := range keys {
				keys[i] = KeyFrom4([4]byte{10, 0, 0, byte(i)}, [4]byte{192, 0, 2, 10}, 17, uint16(i>>8))
				if v6 {
					keys[i] = KeyFrom16([16]byte{0x20, 1, 0x0d, 0xb8, 15: byte(i)}, [16]byte{0x20, 1, 0x0d, 0xb8, 15: 10}, 17, uint32(i>>8))
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := keys[i%len(keys)]
				now := time.Duration(i)
				if _, ok := st.Lookup(k, now); !ok {
					st.Insert(k, Entry{Backend: 1, Created: now}, now)
				}
				i++
			}
		})
	}
}
