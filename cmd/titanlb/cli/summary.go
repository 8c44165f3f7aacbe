package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/study"
)

const summaryAbout = `Summarizes a rows file: rows that differ only in their seed form a group,
and each metric (every number of sim.Result: Reliability, AvgCost,
LatencyP99, Drops.<reason>, ...) gets its mean over the seeds and the 95%
confidence interval of that mean (Student's t, n-1 degrees of freedom),
printed as mean ±half-width. -svg draws -metric against -axis, one line per
balancer (and per value of the other axes), with the intervals as error bars.

  titanlb summary rows.jsonl
  titanlb summary -metrics reliability,avgcost,drops.balancer rows.jsonl
  titanlb summary -svg reliability.svg -metric reliability -axis traffic.fragmentRate rows.jsonl
  titanlb summary -json rows.jsonl > summary.json
`

func cmdSummary(args []string, stdout, stderr io.Writer) int {
	c := newCommand("summary", "[flags] rows.jsonl", summaryAbout, stderr)
	metrics := c.fs.String("metrics", "", "comma-separated `metrics` for the table (default: "+strings.Join(study.DefaultMetrics, ",")+")")
	asJSON := c.fs.Bool("json", false, "print the whole summary (every metric of every group) as JSON instead of the table")
	svg := c.fs.String("svg", "", "write a plot of -metric against -axis to `file` (SVG)")
	metric := c.fs.String("metric", "Reliability", "the `metric` to plot")
	axis := c.fs.String("axis", "", "the `axis` to plot against (default: the only axis, or traffic.fragmentRate)")
	list := c.fs.Bool("list", false, "list the axes and metrics in the rows")
	pos, rest, status := c.parse(args)
	if status >= 0 {
		return status
	}
	if len(pos) != 1 || len(rest) > 0 {
		return c.fail("want one rows file")
	}
	s, err := study.SummarizeFile(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "titanlb summary: %v\n", err)
		return 1
	}
	if len(s.Groups) == 0 {
		fmt.Fprintf(stderr, "titanlb summary: %s: no rows\n", pos[0])
		return 1
	}
	if *list {
		fmt.Fprintf(stdout, "axes: %s\nmetrics:\n  %s\n", strings.Join(s.Axes, ", "), strings.Join(s.Metrics, "\n  "))
		return 0
	}
	if *svg != "" {
		a := *axis
		if a == "" {
			a = defaultAxis(s)
		}
		if a == "" {
			return c.fail("-axis: the rows have several axes (%s): name one", strings.Join(s.Axes, ", "))
		}
		if _, ok := s.Axis(a); !ok {
			return c.fail("-axis %q: the rows' axes are %s", a, strings.Join(s.Axes, ", "))
		}
		if _, ok := s.Metric(*metric); !ok {
			return c.fail("-metric %q: not in the rows (titanlb summary -list %s shows them)", *metric, pos[0])
		}
		if err := atomicfile.Write(*svg, 0o644, func(w io.Writer) error { return s.Plot(w, *metric, a) }); err != nil {
			fmt.Fprintf(stderr, "titanlb summary: -svg: %v\n", err)
			return 1
		}
	}
	if *asJSON {
		return printJSON(stdout, stderr, "summary", s)
	}
	var cols []string
	if *metrics != "" {
		cols = strings.Split(*metrics, ",")
	}
	if err := s.WriteTable(stdout, cols); err != nil {
		return c.fail("-metrics: %v", err)
	}
	return 0
}

// defaultAxis is the rows' only axis, or traffic.fragmentRate when they
// have it, or "".
func defaultAxis(s *study.Summary) string {
	if len(s.Axes) == 1 {
		return s.Axes[0]
	}
	if a, ok := s.Axis("traffic.fragmentRate"); ok {
		return a
	}
	return ""
}
