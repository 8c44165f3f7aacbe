package testutil

import (
	"os"
	"strconv"
	"strings"
	"testing"

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
