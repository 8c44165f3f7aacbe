package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/cilium"
	"github.com/titanlb/titanlb/balancer/katran"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/sim"
)

// attackScenario is the legitimate traffic every attack runs against: 3
// backends (101-103) and a fourth (104) that joins at 100 ms, 2000 flows
// (half UDP) sending 50,000 datagrams/s for 200 ms, 20% of them 9000-byte
// datagrams sent as 7 fragments 1 ms apart (clients on 10 Mbit/s links), a
// quarter of those reordered: about 110,000 legitimate packets/s.
func attackScenario() sim.Scenario {
	sc := faultScenario(200 * time.Millisecond)
	sc.Backends = append(sc.Backends, balancer.Backend{ID: 104, Name: "104", Addr: netip.AddrFrom4([4]byte{10, 1, 0, 4}), Weight: 1})
	sc.Events = []sim.Event{sim.BackendUp(100*time.Millisecond, 104)}
	sc.Traffic.Rate = 50_000
	sc.Traffic.FragmentRate = 0.2
	sc.Traffic.LargeSize = 9000
	sc.Traffic.FragmentGap = time.Millisecond
	return sc
}

// legitPPS is attackScenario's legitimate packet rate: 80% of datagrams
// are one packet, 20% are 7 fragments.
const legitPPS = 50_000 * (0.8 + 0.2*7)

// attacks are the attacks, each at 10 times the legitimate packet
// rate.
var attacks = []sim.Attack{
	{Kind: sim.AttackOrphanFlood, Rate: 10 * legitPPS},
	{Kind: sim.AttackTinyFragments, Rate: 10 * legitPPS},
	{Kind: sim.AttackOverlap, Rate: 10 * legitPPS},
	{Kind: sim.AttackTeardrop, Rate: 10 * legitPPS},
	{Kind: sim.AttackSYNFlood, Rate: 10 * legitPPS},
}

// attackRow is one line of the attack table: a design under an attack
// (or none), with what the legitimate traffic got and what the balancer's
// tables held at the end.
type attackRow struct {
	design, attack string
	res            sim.Result
	entries        int    // table entries held at the end, all tables
	evictions      uint64 // entries evicted, all tables
	note           string // design-specific detail
}

// probe builds a design's balancer and, after the run, reads its tables.
type probe struct {
	name string
	mk   func() (balancer.Balancer, func() (int, uint64, string), error)
}

func probes() []probe {
	return []probe{
		titanProbe("titan", titan.Config{}),
		titanProbe("titan-all", titan.Config{OrphanAdmission: titan.AdmitAll}),
		{"katran", func() (balancer.Balancer, func() (int, uint64, string), error) {
			b, err := katran.New(katran.Config{})
			return b, func() (int, uint64, string) {
				s := b.Stats()
				return b.LRULen(), s.LRUEvictions, fmt.Sprintf("lru %d; evicted %d; flood-limited %d", b.LRULen(), s.LRUEvictions, s.UnderFlood)
			}, err
		}},
		{"cilium", func() (balancer.Balancer, func() (int, uint64, string), error) {
			b, err := cilium.New(cilium.Config{})
			return b, func() (int, uint64, string) {
				s := b.Stats()
				return b.CTMapLen() + b.FragMapLen(), s.Evictions, fmt.Sprintf("ct %d frag %d; evicted %d", b.CTMapLen(), b.FragMapLen(), s.Evictions)
			}, err
		}},
	}
}

func titanProbe(name string, cfg titan.Config) probe {
	return probe{name, func() (balancer.Balancer, func() (int, uint64, string), error) {
		b, err := titan.New(cfg)
		return b, func() (int, uint64, string) {
			s := b.Stats()
			return s.Len.Conn + s.Len.Frag + s.Len.Hint, s.Conn.Evictions + s.Frag.Evictions + s.Hint.Evictions,
				fmt.Sprintf("conn %d frag %d hint %d; evicted conn %d frag %d hint %d; orphans %d refused %d credit %d",
					s.Len.Conn, s.Len.Frag, s.Len.Hint, s.Conn.Evictions, s.Frag.Evictions, s.Hint.Evictions, s.Orphans, s.UnknownOrphans, s.Credit)
		}, err
	}}
}

// runAttack runs sc with p's balancer and returns the row.
func runAttack(t *testing.T, sc sim.Scenario, p probe) attackRow {
	t.Helper()
	var read func() (int, uint64, string)
	res := simRun(t, sc, func() (balancer.Balancer, error) {
		b, r, err := p.mk()
		read = r
		return b, err
	})
	row := attackRow{design: p.name, attack: "none", res: res}
	if len(sc.Attacks) > 0 {
		row.attack = sc.Attacks[0].Kind.String()
	}
	row.entries, row.evictions, row.note = read()
	// The attack's own accounting: every attack packet is delivered or
	// dropped for a reason.
	var dropped uint64
	for _, n := range res.Attack.Drops {
		dropped += n
	}
	if res.Attack.Delivered+dropped != res.Attack.Packets {
		t.Errorf("%s under %s: attack delivered %d + dropped %d != sent %d", p.name, row.attack, res.Attack.Delivered, dropped, res.Attack.Packets)
	}
	return row
}

// attackTable formats rows as the table in docs/simulation.md.
func attackTable(rows []attackRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-15s %-9s %11s %8s %9s %8s %9s %10s %9s\n", "attack", "design", "reliability", "affinity", "disrupted", "entries", "evictions", "atk-deliv", "reasm-bad")
	for _, r := range rows {
		var bad uint64
		for why, n := range r.res.Drops {
			if strings.HasPrefix(why, "reassembly: ") {
				bad += n
			}
		}
		fmt.Fprintf(&b, "%-15s %-9s %11.4f %8.4f %9d %8d %9d %10d %9d\n", r.attack, r.design, r.res.Reliability, r.res.Affinity, r.res.Disrupted, r.entries, r.evictions, r.res.Attack.Delivered, bad)
	}
	return b.String()
}

// TestAttacks runs every attack against every design and checks what
// docs/simulation.md claims about each; -v prints the table.
func TestAttacks(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation: skipped in -short mode")
	}
	var rows []attackRow
	get := map[string]attackRow{}
	for _, a := range append([]sim.Attack{{}}, attacks...) {
		sc := attackScenario()
		if a.Kind != 0 {
			sc.Attacks = []sim.Attack{a}
		}
		for _, p := range probes() {
			r := runAttack(t, sc, p)
			rows = append(rows, r)
			get[r.attack+"/"+r.design] = r
			t.Logf("%s under %s: %s; legit drops %v; attack %+v", r.design, r.attack, r.note, r.res.Drops, r.res.Attack)
		}
	}
	t.Logf("\n%s", attackTable(rows))

	caps := map[string]int{"titan": titan.DefaultConnTableSize + titan.DefaultFragTableSize + titan.DefaultHintTableSize}
	for _, r := range rows {
		if c, ok := caps[r.design]; ok && r.entries > c {
			t.Errorf("%s under %s holds %d entries, bound %d", r.design, r.attack, r.entries, c)
		}
	}
	// The target: under the orphan flood Titan keeps legitimate
	// Reliability of at least 0.99 with its default, bounded tables; the
	// admission policy is what does it (AdmitAll falls well below).
	if r := get["orphan-flood/titan"]; r.res.Reliability < 0.99 {
		t.Errorf("titan under the orphan flood: reliability %.4f, want at least 0.99", r.res.Reliability)
	}
	if all, earned := get["orphan-flood/titan-all"], get["orphan-flood/titan"]; all.res.Reliability > earned.res.Reliability-0.05 ||
		all.res.Attack.Delivered < 10*earned.res.Attack.Delivered {
		t.Errorf("AdmitAll under the orphan flood: reliability %.4f, %d orphans delivered; AdmitEarned %.4f, %d",
			all.res.Reliability, all.res.Attack.Delivered, earned.res.Reliability, earned.res.Attack.Delivered)
	}
	// Tiny fragments are valid datagrams: backends reassemble them (the
	// defence against RFC 1858 is a filter's, not a balancer's).
	if n := get["tiny-fragments/titan"].res.Attack.Reassembled; n == 0 {
		t.Error("no tiny-fragment datagram reassembled behind titan")
	}
	// Overlapping fragments are never reassembled, whoever forwards them.
	for _, k := range []string{"overlap", "teardrop"} {
		for _, d := range []string{"titan", "katran", "cilium"} {
			if n := get[k+"/"+d].res.Attack.Reassembled; n != 0 {
				t.Errorf("%s/%s: %d overlapping attack datagrams reassembled", k, d, n)
			}
		}
	}
	// Katran drops every fragment, so no fragment attack gets through.
	for _, k := range []string{"orphan-flood", "tiny-fragments", "overlap", "teardrop"} {
		if n := get[k+"/katran"].res.Attack.Delivered; n != 0 {
			t.Errorf("katran delivered %d packets of the %s attack", n, k)
		}
	}
	// Cilium drops orphans at the balancer: none reaches a backend.
	if n := get["orphan-flood/cilium"].res.Attack.Delivered; n != 0 {
		t.Errorf("cilium delivered %d orphan-flood packets", n)
	}
	// A SYN flood makes a table that keeps flows through a ring change
	// forget some: with no attack Titan disrupts no flow when 104 joins;
	// under the flood its connection table churns, and a flow whose entry
	// the flood evicted and whose slot moved to 104 moves. The table's
	// CLOCK replacement keeps the entries of flows that keep sending, so
	// fewer move than the ~1/4 whose slot moved.
	if d := get["none/titan"].res.Disrupted; d != 0 {
		t.Errorf("titan without attack: %d flows disrupted by 104 joining", d)
	}
	if d, n := get["syn-flood/titan"].res.Disrupted, uint64(attackScenario().Traffic.Flows); d == 0 || d*4 >= n {
		t.Errorf("titan under SYN flood: %d of %d flows disrupted, want some, fewer than the ~1/4 whose slot moved to 104", d, n)
	}
}

func TestAttackValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*sim.Scenario)
		field string
	}{
		{"kind", func(sc *sim.Scenario) { sc.Attacks = []sim.Attack{{Rate: 1}} }, "attacks[0].kind"},
		{"rate", func(sc *sim.Scenario) { sc.Attacks = []sim.Attack{{Kind: sim.AttackSYNFlood}} }, "attacks[0].rate"},
		{"start", func(sc *sim.Scenario) {
			sc.Attacks = []sim.Attack{{Kind: sim.AttackSYNFlood, Rate: 1}, {Kind: sim.AttackTeardrop, Rate: 1, Start: time.Hour}}
		}, "attacks[1].start"},
		{"stop", func(sc *sim.Scenario) {
			sc.Attacks = []sim.Attack{{Kind: sim.AttackOverlap, Rate: 1, Start: 5 * time.Millisecond, Stop: time.Millisecond}}
		}, "attacks[0].stop"},
		{"sources", func(sc *sim.Scenario) { sc.Attacks = []sim.Attack{{Kind: sim.AttackOrphanFlood, Rate: 1, Sources: -1}} }, "attacks[0].sources"},
		{"too many", func(sc *sim.Scenario) { sc.Attacks = make([]sim.Attack, sim.MaxAttacks+1) }, "attacks"},
		{"gap", func(sc *sim.Scenario) { sc.Traffic.FragmentGap = -1 }, "traffic.fragmentGap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := faultScenario(10 * time.Millisecond)
			tc.edit(&sc)
			err := sc.Validate()
			var se *sim.ScenarioError
			if !errors.As(err, &se) || se.Field != tc.field {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.field)
			}
		})
	}
	for k := sim.AttackOrphanFlood; k <= sim.AttackSYNFlood; k++ {
		b, err := k.MarshalText()
		var back sim.AttackKind
		if err != nil || back.UnmarshalText(b) != nil || back != k {
			t.Errorf("%v: text round trip %q %v -> %v", k, b, err, back)
		}
	}
	if _, err := sim.AttackKind(0).MarshalText(); err == nil {
		t.Error("kind 0 marshals")
	}
}

// TestAttackDeterministic: a scenario with attacks and spaced fragments
// gives the same Result twice, JSON included.
func TestAttackDeterministic(t *testing.T) {
	sc := faultScenario(20 * time.Millisecond)
	sc.Traffic.FragmentGap = 100 * time.Microsecond
	sc.Attacks = []sim.Attack{{Kind: sim.AttackTeardrop, Rate: 1e5, Start: 5 * time.Millisecond}, {Kind: sim.AttackSYNFlood, Rate: 1e5, Sources: 10}}
	mk := designs()[0].mk
	a, b := simRun(t, sc, mk), simRun(t, sc, mk)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("two runs differ:\n%s\n%s", ja, jb)
	}
	if a.Attack.Packets == 0 || a.Attack.Processed != a.Attack.Packets-a.Attack.Drops[sim.DropQueueFull] {
		t.Errorf("attack accounting: %+v", a.Attack)
	}
}

// spacing records when each fragment of a datagram reached the balancer.
type spacing struct {
	maglevLB
	seen map[uint16][]time.Duration
}

func (s *spacing) Process(env *balancer.Env, p *balancer.Packet) balancer.Decision {
	if p.IsFragment() && p.Src == netip.AddrFrom4([4]byte{10, 1, 0, 0}) {
		s.seen[p.IPID] = append(s.seen[p.IPID], env.Now)
	}
	return s.maglevLB.Process(env, p)
}

// TestFragmentGap: with Traffic.FragmentGap, a datagram's fragments reach
// the balancer one gap apart (an idle node serves each on arrival).
func TestFragmentGap(t *testing.T) {
	const gap = 300 * time.Microsecond
	sc := sim.Scenario{
		Seed: 3, Duration: 50 * time.Millisecond, Backends: sim.Backends(3),
		Traffic: sim.Traffic{Flows: 1, Rate: 200, FragmentRate: 1, LargeSize: 6000, FragmentGap: gap, UDPShare: 1},
	}
	rec := &spacing{seen: map[uint16][]time.Duration{}}
	r := mustRun(t, sc, func() (balancer.Balancer, error) { return rec, nil })
	if r.Fragments == 0 || len(rec.seen) == 0 {
		t.Fatalf("no fragments: %+v", r)
	}
	for id, at := range rec.seen {
		if len(at) != 5 {
			t.Fatalf("datagram %d: %d fragments seen, want 5", id, len(at))
		}
		for i := 1; i < len(at); i++ {
			if d := at[i] - at[i-1]; d < gap || d > gap+10*time.Microsecond {
				t.Errorf("datagram %d: fragments %d and %d %v apart, want %v", id, i-1, i, d, gap)
			}
		}
	}
}
