package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/sim"
)

// rowsOf runs the command with args (and -json) and returns its rows.
func rowsOf(t *testing.T, args ...string) []Row {
	t.Helper()
	var rows []Row
	if err := json.Unmarshal([]byte(runOK(t, append(args, "-json")...)), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestVerdict checks that the verdict follows the rows: in order, Titan
// keeps datagrams whole and is priced, Cilium too at its measured ratio;
// reordered, Cilium joins Katran among those that lose them.
func TestVerdict(t *testing.T) {
	rows := rowsOf(t, "-frag", "0,100")
	v := strings.Join(verdict(rows), "\n")
	t.Log("\n" + v)
	titan0, cilium0 := rows[0].Result.AvgCost, rows[2].Result.AvgCost
	for _, want := range []string{
		"Verdict: titan keeps every fragmented datagram whole",
		"the cheapest that does",
		"cilium keeps them whole too",
		fmt.Sprintf("katran loses them: reliability %.4f at 100%% fragmentation", rows[4].Result.Reliability),
		fmt.Sprintf(`%d dropped, most for "katran: ipv4 fragment"`, drops(rows[4].Result)),
		fmt.Sprintf("against titan's %.1f STU per packet, katran %.1f×, cilium %.1f×", titan0, rows[1].Result.AvgCost/titan0, cilium0/titan0),
	} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict lacks %q", want)
		}
	}

	rows = rowsOf(t, "-frag", "100", "-reorder", "50")
	v = strings.Join(verdict(rows), "\n")
	t.Log("\n" + v)
	for _, want := range []string{
		"titan keeps every fragmented datagram whole", "the only one that does",
		fmt.Sprintf("cilium loses them: reliability %.4f", rows[2].Result.Reliability),
	} {
		if !strings.Contains(v, want) {
			t.Errorf("reordered: verdict lacks %q", want)
		}
	}
	if strings.Contains(v, "Without fragments") {
		t.Error("a verdict about 0% from runs that had none")
	}

	// No rate without fragments and nothing whole: the closest is named.
	v = strings.Join(verdict(rows[1:]), "\n")
	if !strings.Contains(v, "no balancer keeps every fragmented datagram whole here; cilium comes closest") {
		t.Errorf("without titan: %q", v)
	}
	if got := verdict(nil); got != nil {
		t.Errorf("verdict of no rows: %q", got)
	}

	// As printed: wrapped at 80 columns, the same words.
	out := runOK(t, "-frag", "0,100", "-naive")
	printed := out[strings.Index(out, "Verdict:"):]
	for line := range strings.Lines(printed) {
		if n := utf8.RuneCountInString(strings.TrimSuffix(line, "\n")); n > 80 {
			t.Errorf("verdict line of %d columns: %q", n, line)
		}
	}
	if got, want := strings.Fields(printed), strings.Fields(strings.Join(verdict(rowsOf(t, "-frag", "0,100", "-naive")), " ")); !slices.Equal(got, want) {
		t.Errorf("printed verdict %q, want the words of %q", got, want)
	}
}

// TestNaive checks -naive: a fourth row per rate, Katran's model with
// fragments balanced, whose FragmentAccuracy is the original design's
// "about 50%" where the default Katran's is 0.
func TestNaive(t *testing.T) {
	rows := rowsOf(t, "-frag", "100", "-naive")
	if len(rows) != 4 || rows[3].Balancer != "katran-naive" || rows[3].Result.Balancer != "katran" {
		t.Fatalf("rows %v, want titan, katran, cilium, katran-naive (a katran model)", rows)
	}
	katran, naive := rows[1].Result, rows[3].Result
	if katran.FragmentAccuracy != 0 || naive.FragmentAccuracy < 0.4 || naive.FragmentAccuracy > 0.7 {
		t.Errorf("fragment accuracy: katran %.4f, naive %.4f; want 0 and about 0.5", katran.FragmentAccuracy, naive.FragmentAccuracy)
	}
	if naive.Drops["katran: ipv4 fragment"] != 0 {
		t.Errorf("the naive model dropped %d fragments as fragments", naive.Drops["katran: ipv4 fragment"])
	}
	if rows := rowsOf(t, "-frag", "100"); len(rows) != 3 {
		t.Errorf("without -naive: %d rows, want 3", len(rows))
	}
}

// TestHelp checks that -h explains every column the table prints, and
// that the costs it quotes for an established flow are what the models
// charge.
func TestHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	help := stderr.String()
	header := strings.Split(runOK(t, "-frag", "0"), "\n")[2]
	for _, c := range columns {
		if !strings.Contains(header, c.name) || !strings.Contains(help, "\n  "+c.name+" ") {
			t.Errorf("column %q: in the header %q, explained in -h: %v", c.name, header, strings.Contains(help, "\n  "+c.name+" "))
		}
	}
	for _, want := range []string{"Katran costs about twice Titan", "-naive", "Katran about 50%"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	o, err := parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lanes(o) {
		want := map[string]string{"titan": "(110 STU)", "katran": "(240 STU)"}[l.name]
		if want == "" {
			continue
		}
		if got := fmt.Sprintf("(%d STU)", established(t, l.new)); got != want || !strings.Contains(help, want) {
			t.Errorf("%s: an established flow costs %s; -h says %s", l.name, got, want)
		}
	}
}

// established returns what the balancer charges for the second packet of
// a TCP flow.
func established(t *testing.T, newLB func() (balancer.Balancer, error)) cost.STU {
	t.Helper()
	lb, err := newLB()
	if err != nil {
		t.Fatal(err)
	}
	if err := lb.SetBackends(sim.Backends(3)); err != nil {
		t.Fatal(err)
	}
	m := cost.NewMeter(cost.Default())
	env := &balancer.Env{Meter: m}
	p := balancer.Packet{
		Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("192.0.2.1"),
		Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443, Len: 60, TCPFlags: balancer.TCPSyn,
	}
	if d := lb.Process(env, &p); d.Action != balancer.Forward {
		t.Fatalf("SYN: %+v", d)
	}
	m.Reset()
	p.TCPFlags = balancer.TCPAck
	if d := lb.Process(env, &p); d.Action != balancer.Forward {
		t.Fatalf("ACK: %+v", d)
	}
	return m.Total()
}
