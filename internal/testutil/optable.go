package testutil

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
)

// OpTable reads the op-count rows of one section of the Markdown file at
// path: the lines after the line heading up to the next heading of the
// same level, whose last n fields are integers; the fields before them,
// joined by single spaces, are the row's label. It fails tb when the file
// cannot be read or the section holds no row.
func OpTable(tb testing.TB, path, heading string, n int) map[string][]uint64 {
	tb.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	level := heading[:strings.IndexByte(heading+" ", ' ')+1] // "## "
	rows := map[string][]uint64{}
	in := false
	for line := range strings.Lines(string(src)) {
		line = strings.TrimRight(line, "\n")
		if in && strings.HasPrefix(line, level) {
			break
		}
		if line == heading {
			in = true
			continue
		}
		f := strings.Fields(line)
		if !in || len(f) <= n {
			continue
		}
		row := make([]uint64, n)
		ok := true
		for i := range row {
			if row[i], err = strconv.ParseUint(f[len(f)-n+i], 10, 64); err != nil {
				ok = false
				break
			}
		}
		if ok {
			rows[strings.Join(f[:len(f)-n], " ")] = row
		}
	}
	if len(rows) == 0 {
		tb.Fatalf("%s: no op-count rows of %d integers under %q", path, n, heading)
	}
	return rows
}

// Counts returns how many of each of ops m was charged, then m's total:
// a row of an [OpTable].
func Counts(m *cost.Meter, ops ...cost.Op) []uint64 {
	row := make([]uint64, 0, len(ops)+1)
	for _, op := range ops {
		row = append(row, m.Count(op))
	}
	return append(row, uint64(m.Total()))
}

// OpCase is one row of an op-count table to check against Process.
type OpCase struct {
	Row    string                   // the row's label
	New    func() balancer.Balancer // a fresh balancer with its backends
	Before []balancer.Packet        // processed first, unmetered, on Env.CPU
	P      balancer.Packet          // the packet measured
	Want   balancer.Action          // what P must get
}

// CheckOpTable runs each case as a subtest on env.CPU and fails it when
// the action differs from Want, or the counts of ops and the STU total
// that Process charged differ from the row of the [OpTable] at path under
// heading.
func CheckOpTable(t *testing.T, path, heading string, cpu int, ops []cost.Op, cases []OpCase) {
	t.Helper()
	doc := OpTable(t, path, heading, len(ops)+1)
	for _, c := range cases {
		t.Run(c.Row, func(t *testing.T) {
			want, ok := doc[c.Row]
			if !ok {
				t.Fatalf("%s has no op-count row %q", path, c.Row)
			}
			lb := c.New()
			for _, p := range c.Before {
				lb.Process(&balancer.Env{CPU: cpu}, &p)
			}
			m := cost.NewMeter(cost.Default())
			d := lb.Process(&balancer.Env{CPU: cpu, Meter: m}, &c.P)
			if d.Action != c.Want {
				t.Errorf("action %v (%q), want %v", d.Action, d.Reason, c.Want)
			}
			if got := Counts(m, ops...); !slices.Equal(got, want) {
				t.Errorf("Process charged %v, %s says %v (%v, STU)", got, path, want, ops)
			}
		})
	}
}
