package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
)

func TestRunJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-flows", "500", "-clients", "10", "-duration", "100ms", "-frag", "60", "-reorder", "30", "-json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d: %s", code, stderr.String())
	}
	var rs []sim.Result
	if err := json.Unmarshal(stdout.Bytes(), &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Balancer != "titan" || rs[1].Balancer != "affinity" {
		t.Fatalf("results for %v, want titan and affinity", rs)
	}
	titan, aff := rs[0], rs[1]
	if titan.Datagrams != aff.Datagrams || titan.Fragments == 0 {
		t.Errorf("not the same traffic: %d vs %d datagrams, %d fragments", titan.Datagrams, aff.Datagrams, titan.Fragments)
	}
	// Every fragment of a datagram has the datagram's 3-tuple: whole
	// datagrams without a fragment table, reordered or not.
	if aff.Reliability < 0.999 || aff.FragmentAccuracy < 0.999 {
		t.Errorf("affinity: reliability %.4f, fragment accuracy %.4f; want whole datagrams", aff.Reliability, aff.FragmentAccuracy)
	}
	// Every packet costs exactly hash + ring read + encap.
	m := cost.Default()
	if want := float64(m.Cost(cost.OpHash) + m.Cost(cost.OpMapRead) + m.Cost(cost.OpEncap)); aff.AvgCost != want {
		t.Errorf("affinity avg cost %.2f STU, want %.0f", aff.AvgCost, want)
	}
	if aff.AvgCost >= titan.AvgCost {
		t.Errorf("stateless affinity (%.1f STU) not cheaper than titan (%.1f)", aff.AvgCost, titan.AvgCost)
	}
	// 10 clients over 3 backends cannot be even; 500 flows can.
	if aff.Imbalance <= titan.Imbalance {
		t.Errorf("imbalance: affinity %.2f, titan %.2f; want affinity worse with 10 clients", aff.Imbalance, titan.Imbalance)
	}
}

func TestRunTable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-flows", "300", "-duration", "50ms"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"300 flows from 20 clients, 50% fragmented", "titan", "affinity", "imbalance"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAffinity(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.1")
	a := &Affinity{}
	env := &balancer.Env{Meter: cost.NewMeter(cost.Default())}
	p := balancer.Packet{Src: netip.MustParseAddr("198.51.100.9"), Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 999, DstPort: 53, IPID: 4, MoreFragments: true}
	if d := a.Process(env, &p); d.Action != balancer.Drop || d.Reason != balancer.ReasonNoBackend {
		t.Errorf("before SetBackends: %+v, want a no-backend drop", d)
	}
	if err := a.SetBackends(nil); err == nil {
		t.Error("SetBackends(nil) accepted")
	}
	bs := sim.Backends(3)
	if err := a.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	first := a.Process(env, &p)
	rest := p
	rest.SrcPort, rest.DstPort, rest.FragOffset, rest.MoreFragments = 0, 0, 185, false
	if d := a.Process(env, &rest); first.Action != balancer.Forward || d != first {
		t.Errorf("first fragment %+v, last %+v: want one backend", first, d)
	}
	if d := a.Process(nil, &rest); d != first {
		t.Errorf("nil env: %+v", d)
	}
	if d := a.Process(env, nil); d.Action != balancer.Drop {
		t.Errorf("nil packet: %+v", d)
	}
	// Its backend goes down: the client moves to one that is up.
	for i := range bs {
		bs[i].Up = bs[i].ID != first.Backend
	}
	if err := a.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	if d := a.Process(env, &p); d.Action != balancer.Forward || d.Backend == first.Backend {
		t.Errorf("after %d went down: %+v", first.Backend, d)
	}
	if n := testing.AllocsPerRun(100, func() { a.Process(env, &p) }); n != 0 {
		t.Errorf("Process allocates %v times", n)
	}
}

// TestOutsideModule copies the example, as a reader would, into a module
// of its own outside this repository (requiring TitanLB, replaced by this
// checkout), builds it there and runs it: the page that teaches writing a
// balancer must use the public API only.
func TestOutsideModule(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	if _, ok := files["affinity.go"]; !ok {
		t.Fatalf("copied %d files without affinity.go", len(files))
	}
	bin := testutil.GoBuild(t, testutil.OutsideModule(t, files))
	out, err := exec.Command(bin, "-flows", "300", "-duration", "50ms", "-json").Output()
	if err != nil {
		t.Fatalf("the copied example: %v", err)
	}
	var rs []sim.Result
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatal(err)
	}
	// The copy computes what the example computes here.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-flows", "300", "-duration", "50ms", "-json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d: %s", code, stderr.String())
	}
	if !bytes.Equal(out, stdout.Bytes()) || len(rs) != 2 || rs[1].Balancer != "affinity" {
		t.Errorf("the copy printed %d results (%.60q), the example %.60q", len(rs), out, stdout.String())
	}
}

// TestShort holds the example to its promise: a balancer in under 80 lines.
func TestShort(t *testing.T) {
	src, err := os.ReadFile("affinity.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(src, []byte("\n")); n >= 80 {
		t.Errorf("affinity.go has %d lines, the README promises under 80", n)
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-frag", "150"}, "-frag 150: must be a percentage between 0 and 100"},
		{[]string{"-reorder", "-5"}, "-reorder -5: must be a percentage between 0 and 100"},
		{[]string{"-duration", "-1s"}, "-duration -1s: must be positive"},
		{[]string{"-clients", "-2"}, "scenario.traffic.clients -2"},
		{[]string{"-flows", "10", "-clients", "20"}, "scenario.traffic.clients 20"},
		{[]string{"-seed", "one"}, `invalid value "one" for flag -seed`},
		{[]string{"again"}, `unexpected argument "again"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.msg) || !strings.Contains(stderr.String(), "usage: custom") {
			t.Errorf("run(%q) = %d, stderr %q; want 2 with %q and the usage", tc.args, code, stderr.String(), tc.msg)
		}
	}
}
