package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/sim"
)

// small keeps each test run short; the figures still come from the
// simulation.
var small = []string{"-flows", "400", "-duration", "100ms"}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append(append([]string{}, small...), args...), &stdout, &stderr); code != 0 {
		t.Fatalf("run(%q) = %d\nstderr: %s", args, code, stderr.String())
	}
	return stdout.String()
}

func TestJSON(t *testing.T) {
	var rows []Row
	if err := json.Unmarshal([]byte(runOK(t, "-frag", "0,100", "-json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 2 rates x 3 balancers", len(rows))
	}
	get := func(rate float64, name string) sim.Result {
		t.Helper()
		for _, r := range rows {
			if r.FragmentRate == rate && r.Balancer == name {
				if r.Result.Balancer != name {
					t.Errorf("row %s carries the result of %q", name, r.Result.Balancer)
				}
				return r.Result
			}
		}
		t.Fatalf("no row for %s at %v", name, rate)
		return sim.Result{}
	}
	for _, n := range []string{"titan", "katran", "cilium"} {
		if r := get(0, n); r.Reliability != 1 || r.Fragments != 0 {
			t.Errorf("%s at 0%%: reliability %v with %d fragments, want 1 and none", n, r.Reliability, r.Fragments)
		}
	}
	titan, katran := get(1, "titan"), get(1, "katran")
	if titan.Reliability < 0.999 {
		t.Errorf("titan at 100%%: reliability %.4f, want at least 0.999", titan.Reliability)
	}
	if katran.Reliability >= titan.Reliability/2 || katran.FragmentAccuracy != 0 {
		t.Errorf("katran at 100%%: reliability %.4f (titan %.4f), fragment accuracy %.4f: want it collapsed",
			katran.Reliability, titan.Reliability, katran.FragmentAccuracy)
	}
	// The rows are sim.Run's results, not something of compare's own.
	o, err := parse(append(append([]string{}, small...), "-frag", "0,100"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sim.Run(scenario(o, 1), lanes()[1].new)
	if err != nil {
		t.Fatal(err)
	}
	var round sim.Result // compare after the same JSON round trip
	data, _ := json.Marshal(want)
	if err := json.Unmarshal(data, &round); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(round, katran) {
		t.Errorf("katran's row differs from sim.Run of the same scenario:\nrow %+v\nrun %+v", katran, round)
	}
}

// TestReorder checks that -reorder reaches the scenario: Cilium drops
// fragments that overtake their first one, Titan keeps the datagram whole.
func TestReorder(t *testing.T) {
	var rows []Row
	if err := json.Unmarshal([]byte(runOK(t, "-frag", "100", "-reorder", "50", "-json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	titan, cilium := rows[0].Result, rows[2].Result
	if titan.Reliability < 0.999 || cilium.Reliability >= titan.Reliability {
		t.Errorf("50%% reordered: titan %.4f, cilium %.4f; want titan >= 0.999 above cilium", titan.Reliability, cilium.Reliability)
	}
}

func TestTable(t *testing.T) {
	out := runOK(t, "-frag", "25,75%", "-backends", "4", "-seed", "7")
	t.Log("\n" + out)
	if !strings.Contains(out, "4 backends, 400 flows, 100ms simulated per run, 0% reordered, seed 7") {
		t.Errorf("header does not echo the flags")
	}
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 8 && (f[0] == "25%" || f[0] == "75%") {
			rows++
			if f[1] != "titan" && f[1] != "katran" && f[1] != "cilium" {
				t.Errorf("unknown balancer in %q", line)
			}
		}
	}
	if rows != 6 {
		t.Errorf("%d table rows, want 6", rows)
	}
}

func TestSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plot.svg")
	out := runOK(t, "-frag", "0,50,100", "-svg", path)
	if !strings.Contains(out, "plot written to "+path) {
		t.Errorf("output does not name the plot: %s", out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Well-formed XML with one line per balancer in each of the two panels,
	// each through three points.
	dec := xml.NewDecoder(bytes.NewReader(data))
	lines := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("plot is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			for _, a := range se.Attr {
				if a.Name.Local == "data-balancer" {
					lines[a.Value]++
				}
				if a.Name.Local == "points" && len(strings.Fields(a.Value)) != 3 {
					t.Errorf("polyline with points %q, want 3", a.Value)
				}
			}
		}
	}
	if !reflect.DeepEqual(lines, map[string]int{"titan": 2, "katran": 2, "cilium": 2}) {
		t.Errorf("polylines per balancer: %v", lines)
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-frag", "120"}, `-frag "120": rate 1 "120": want a percentage between 0 and 100`},
		{[]string{"-frag", "0,abc"}, `rate 2 "abc"`},
		{[]string{"-frag", ""}, `rate 1 ""`},
		{[]string{"-frag", "50,50"}, `rate 2 "50": listed twice`},
		{[]string{"-flows", "0"}, "-flows 0: must be at least 1"},
		{[]string{"-flows", "many"}, `invalid value "many" for flag -flows`},
		{[]string{"-backends", "0"}, "-backends 0: must be between 1 and 1000"},
		{[]string{"-reorder", "101"}, "-reorder 101: must be a percentage between 0 and 100"},
		{[]string{"-duration", "0s"}, "-duration 0s: must be positive"},
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.msg) || !strings.Contains(stderr.String(), "usage: compare") {
			t.Errorf("run(%q) = %d, stderr %q; want 2 with %q and the usage", tc.args, code, stderr.String(), tc.msg)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) wrote %q to stdout", tc.args, stdout.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(append(append([]string{}, small...), "-frag", "0", "-svg", filepath.Join(t.TempDir(), "no", "such", "dir.svg")), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "-svg") {
		t.Errorf("-svg into a missing directory: %d, %q; want 1 naming -svg", code, stderr.String())
	}
}
