package study

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTQuantile(t *testing.T) {
	// Two-sided 95% critical values of Student's t (any statistics table).
	for df, want := range map[int]float64{1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 9: 2.2622, 19: 2.0930, 29: 2.0452, 100: 1.9840, 100000: 1.9600} {
		if got := tQuantile(0.975, df); math.Abs(got-want) > 5e-4 {
			t.Errorf("t(0.975, %d) = %.4f, want %.4f", df, got, want)
		}
	}
	if got := tQuantile(0.995, 5); math.Abs(got-4.0321) > 5e-4 {
		t.Errorf("t(0.995, 5) = %.4f, want 4.0321", got)
	}
	if !math.IsNaN(tQuantile(0.975, 0)) || !math.IsNaN(tQuantile(0.3, 4)) {
		t.Error("tQuantile outside its domain is not NaN")
	}
}

// line builds a row with the given result JSON.
func line(id, study, params string, seed int64, result string) string {
	return fmt.Sprintf(`{"id":%q,"study":%q,"params":%s,"seed":%d,"result":%s}`+"\n", id, study, params, seed, result)
}

func TestSummarize(t *testing.T) {
	var in strings.Builder
	// Group A (rate 0.5, titan): seeds 3, 1, 2 in that order, Reliability 0.7, 0.9, 0.8.
	in.WriteString(line("a3", "b/t", `{"balancer":"titan","traffic.fragmentRate":0.5}`, 3, `{"Reliability":0.7,"Drops":{"queue full":4},"CPUUtil":[0.5,0.25],"Seed":3}`))
	in.WriteString(line("a1", "b/t", `{"balancer":"titan","traffic.fragmentRate":0.5}`, 1, `{"Reliability":0.9,"CPUUtil":[0.5,0.25],"Seed":1}`))
	in.WriteString(line("a2", "b/t", `{"balancer":"titan","traffic.fragmentRate":0.5}`, 2, `{"Reliability":0.8,"Drops":{"queue full":2},"CPUUtil":[0.5,0.25],"Seed":2}`))
	in.WriteString(line("a2", "b/t", `{"balancer":"titan","traffic.fragmentRate":0.5}`, 2, `{"Reliability":0.8}`)) // a duplicate
	// Group B (rate 0.25, katran), one seed; group C (rate 0.25, cilium).
	in.WriteString(line("b1", "b/k", `{"balancer":"katran","traffic.fragmentRate":0.25}`, 1, `{"Reliability":0.5}`))
	in.WriteString(line("c1", "b/c", `{"balancer":"cilium","traffic.fragmentRate":0.25}`, 1, `{"Reliability":1}`))
	in.WriteString("\n")
	s, err := Summarize(strings.NewReader(in.String()), "rows")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Groups) != 3 {
		t.Fatalf("%d groups, want 3", len(s.Groups))
	}
	// Sorted by rate, then balancer name.
	var order []string
	for _, g := range s.Groups {
		order = append(order, display(g.Params[ParamBalancer]))
	}
	if strings.Join(order, " ") != "cilium katran titan" {
		t.Errorf("group order %v, want cilium katran titan", order)
	}
	a := s.Groups[2]
	if fmt.Sprint(a.Seeds) != "[1 2 3]" {
		t.Errorf("seeds %v, want [1 2 3] (sorted, the duplicate row skipped)", a.Seeds)
	}
	rel := a.Stats["Reliability"]
	// mean 0.8, sd 0.1, CI95 = 4.3027·0.1/√3 = 0.24842.
	if math.Abs(rel.Mean-0.8) > 1e-12 || math.Abs(rel.SD-0.1) > 1e-12 || math.Abs(rel.CI95-0.248417) > 1e-5 {
		t.Errorf("Reliability %+v, want mean 0.8, sd 0.1, ci95 0.2484", rel)
	}
	// A drop reason missing from a row counts as 0 in it: (4+0+2)/3.
	if q := a.Stats["Drops.queue full"]; math.Abs(q.Mean-2) > 1e-12 {
		t.Errorf("Drops.queue full mean %v, want 2", q.Mean)
	}
	if c := a.Stats["CPUUtil[1]"]; c.Mean != 0.25 || c.SD != 0 || c.CI95 != 0 {
		t.Errorf("CPUUtil[1] %+v, want 0.25 with no spread", c)
	}
	if _, ok := a.Stats["Seed"]; ok {
		t.Error("the seed is summarized as a metric")
	}
	if b := s.Groups[1].Stats["Reliability"]; b.Mean != 0.5 || b.CI95 != 0 {
		t.Errorf("one seed: %+v, want mean 0.5 and no interval", b)
	}
	if got := strings.Join(s.Axes, ","); got != "traffic.fragmentRate" {
		t.Errorf("axes %q", got)
	}
	if name, ok := s.Metric("drops.QUEUE FULL"); !ok || name != "Drops.queue full" {
		t.Errorf("Metric lookup ignoring case: %q %v", name, ok)
	}

	var table bytes.Buffer
	if err := s.WriteTable(&table, []string{"reliability", "Drops.queue full"}); err != nil {
		t.Fatal(err)
	}
	want := `traffic.fragmentRate  balancer  n  Reliability  Drops.queue full
                0.25    cilium  1            1                 0
                0.25    katran  1          0.5                 0
                 0.5     titan  3   0.80 ±0.25          2.0 ±5.0
`
	if table.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", table.String(), want)
	}
	if err := s.WriteTable(&table, []string{"Reliabilty"}); err == nil || !strings.Contains(err.Error(), `no metric "Reliabilty"`) {
		t.Errorf("unknown metric: %v", err)
	}
}

func TestSummarizeRejects(t *testing.T) {
	for name, in := range map[string]string{
		"two bases":   line("a", "b1/t", `{"balancer":"titan"}`, 1, `{}`) + line("b", "b2/t", `{"balancer":"titan"}`, 2, `{}`),
		"two configs": line("a", "b/t1", `{"balancer":"titan"}`, 1, `{}`) + line("b", "b/t2", `{"balancer":"titan"}`, 2, `{}`),
		"not a row":   line("a", "b/t", `{"balancer":"titan"}`, 1, `{}`) + "[1,2]\n",
	} {
		if _, err := Summarize(strings.NewReader(in), "rows"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A partial last line is left out and reported.
	in := line("a", "b/t", `{"balancer":"titan"}`, 1, `{"Reliability":1}`) + `{"id":"b","stu`
	s, err := Summarize(strings.NewReader(in), "rows")
	if err != nil || len(s.Groups) != 1 || !s.Partial {
		t.Errorf("partial line: %v, %+v; want one group and Partial", err, s)
	}
}

// svgDoc is the part of a plot the tests read.
type svgDoc struct {
	Series []struct {
		Label  string `xml:"data-label,attr"`
		Points []struct {
			X    string  `xml:"data-x,attr"`
			Mean float64 `xml:"data-mean,attr"`
			CI   float64 `xml:"data-ci95,attr"`
		} `xml:"circle"`
	} `xml:"g"`
}

func TestPlot(t *testing.T) {
	st := mustParse(t, studyJSON(`[{"path": "traffic.fragmentRate", "values": [0, 0.5, 1]}, {"path": "traffic.reorder", "values": [0, 0.5]}]`,
		`["titan", "katran"]`, `3`), nil)
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	if _, err := Execute(context.Background(), st, path, Local{}, Options{}); err != nil {
		t.Fatal(err)
	}
	s, err := SummarizeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Plot(&buf, "reliability", "Traffic.FragmentRate"); err != nil {
		t.Fatal(err)
	}
	var doc svgDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("the plot is not XML: %v", err)
	}
	// A line per balancer and reorder value, a point per rate.
	if len(doc.Series) != 4 {
		t.Fatalf("%d series, want 4 (2 balancers x 2 reorder values)", len(doc.Series))
	}
	for _, se := range doc.Series {
		if len(se.Points) != 3 || se.Points[0].X != "0" || se.Points[2].X != "1" {
			t.Fatalf("series %q: points %+v, want x = 0, 0.5, 1", se.Label, se.Points)
		}
		for _, p := range se.Points {
			var g *Group
			for i := range s.Groups {
				pg := s.Groups[i].Params
				if strings.HasPrefix(se.Label, display(pg[ParamBalancer])+",") && display(pg["traffic.fragmentRate"]) == p.X &&
					strings.HasSuffix(se.Label, "traffic.reorder="+display(pg["traffic.reorder"])) {
					g = &s.Groups[i]
				}
			}
			if g == nil {
				t.Fatalf("series %q point %s: no such group", se.Label, p.X)
			}
			if st := g.Stats["Reliability"]; p.Mean != st.Mean || p.CI != st.CI95 {
				t.Errorf("series %q at %s: plotted %v ±%v, summary %v ±%v", se.Label, p.X, p.Mean, p.CI, st.Mean, st.CI95)
			}
		}
	}
	if katran := doc.Series[0]; !strings.HasPrefix(katran.Label, "katran") || katran.Points[2].Mean >= katran.Points[0].Mean {
		t.Errorf("series %q: Reliability should fall with fragmentation for Katran: %+v", katran.Label, katran.Points)
	}
	if err := s.Plot(&buf, "reliability", "node.cpus"); err == nil || !strings.Contains(err.Error(), `no axis "node.cpus"`) {
		t.Errorf("unknown axis: %v", err)
	}
	if err := s.Plot(&buf, "nope", "traffic.reorder"); err == nil || !strings.Contains(err.Error(), `no metric "nope"`) {
		t.Errorf("unknown metric: %v", err)
	}
	if os.Getenv("STUDY_PLOT") != "" {
		os.WriteFile(os.Getenv("STUDY_PLOT"), buf.Bytes(), 0o644)
	}
}

func TestFormatInterval(t *testing.T) {
	for _, tc := range []struct {
		mean, ci float64
		want     string
	}{
		{0.77441, 0.0010987, "0.7744 ±0.0011"},
		{155.7, 0.3286, "155.70 ±0.33"},
		{390.6, 24.05, "391 ±24"},
		{1, 0, "1 ±0"},
		{1234.5, 0.05, "1234.500 ±0.050"},
	} {
		if got := formatInterval(tc.mean, tc.ci); got != tc.want {
			t.Errorf("formatInterval(%v, %v) = %q, want %q", tc.mean, tc.ci, got, tc.want)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 1, "[0 0.2 0.4 0.6 0.8 1]"},
		{0, 355.5, "[0 100 200 300 400]"},
		{-0.3, 0.7, "[-0.4 -0.2 0 0.2 0.4 0.6 0.8]"},
		{5, 5, "[5 5.2 5.4 5.6 5.8 6]"},
	} {
		if got := fmt.Sprint(niceTicks(tc.lo, tc.hi)); got != tc.want {
			t.Errorf("niceTicks(%v, %v) = %s, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
}
