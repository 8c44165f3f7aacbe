package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode"
)

// The metrics are written in the Prometheus text exposition format
// (version 0.0.4) by hand: a few families, no dependency.

// xdpSeries maps each [xdp.Stats] field to a metric family and its label.
// A field missing here is still exported, as titanlb_xdp_<snake_name>_total.
var xdpSeries = map[string]struct{ family, label string }{
	"Packets":          {"titanlb_xdp_packets_total", ""},
	"Forwarded":        {"titanlb_xdp_forwarded_total", ""},
	"PassNotIPv4":      {"titanlb_xdp_passed_total", `reason="not_ipv4"`},
	"PassNotVIP":       {"titanlb_xdp_passed_total", `reason="not_vip"`},
	"DropTruncated":    {"titanlb_xdp_dropped_total", `reason="truncated"`},
	"DropBadVersion":   {"titanlb_xdp_dropped_total", `reason="bad_version"`},
	"DropBadIHL":       {"titanlb_xdp_dropped_total", `reason="bad_ihl"`},
	"DropBadLength":    {"titanlb_xdp_dropped_total", `reason="bad_length"`},
	"DropFragOverrun":  {"titanlb_xdp_dropped_total", `reason="frag_overrun"`},
	"DropEmptyFrag":    {"titanlb_xdp_dropped_total", `reason="empty_fragment"`},
	"DropL4Truncated":  {"titanlb_xdp_dropped_total", `reason="l4_truncated"`},
	"DropNoBackend":    {"titanlb_xdp_dropped_total", `reason="no_backend"`},
	"DropFragConflict": {"titanlb_xdp_dropped_total", `reason="fragment_conflict"`},
	"DropFragment":     {"titanlb_xdp_dropped_total", `reason="fragment"`},
	"DropEncap":        {"titanlb_xdp_dropped_total", `reason="encap"`},
	"ConnHits":         {"titanlb_xdp_conn_table_lookups_total", `result="hit"`},
	"ConnMisses":       {"titanlb_xdp_conn_table_lookups_total", `result="miss"`},
	"Repicks":          {"titanlb_xdp_repicks_total", ""},
	"FragHits":         {"titanlb_xdp_frag_table_lookups_total", `result="hit"`},
	"FragMisses":       {"titanlb_xdp_frag_table_lookups_total", `result="miss"`},
	"FragExpired":      {"titanlb_xdp_frag_table_lookups_total", `result="expired"`},
	"Orphans":          {"titanlb_xdp_orphan_fragments_total", ""},
	"HintHits":         {"titanlb_xdp_host_hint_hits_total", ""},
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

// metricsWriter writes families in order, each HELP and TYPE once.
type metricsWriter struct {
	b    bytes.Buffer
	seen map[string]bool
}

func (w *metricsWriter) family(name, typ, help string) {
	if w.seen[name] {
		return
	}
	w.seen[name] = true
	fmt.Fprintf(&w.b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (w *metricsWriter) sample(name, labels string, v uint64) {
	w.b.WriteString(name)
	if labels != "" {
		w.b.WriteString("{" + labels + "}")
	}
	w.b.WriteString(" " + strconv.FormatUint(v, 10) + "\n")
}

// label formats name="value" with the value escaped as the format wants.
func label(name, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return name + `="` + r.Replace(value) + `"`
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// WriteMetrics writes the agent's state and the program's counters in the
// Prometheus text format. When the counters cannot be read, the agent's
// series are still written and titanlb_xdp_up is 0.
func (a *Agent) WriteMetrics(out io.Writer) error {
	bes := a.Backends()
	a.mu.Lock()
	rounds, rok, rko, pok, pko := a.rounds, a.reloadOK, a.reloadKO, a.pushOK, a.pushKO
	a.mu.Unlock()
	w := &metricsWriter{seen: map[string]bool{}}

	type gauge struct {
		name, typ, help string
		v               func(BackendStatus) uint64
	}
	for _, g := range []gauge{
		{"titanlb_agent_backend_up", "gauge", "1 when the backend passes its health checks.", func(s BackendStatus) uint64 { return b2u(s.Up) }},
		{"titanlb_agent_backend_draining", "gauge", "1 while a backend removed from the config drains at weight 0.", func(s BackendStatus) uint64 { return b2u(s.Draining) }},
		{"titanlb_agent_backend_weight", "gauge", "Weight given to the datapath (0 while draining).", func(s BackendStatus) uint64 { return uint64(s.Weight) }},
		{"titanlb_agent_backend_transitions_total", "counter", "Health transitions after the first check, by direction.", nil},
		{"titanlb_agent_health_checks_total", "counter", "TCP connect health checks, by result.", nil},
	} {
		w.family(g.name, g.typ, g.help)
		for _, s := range bes {
			ls := strings.Join([]string{label("id", s.Config.ID.String()), label("name", s.Config.Name), label("address", s.Config.Addr.String())}, ",")
			switch g.name {
			case "titanlb_agent_backend_transitions_total":
				w.sample(g.name, ls+`,to="up"`, s.Ups)
				w.sample(g.name, ls+`,to="down"`, s.Downs)
			case "titanlb_agent_health_checks_total":
				w.sample(g.name, ls+`,result="success"`, s.ChecksOK)
				w.sample(g.name, ls+`,result="failure"`, s.ChecksFailed)
			default:
				w.sample(g.name, ls, g.v(s))
			}
		}
	}
	w.family("titanlb_agent_health_rounds_total", "counter", "Rounds of health checks completed.")
	w.sample("titanlb_agent_health_rounds_total", "", rounds)
	w.family("titanlb_agent_reloads_total", "counter", "Config reloads (SIGHUP), by result; a failed one keeps the old config.")
	w.sample("titanlb_agent_reloads_total", `result="success"`, rok)
	w.sample("titanlb_agent_reloads_total", `result="failure"`, rko)
	w.family("titanlb_agent_set_backends_total", "counter", "Backend sets written to the datapath, by result.")
	w.sample("titanlb_agent_set_backends_total", `result="success"`, pok)
	w.sample("titanlb_agent_set_backends_total", `result="failure"`, pko)

	st, err := a.dp.Stats()
	w.family("titanlb_xdp_up", "gauge", "1 when the program's counters could be read.")
	w.sample("titanlb_xdp_up", "", b2u(err == nil))
	if err == nil {
		// Group the samples by family: the format wants each family's
		// samples together, whatever the field order.
		type sample struct {
			labels string
			v      uint64
		}
		var order []string
		fams := map[string][]sample{}
		v := reflect.ValueOf(st)
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Type.Kind() != reflect.Uint64 {
				continue
			}
			s, ok := xdpSeries[f.Name]
			if !ok {
				s.family = "titanlb_xdp_" + snake(f.Name) + "_total"
			}
			if _, ok := fams[s.family]; !ok {
				order = append(order, s.family)
			}
			fams[s.family] = append(fams[s.family], sample{s.label, v.Field(i).Uint()})
		}
		for _, name := range order {
			help := xdpHelp[name]
			if help == "" {
				help = "A counter of the XDP program."
			}
			w.family(name, "counter", help)
			for _, s := range fams[name] {
				w.sample(name, s.labels, s.v)
			}
		}
	}
	_, werr := out.Write(w.b.Bytes())
	if err != nil {
		return fmt.Errorf("agent: metrics: %w", err)
	}
	return werr
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

// Handler serves /metrics.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		if err := a.WriteMetrics(bw); err != nil {
			a.log.Warn("metrics", "err", err)
		}
		bw.Flush()
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "titanlb agent: metrics at /metrics")
	})
	return mux
}
