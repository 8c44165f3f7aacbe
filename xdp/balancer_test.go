package xdp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
)

func TestBalancerDecisions(t *testing.T) {
	p := mustLoad(t, Options{Config: titan.Config{VIPs: []netip.Addr{testVIP}}})
	lb := NewBalancer(p)
	if lb.Name() != "titan-xdp" {
		t.Errorf("name %q", lb.Name())
	}
	env := &balancer.Env{}
	pk := tcpPacket(1000)
	pk.Len = 200
	if d := lb.Process(env, &pk); d.Action != balancer.Drop || d.Reason != balancer.ReasonNoBackend {
		t.Errorf("no backends: %+v", d)
	}
	if err := lb.SetBackends(testutil.Backends(2)); err != nil {
		t.Fatal(err)
	}
	d := lb.Process(env, &pk)
	if d.Action != balancer.Forward || (d.Backend != 101 && d.Backend != 102) || d.Reason != "" {
		t.Errorf("forward: %+v", d)
	}
	other := pk
	other.Dst = testClient
	if d := lb.Process(env, &other); d.Action != balancer.Pass {
		t.Errorf("not a VIP: %+v", d)
	}
	first := pk
	first.IPID, first.MoreFragments = 77, true
	if d := lb.Process(env, &first); d.Action != balancer.Forward {
		t.Fatalf("first fragment: %+v", d)
	}
	first.SrcPort++
	if d := lb.Process(env, &first); d.Action != balancer.Drop || d.Reason != titan.ReasonConflictingFirstFragment {
		t.Errorf("conflicting first fragment: %+v", d)
	}
	empty := pk
	empty.IPID, empty.FragOffset, empty.Len = 78, 10, 20
	if d := lb.Process(env, &empty); d.Action != balancer.Drop || d.Reason != balancer.ReasonMalformed {
		t.Errorf("empty fragment: %+v", d)
	}
	if err := lb.(*Balancer).Err(); err != nil {
		t.Error(err)
	}
}

func TestBalancerProcessDoesNotAllocate(t *testing.T) {
	p := mustLoad(t, Options{})
	lb := NewBalancer(p)
	if err := lb.SetBackends(testutil.Backends(3)); err != nil {
		t.Fatal(err)
	}
	env := &balancer.Env{}
	pk := tcpPacket(1000)
	pk.Len = 200
	if n := testing.AllocsPerRun(200, func() { lb.Process(env, &pk) }); n != 0 {
		t.Errorf("Process allocates %v times per packet", n)
	}
	env.Meter = cost.NewMeter(cost.Default())
	if n := testing.AllocsPerRun(200, func() { lb.Process(env, &pk) }); n != 0 {
		t.Errorf("metered, Process allocates %v times per packet", n)
	}
	// An established TCP packet: stats, connection, backend reads, a
	// hash, an encapsulation: 110 STU, as titan charges.
	env.Meter.Reset()
	lb.Process(env, &pk)
	if env.Meter.Total() != 110 || env.Meter.Count(cost.OpArrayRead) != 3 {
		t.Errorf("metered established packet: %d STU, %d array reads", env.Meter.Total(), env.Meter.Count(cost.OpArrayRead))
	}
}

// TestStatsMirrorsCounters checks that Stats has the C struct's fields in
// the same order (Program.Stats copies them by position).
func TestStatsMirrorsCounters(t *testing.T) {
	s, c := reflect.TypeFor[Stats](), reflect.TypeFor[titanCounters]()
	if s.NumField() != c.NumField()-1 {
		t.Fatalf("Stats has %d fields, the C counters %d", s.NumField(), c.NumField()-1)
	}
	for i := range s.NumField() {
		if got, want := strings.ToLower(s.Field(i).Name), strings.ToLower(c.Field(i+1).Name); got != want {
			t.Errorf("field %d: Stats.%s, C %s", i, s.Field(i).Name, c.Field(i+1).Name)
		}
	}
}

// TestStatsOps checks that Stats.Ops maps every Op* counter, and only
// those, to the cost.Op of its name (OpMapRead to map_read, ...).
func TestStatsOps(t *testing.T) {
	var s Stats
	v, ty := reflect.ValueOf(&s).Elem(), reflect.TypeFor[Stats]()
	want := map[string]uint64{}
	for i := range ty.NumField() {
		name := ty.Field(i).Name
		v.Field(i).SetUint(uint64(100 + i))
		if op, ok := strings.CutPrefix(name, "Op"); ok {
			var snake strings.Builder
			for j, r := range op {
				if j > 0 && unicode.IsUpper(r) {
					snake.WriteByte('_')
				}
				snake.WriteRune(unicode.ToLower(r))
			}
			want[snake.String()] = uint64(100 + i)
		}
	}
	got := s.Ops()
	for op := range cost.NumOps {
		if got[op] != want[op.String()] {
			t.Errorf("Ops()[%v] = %d, want %d (the Op* field of that name, or 0)", op, got[op], want[op.String()])
		}
		delete(want, op.String())
	}
	if len(want) != 0 {
		t.Errorf("Op* counters with no cost.Op: %v", want)
	}
}

// TestPercpuReaderMatchesStats checks the raw per-CPU read against
// Program.Stats (ebpf.Map.Lookup) after traffic of every kind.
func TestPercpuReaderMatchesStats(t *testing.T) {
	p := mustLoad(t, Options{})
	if err := p.SetBackends(testutil.Backends(3)); err != nil {
		t.Fatal(err)
	}
	for _, s := range genTrace(traceConfig{seed: 9, packets: 500, fragShare: 0.5, reorder: 0.3, conflict: 0.05}) {
		if s.backends == nil {
			if _, err := p.Run(balancer.Encode(s.pkt, max(int(s.pkt.Len)-40, 0))); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := newPercpuReader(p.objs.Stats)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.read()
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got.Ops() != want.Ops() || got.Drops() != want.Drops() || got.DropFragConflict != want.DropFragConflict {
		t.Errorf("raw read %+v, Stats %+v", got, want)
	}
	if want.OpArrayRead == 0 || want.OpEncap == 0 || want.OpHash == 0 {
		t.Errorf("no operations counted: %+v", want)
	}
}
