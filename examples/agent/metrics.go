package main

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/titanlb/titanlb/xdp"
)

// The metrics go through prometheus/client_golang: a [prometheus.Collector]
// reads the agent's state and the program's counters on each scrape, so
// nothing is kept twice, and the library writes the exposition format.

// xdpSeries maps each [xdp.Stats] field to a metric family and, for
// families that share a name, its label. A field missing here is still
// exported, as titanlb_xdp_<snake_name>_total.
var xdpSeries = map[string]struct{ family, label, value string }{
	"Packets":          {"titanlb_xdp_packets_total", "", ""},
	"Forwarded":        {"titanlb_xdp_forwarded_total", "", ""},
	"PassNotIPv4":      {"titanlb_xdp_passed_total", "reason", "not_ipv4"},
	"PassNotVIP":       {"titanlb_xdp_passed_total", "reason", "not_vip"},
	"DropTruncated":    {"titanlb_xdp_dropped_total", "reason", "truncated"},
	"DropBadVersion":   {"titanlb_xdp_dropped_total", "reason", "bad_version"},
	"DropBadIHL":       {"titanlb_xdp_dropped_total", "reason", "bad_ihl"},
	"DropBadLength":    {"titanlb_xdp_dropped_total", "reason", "bad_length"},
	"DropFragOverrun":  {"titanlb_xdp_dropped_total", "reason", "frag_overrun"},
	"DropEmptyFrag":    {"titanlb_xdp_dropped_total", "reason", "empty_fragment"},
	"DropL4Truncated":  {"titanlb_xdp_dropped_total", "reason", "l4_truncated"},
	"DropNoBackend":    {"titanlb_xdp_dropped_total", "reason", "no_backend"},
	"DropFragConflict": {"titanlb_xdp_dropped_total", "reason", "fragment_conflict"},
	"DropFragment":     {"titanlb_xdp_dropped_total", "reason", "fragment"},
	"DropEncap":        {"titanlb_xdp_dropped_total", "reason", "encap"},
	"ConnHits":         {"titanlb_xdp_conn_table_lookups_total", "result", "hit"},
	"ConnMisses":       {"titanlb_xdp_conn_table_lookups_total", "result", "miss"},
	"Repicks":          {"titanlb_xdp_repicks_total", "", ""},
	"FragHits":         {"titanlb_xdp_frag_table_lookups_total", "result", "hit"},
	"FragMisses":       {"titanlb_xdp_frag_table_lookups_total", "result", "miss"},
	"FragExpired":      {"titanlb_xdp_frag_table_lookups_total", "result", "expired"},
	"Orphans":          {"titanlb_xdp_orphan_fragments_total", "", ""},
	"HintHits":         {"titanlb_xdp_host_hint_hits_total", "", ""},
}

// xdpHelp is the HELP text of each family.
var xdpHelp = map[string]string{
	"titanlb_xdp_packets_total":            "Packets the XDP program saw.",
	"titanlb_xdp_forwarded_total":          "Packets encapsulated toward a backend (XDP_TX).",
	"titanlb_xdp_passed_total":             "Packets passed to the kernel stack, by reason.",
	"titanlb_xdp_dropped_total":            "Packets dropped, by reason.",
	"titanlb_xdp_conn_table_lookups_total": "Connection table lookups with a usable backend (hit) and misses.",
	"titanlb_xdp_repicks_total":            "Table hits whose backend was down or gone, re-picked from the ring.",
	"titanlb_xdp_frag_table_lookups_total": "Fragment table lookups by result.",
	"titanlb_xdp_orphan_fragments_total":   "Non-first fragments without a usable fragment table entry.",
	"titanlb_xdp_host_hint_hits_total":     "Orphan fragments sent by the host-pair hint.",
}

// xdpField is one uint64 field of xdp.Stats and the sample it becomes.
type xdpField struct {
	index int
	desc  *prometheus.Desc
	label string // the label's value, "" for a family without label
}

// collector is the agent's [prometheus.Collector].
type collector struct {
	a   *Agent
	xdp []xdpField

	backendUp, backendDraining, backendWeight, backendServing *prometheus.Desc
	transitions, checks                                       *prometheus.Desc
	rounds, skipped, overlap, inFlight                        *prometheus.Desc
	reloads, sets, synced, adopted, xdpUp                     *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(a *Agent) *collector {
	be := []string{"id", "name", "address"}
	c := &collector{
		a:               a,
		backendUp:       prometheus.NewDesc("titanlb_agent_backend_up", "1 when the backend passes its health checks.", be, nil),
		backendDraining: prometheus.NewDesc("titanlb_agent_backend_draining", "1 while a backend removed from the config drains at weight 0.", be, nil),
		backendWeight:   prometheus.NewDesc("titanlb_agent_backend_weight", "Weight given to the datapath (0 while draining).", be, nil),
		backendServing:  prometheus.NewDesc("titanlb_agent_backend_serving", "1 when the backend set the datapath holds gives this backend new flows; differs from _up while a write to the datapath fails.", be, nil),
		transitions:     prometheus.NewDesc("titanlb_agent_backend_transitions_total", "Health transitions after the first check, by direction.", append(be, "to"), nil),
		checks:          prometheus.NewDesc("titanlb_agent_health_checks_total", "TCP connect health checks, by result.", append(be, "result"), nil),
		rounds:          prometheus.NewDesc("titanlb_agent_health_rounds_total", "Rounds of health checks completed.", nil, nil),
		skipped:         prometheus.NewDesc("titanlb_agent_health_checks_skipped_total", "Checks that could not run for the agent's own shortage: file descriptors, buffers, ports, or two checks of the backend still running; they count for no backend.", nil, nil),
		overlap:         prometheus.NewDesc("titanlb_agent_health_checks_overlapping_total", "Checks started while the backend's previous check was still running (health.timeout close to health.interval, or a stalled agent).", nil, nil),
		inFlight:        prometheus.NewDesc("titanlb_agent_health_checks_in_flight", "Health checks under way.", nil, nil),
		reloads:         prometheus.NewDesc("titanlb_agent_reloads_total", "Config reloads (SIGHUP), by result; a failed one keeps the old config.", []string{"result"}, nil),
		sets:            prometheus.NewDesc("titanlb_agent_set_backends_total", "Backend sets written to the datapath, by result.", []string{"result"}, nil),
		synced:          prometheus.NewDesc("titanlb_agent_datapath_synced", "1 when the datapath holds the backend set the agent wants; 0 while writing it fails.", nil, nil),
		adopted:         prometheus.NewDesc("titanlb_agent_datapath_adopted", "1 when the agent adopted a datapath pinned by a previous agent (its tables kept), 0 when it loaded one.", nil, nil),
		xdpUp:           prometheus.NewDesc("titanlb_xdp_up", "1 when the program's counters could be read.", nil, nil),
	}
	st := reflect.TypeFor[xdp.Stats]()
	descs := map[string]*prometheus.Desc{}
	for i := range st.NumField() {
		f := st.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Uint64 {
			continue
		}
		s, ok := xdpSeries[f.Name]
		if !ok {
			s.family = "titanlb_xdp_" + snake(f.Name) + "_total"
		}
		d := descs[s.family]
		if d == nil {
			help := xdpHelp[s.family]
			if help == "" {
				help = "A counter of the XDP program."
			}
			var labels []string
			if s.label != "" {
				labels = []string{s.label}
			}
			d = prometheus.NewDesc(s.family, help, labels, nil)
			descs[s.family] = d
		}
		c.xdp = append(c.xdp, xdpField{index: i, desc: d, label: s.value})
	}
	return c
}

// Describe implements [prometheus.Collector].
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.backendUp, c.backendDraining, c.backendWeight, c.backendServing,
		c.transitions, c.checks, c.rounds, c.skipped, c.overlap, c.inFlight, c.reloads, c.sets, c.synced, c.adopted, c.xdpUp} {
		ch <- d
	}
	seen := map[*prometheus.Desc]bool{}
	for _, f := range c.xdp {
		if !seen[f.desc] {
			seen[f.desc] = true
			ch <- f.desc
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements [prometheus.Collector]: a snapshot of the agent and
// one read of the program's per-CPU counters. When the counters cannot be
// read, titanlb_xdp_up is 0 and no titanlb_xdp_*_total series is sent.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	bes := a.Backends()
	a.mu.Lock()
	rounds, skipped, overlap := a.rounds, a.skipped, a.overlap
	rok, rko, pok, pko, synced, adopted := a.reloadOK, a.reloadKO, a.pushOK, a.pushKO, a.synced && a.hasPush, a.adopted
	a.mu.Unlock()

	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, l ...string) {
		m, err := prometheus.NewConstMetric(d, t, v, l...)
		if err != nil { // a label value that is not UTF-8: the scrape reports it
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) { send(d, prometheus.GaugeValue, v, l...) }
	counter := func(d *prometheus.Desc, v uint64, l ...string) { send(d, prometheus.CounterValue, float64(v), l...) }
	for _, s := range bes {
		l := []string{s.Config.ID.String(), s.Config.Name, s.Config.Addr.String()}
		gauge(c.backendUp, b2f(s.Up), l...)
		gauge(c.backendDraining, b2f(s.Draining), l...)
		gauge(c.backendWeight, float64(s.Weight), l...)
		gauge(c.backendServing, b2f(s.Serving), l...)
		counter(c.transitions, s.Ups, append(l, "up")...)
		counter(c.transitions, s.Downs, append(l, "down")...)
		counter(c.checks, s.ChecksOK, append(l, "success")...)
		counter(c.checks, s.ChecksFailed, append(l, "failure")...)
	}
	counter(c.rounds, rounds)
	counter(c.skipped, skipped)
	counter(c.overlap, overlap)
	gauge(c.inFlight, float64(a.inFlight.Load()))
	counter(c.reloads, rok, "success")
	counter(c.reloads, rko, "failure")
	counter(c.sets, pok, "success")
	counter(c.sets, pko, "failure")
	gauge(c.synced, b2f(synced))
	gauge(c.adopted, b2f(adopted))

	st, err := a.dp.Stats()
	gauge(c.xdpUp, b2f(err == nil))
	if err != nil {
		a.log.Warn("metrics: reading the program's counters", "err", err)
		return
	}
	v := reflect.ValueOf(st)
	for _, f := range c.xdp {
		if f.label != "" {
			counter(f.desc, v.Field(f.index).Uint(), f.label)
		} else {
			counter(f.desc, v.Field(f.index).Uint())
		}
	}
}

// snake turns "DropBadIHL" into "drop_bad_ihl".
func snake(s string) string {
	var b strings.Builder
	rs := []rune(strings.ReplaceAll(s, "IPv4", "Ipv4"))
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// Registry returns a new registry with the agent's collector, its round
// duration histogram, and the Go runtime's and the process's collectors
// (go_*, process_*: memory, open file descriptors).
func (a *Agent) Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(a), a.roundSeconds, a.spacing,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves /metrics from a new [Agent.Registry]: at most 4 scrapes at
// once, each given up after 10 seconds, and scrapes less than
// [scrapeTTL] apart share one collection, so that a burst of scrapers costs
// the agent one (at 4096 backends a collection is about 33,000 series).
func (a *Agent) Handler() http.Handler {
	reg := a.Registry()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(&cachedGatherer{g: reg, ttl: scrapeTTL}, promhttp.HandlerOpts{
		ErrorLog:            slogAdapter{a},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "titanlb agent: metrics at /metrics")
	})
	return mux
}

// scrapeTTL is how long one collection serves scrapes.
const scrapeTTL = time.Second

// cachedGatherer gathers at most once per ttl; scrapes that arrive during
// a collection wait for it and share it. promhttp only reads the families.
type cachedGatherer struct {
	g   prometheus.Gatherer
	ttl time.Duration

	mu  sync.Mutex
	at  time.Time
	mfs []*dto.MetricFamily
	err error
}

// Gather implements [prometheus.Gatherer].
func (c *cachedGatherer) Gather() ([]*dto.MetricFamily, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mfs == nil || time.Since(c.at) >= c.ttl {
		c.mfs, c.err = c.g.Gather()
		c.at = time.Now()
	}
	return c.mfs, c.err
}

// slogAdapter gives promhttp the agent's logger.
type slogAdapter struct{ a *Agent }

func (s slogAdapter) Println(v ...any) { s.a.log.Warn("metrics", "err", fmt.Sprint(v...)) }
