package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/sim"
)

// runMainEnv makes the test binary run the command's main instead of the
// tests, so that a test can run it as a process of its own.
const runMainEnv = "TITANLB_COMPARE_RUN_MAIN"

func TestMain(m *testing.M) { testutil.MainOrTests(m, runMainEnv, main) }

// small keeps each test run short; the figures still come from the
// simulation.
var small = []string{"-flows", "400", "-duration", "100ms"}

// runOK runs the command at the size of small with args and returns its
// output.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	return runFull(t, append(append([]string{}, small...), args...)...)
}

// runFull runs the command with args alone and returns its output.
func runFull(t *testing.T, args ...string) string {
	t.Helper()
	return testutil.Command(t, run)(args)
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
	want, err := sim.Run(scenario(o, 1), lanes(o)[1].new)
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
	out := runOK(t, "-frag", "0,50,100", "-naive", "-svg", path)
	if !strings.Contains(out, "plot written to "+path) {
		t.Errorf("output does not name the plot: %s", out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Well-formed XML with one line per balancer in each of the two panels,
	// each through three points.
	type polyline struct {
		balancer, points, dash string
		width                  float64
	}
	var panels [][]polyline
	markers := map[string]string{}
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("plot is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := func(name string) string {
			for _, a := range se.Attr {
				if a.Name.Local == name {
					return a.Value
				}
			}
			return ""
		}
		switch {
		case se.Name.Local == "g" && attr("class") == "panel":
			panels = append(panels, nil)
		case se.Name.Local == "g" && attr("data-marker") != "":
			markers[attr("data-balancer")] = attr("data-marker")
		case se.Name.Local == "polyline" && attr("data-balancer") != "":
			if len(panels) == 0 {
				t.Fatal("a balancer's line outside a panel")
			}
			w, err := strconv.ParseFloat(attr("stroke-width"), 64)
			if err != nil {
				t.Fatalf("stroke-width %q: %v", attr("stroke-width"), err)
			}
			p := polyline{attr("data-balancer"), attr("points"), attr("stroke-dasharray"), w}
			if n := len(strings.Fields(p.points)); n != 3 {
				t.Errorf("%s: polyline through %d points, want 3", p.balancer, n)
			}
			panels[len(panels)-1] = append(panels[len(panels)-1], p)
		}
	}
	if len(panels) != 2 {
		t.Fatalf("%d panels, want reliability and cost", len(panels))
	}
	// Lines that coincide stay visible: a line drawn over an earlier one
	// with the same points is narrower and dashed otherwise, so the
	// earlier one shows on both sides of it. Titan's and Cilium's
	// reliability (1 at every rate without reordering) must be such a pair.
	coincide := 0
	for pi, lines := range panels {
		var names []string
		for j, b := range lines {
			names = append(names, b.balancer)
			for _, a := range lines[:j] {
				if a.points != b.points {
					continue
				}
				coincide++
				if b.width >= a.width || b.dash == a.dash {
					t.Errorf("panel %d: %s (width %v, dash %q) drawn over %s (width %v, dash %q) on the same points hides it",
						pi, b.balancer, b.width, b.dash, a.balancer, a.width, a.dash)
				}
			}
		}
		if want := []string{"titan", "katran", "cilium", "katran-naive"}; !reflect.DeepEqual(names, want) {
			t.Errorf("panel %d: lines of %v, want %v", pi, names, want)
		}
	}
	if coincide == 0 {
		t.Error("no coinciding lines: titan's and cilium's reliability should coincide at 1")
	}
	if seen := slices.Sorted(maps.Values(markers)); len(seen) != 4 || len(slices.Compact(seen)) != 4 {
		t.Errorf("markers %v: want a different one for each of 4 balancers", markers)
	}
}

// TestSVGWriteFailureKeepsOld runs the command in a child process whose
// file size limit (ulimit -f) is far below the plot's size, as a full disk
// would: the write fails, the command exits 1 naming -svg, and the old
// plot is still there, whole, with no temporary file beside it.
func TestSVGWriteFailureKeepsOld(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("needs sh for ulimit -f")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "plot.svg")
	old := []byte("<svg>the old plot</svg>\n")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-c", `ulimit -f 1 && exec "$0" "$@"`, os.Args[0]}, small...)
	cmd := exec.Command(sh, append(args, "-frag", "0,100", "-svg", path)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "compare: -svg:") {
		t.Fatalf("under ulimit -f 1: %v, stderr %q; want exit 1 naming -svg", err, stderr.String())
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("the old plot became %q (%v)", got, err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("%d files in the directory, want the old plot alone", len(es))
	}
	// The control: the same command without the limit replaces the plot.
	runOK(t, "-frag", "0,100", "-svg", path)
	if got, _ := os.ReadFile(path); bytes.Equal(got, old) || !bytes.HasPrefix(got, []byte("<svg ")) {
		t.Errorf("without the limit the plot was not replaced: %.40q", got)
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
		{[]string{"-services", "-backends", "1"}, "-backends 1: -services needs at least 2 (two pools)"},
		{[]string{"-services", "-svg", "x.svg"}, "-svg: plots the default comparison, not -services"},
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

// servers returns the lanes of o that serve services, and the others.
func servers(t *testing.T, o options) (in, out []string) {
	t.Helper()
	for _, l := range lanes(o) {
		lb, err := l.new()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := lb.(balancer.ServiceSetter); ok {
			in = append(in, l.name)
		} else {
			out = append(out, l.name)
		}
	}
	return in, out
}

// TestServices checks -services: a row per rate and balancer serving
// services, each with both services' results; every service's packets
// reach its own pool; balancers without SetServices are named as left
// out; the rows are sim.Run's.
func TestServices(t *testing.T) {
	args := []string{"-frag", "0,100", "-reorder", "30", "-backends", "6"}
	var rows []Row
	if err := json.Unmarshal([]byte(runOK(t, append(args, "-services", "-json")...)), &rows); err != nil {
		t.Fatal(err)
	}
	o, err := parse(append(append([]string{}, small...), append(args, "-services")...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	in, out := servers(t, o)
	if len(in) == 0 || len(rows) != 2*len(in) {
		t.Fatalf("%d rows for %v serving services", len(rows), in)
	}
	sc := servicesScenario(o, 1)
	if a, b := names(sc.Services[0].Backends), names(sc.Services[1].Backends); a != "101-104" || b != "103-106" {
		t.Errorf("pools %s and %s of 6 backends", a, b)
	}
	for _, r := range rows {
		if len(r.Result.Services) != 2 {
			t.Fatalf("%s: services %v", r.Balancer, slices.Collect(maps.Keys(r.Result.Services)))
		}
		for _, s := range sc.Services {
			sr := r.Result.Services[s.Key.String()]
			if sr.Datagrams == 0 || (r.FragmentRate == 1) != (sr.Fragments > 0) {
				t.Errorf("%s at %v, %v: %d datagrams, %d fragments", r.Balancer, r.FragmentRate, s.Key, sr.Datagrams, sr.Fragments)
			}
			for name, n := range sr.PerBackend {
				if n > 0 && !slices.ContainsFunc(s.Backends, func(b balancer.Backend) bool { return b.Name == name }) {
					t.Errorf("%s, %v: %d packets reached %s", r.Balancer, s.Key, n, name)
				}
			}
		}
	}
	want, err := sim.Run(sc, lanes(o)[slices.IndexFunc(lanes(o), func(l lane) bool { return l.name == in[0] })].new)
	if err != nil {
		t.Fatal(err)
	}
	var round sim.Result
	data, _ := json.Marshal(want)
	json.Unmarshal(data, &round)
	if got := rows[len(in)].Result; !reflect.DeepEqual(got, round) {
		t.Errorf("%s's row at 100%% differs from sim.Run of the scenario", in[0])
	}
	table := runOK(t, append(args, "-services")...)
	t.Log("\n" + table)
	for _, name := range out {
		if !strings.Contains(table, name+" left out: "+name+" does not implement balancer.ServiceSetter.") {
			t.Errorf("the table does not say %s is left out", name)
		}
	}
	for _, name := range in {
		if !strings.Contains(table, name+": every packet stayed in its service's pool") {
			t.Errorf("no verdict line for %s", name)
		}
	}
	for _, want := range []string{"one VIP, 2 UDP services: 192.0.2.1:443/udp on backends 101-104,", "192.0.2.1:8443/udp on 103-106; 400 flows"} {
		if !strings.Contains(table, want) {
			t.Errorf("header does not say %q", want)
		}
	}
}

// TestIPv6 checks -ipv6: IPv6 packets to IPv6 backends, for the balancers
// that take IPv6 backends; the others are named as left out.
func TestIPv6(t *testing.T) {
	for _, services := range []bool{false, true} {
		args := []string{"-frag", "50", "-ipv6"}
		if services {
			args = append(args, "-services")
		}
		var rows []Row
		if err := json.Unmarshal([]byte(runOK(t, append(args, "-json")...)), &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			t.Fatal("no balancer ran IPv6")
		}
		for _, r := range rows {
			if r.Result.Fragments == 0 || r.Result.Delivered == 0 {
				t.Errorf("%s: %d fragments, %d delivered", r.Balancer, r.Result.Fragments, r.Result.Delivered)
			}
			for name, n := range r.Result.PerBackend {
				if n > 0 && name < "601" {
					t.Errorf("%s: IPv6 traffic reached %s", r.Balancer, name)
				}
			}
		}
		if !services && !strings.Contains(runOK(t, args...), "3 IPv6 backends, 400 flows") {
			t.Error("header does not say IPv6")
		}
	}
}

// TestCalibratedNsColumn checks -ns: the default table lacks the column,
// -ns adds it after the STU, and each figure is the row's operation
// counts priced by cost.Calibrated() per processed packet.
func TestCalibratedNsColumn(t *testing.T) {
	if strings.Contains(runOK(t, "-frag", "0"), nsColumn.name) {
		t.Errorf("the default table shows %q", nsColumn.name)
	}
	out := runOK(t, "-frag", "0", "-ns")
	header := strings.Split(out, "\n")[2]
	if i, j := strings.Index(header, "avg cost (STU)"), strings.Index(header, nsColumn.name); i < 0 || j < i {
		t.Errorf("-ns header %q: want %q after the STU", header, nsColumn.name)
	}
	m := cost.Calibrated()
	r := sim.Result{Processed: 4, OpCounts: map[string]uint64{"hash": 4, "array_read": 12, "store": 2, "encap": 4}}
	want := m.Nanoseconds(float64(4*m.Hash+12*m.ArrayRead+2*m.Store+4*m.Encap) / 4)
	if got := calibratedNs(r); got != want || got == 0 {
		t.Errorf("calibratedNs = %v, want %v", got, want)
	}
	if got := calibratedNs(sim.Result{}); got != 0 {
		t.Errorf("calibratedNs of nothing processed = %v", got)
	}
}
