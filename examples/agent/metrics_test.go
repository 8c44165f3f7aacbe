package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/titanlb/titanlb/xdp"
)

// exposition is a parsed Prometheus exposition: sample values by
// `name{label="value",...}` (labels in name order, as the library writes
// them; a histogram gives name_count, name_sum and name_bucket{le="x"}, a
// summary name_count and name_sum), and each
// family's type.
type exposition struct {
	samples map[string]float64
	types   map[string]string
}

// parseExposition parses the text format with the Prometheus library's own
// parser, which refuses a malformed exposition (a repeated family, a
// sample before its TYPE, bad quoting).
func parseExposition(text string) (*exposition, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	return fromFamilies(fams), nil
}

func fromFamilies(fams map[string]*dto.MetricFamily) *exposition {
	e := &exposition{samples: map[string]float64{}, types: map[string]string{}}
	for name, f := range fams {
		e.types[name] = strings.ToLower(f.GetType().String())
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				e.samples[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				e.samples[key] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				e.samples[key] = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				e.samples[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
				e.samples[name+"_sum"] = m.GetHistogram().GetSampleSum()
				for _, b := range m.GetHistogram().GetBucket() {
					e.samples[fmt.Sprintf("%s_bucket{le=%q}", name, strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))] = float64(b.GetCumulativeCount())
				}
			case m.Summary != nil:
				e.samples[name+"_count"] = float64(m.GetSummary().GetSampleCount())
				e.samples[name+"_sum"] = m.GetSummary().GetSampleSum()
			}
		}
	}
	return e
}

// gather collects the agent's registry, as a scrape would, and returns its
// samples.
func gather(t *testing.T, a *Agent) map[string]float64 {
	t.Helper()
	fams, err := a.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return fromFamilies(m).samples
}

func TestMetrics(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{}
	// Every counter a distinct value, to see each reach its series.
	sv := reflect.ValueOf(&dp.stats).Elem()
	for i := range sv.NumField() {
		sv.Field(i).SetUint(uint64(1000 + i))
	}
	a := NewAgent(testConfig(t, 1, 1, ls...), dp, AgentOptions{})
	checkAll(t, a)
	ls[2].stop()
	checkAll(t, a)
	if err := a.Reload(testConfig(t, 1, 1, ls[:2]...)); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4; charset=utf-8") {
		t.Fatalf("Content-Type %q, want the text format 0.0.4", ct)
	}

	e, err := parseExposition(string(body))
	if err != nil {
		t.Fatalf("%v in\n%s", err, body)
	}
	want := map[string]float64{
		`titanlb_agent_backend_up{address="127.0.0.1",id="101",name="b1"}`:                           1,
		`titanlb_agent_backend_up{address="127.0.0.2",id="102",name="b2"}`:                           1,
		`titanlb_agent_backend_up{address="127.0.0.3",id="103",name="b3"}`:                           0,
		`titanlb_agent_backend_draining{address="127.0.0.3",id="103",name="b3"}`:                     1,
		`titanlb_agent_backend_weight{address="127.0.0.3",id="103",name="b3"}`:                       0,
		`titanlb_agent_backend_weight{address="127.0.0.1",id="101",name="b1"}`:                       1,
		`titanlb_agent_backend_serving{address="127.0.0.1",id="101",name="b1"}`:                      1,
		`titanlb_agent_backend_serving{address="127.0.0.3",id="103",name="b3"}`:                      0,
		`titanlb_agent_health_checks_total{address="127.0.0.3",id="103",name="b3",result="success"}`: 1,
		`titanlb_agent_health_checks_total{address="127.0.0.3",id="103",name="b3",result="failure"}`: 1,
		`titanlb_agent_health_checks_total{address="127.0.0.1",id="101",name="b1",result="success"}`: 2,
		`titanlb_agent_backend_transitions_total{address="127.0.0.3",id="103",name="b3",to="down"}`:  1,
		`titanlb_agent_backend_transitions_total{address="127.0.0.1",id="101",name="b1",to="down"}`:  0,
		`titanlb_agent_health_rounds_total`:                                                          2,
		`titanlb_agent_health_round_duration_seconds_count`:                                          2,
		`titanlb_agent_health_check_spacing_intervals_count`:                                         3, // one per backend, from the second round
		`titanlb_agent_health_checks_skipped_total`:                                                  0,
		`titanlb_agent_health_checks_in_flight`:                                                      0,
		`titanlb_agent_reloads_total{result="success"}`:                                              1,
		`titanlb_agent_reloads_total{result="failure"}`:                                              0,
		`titanlb_agent_set_backends_total{result="success"}`:                                         3,
		`titanlb_agent_datapath_synced`:                                                              1,
		`titanlb_xdp_up`:                                                                             1,
		`titanlb_xdp_packets_total`:                                                                  1000,
		`titanlb_xdp_forwarded_total`:                                                                1001,
		`titanlb_xdp_dropped_total{reason="no_backend"}`:                                             float64(1000 + fieldIndex(t, "DropNoBackend")),
		`titanlb_xdp_conn_table_lookups_total{result="miss"}`:                                        float64(1000 + fieldIndex(t, "ConnMisses")),
	}
	for k, v := range want {
		got, ok := e.samples[k]
		if !ok {
			t.Fatalf("missing %s in\n%s", k, body)
		}
		if got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for name, typ := range map[string]string{"titanlb_agent_backend_up": "gauge", "titanlb_xdp_dropped_total": "counter",
		"titanlb_agent_health_round_duration_seconds": "histogram"} {
		if e.types[name] != typ {
			t.Errorf("type of %s = %q, want %s", name, e.types[name], typ)
		}
	}
	// The process's own figures, for the soak test and operators.
	for _, k := range []string{"process_open_fds", "process_resident_memory_bytes", "go_goroutines"} {
		if e.samples[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, e.samples[k])
		}
	}

	// Every counter of xdp.Stats is exported once, with its own value.
	seen := map[float64]bool{}
	for k, v := range e.samples {
		if strings.HasPrefix(k, "titanlb_xdp_") && k != "titanlb_xdp_up" {
			if seen[v] {
				t.Errorf("value %v twice (%s)", v, k)
			}
			seen[v] = true
		}
	}
	if len(seen) != sv.NumField() {
		t.Errorf("%d xdp series, want one per xdp.Stats field (%d)", len(seen), sv.NumField())
	}
}

func fieldIndex(t *testing.T, name string) int {
	f, ok := reflect.TypeFor[xdp.Stats]().FieldByName(name)
	if !ok {
		t.Fatalf("xdp.Stats has no field %s", name)
	}
	return f.Index[0]
}

func TestMetricsEscapingAndStatsError(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{stErr: errors.New("map gone")}
	cfg := testConfig(t, 1, 1, ls...)
	cfg.Backends[1].Name = "odd \"name\"\\\nx"
	a := NewAgent(cfg, dp, AgentOptions{})
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	m := scrape(t, srv.URL)
	if _, ok := m[`titanlb_agent_backend_up{address="127.0.0.2",id="102",name="odd \"name\"\\\nx"}`]; !ok {
		t.Errorf("the odd name did not come back escaped: %v", m)
	}
	if got, ok := m["titanlb_xdp_up"]; !ok || got != 0 {
		t.Errorf("titanlb_xdp_up = %v (present %v), want 0", got, ok)
	}
	if _, ok := m["titanlb_xdp_packets_total"]; ok {
		t.Error("program counters exported although they could not be read")
	}
}

// TestMetricsStateDivergence reproduces finding 5 of issue 14: when the
// datapath refuses a backend set, the metrics said the new backend was up
// while the datapath kept the old set. titanlb_agent_backend_serving and
// titanlb_agent_datapath_synced now tell.
func TestMetricsStateDivergence(t *testing.T) {
	ls := threeListeners(t)
	ls[2].stop()
	dp := &fakeDP{}
	a := NewAgent(testConfig(t, 1, 1, ls...), dp, AgentOptions{})
	checkAll(t, a) // 103 starts down
	dp.mu.Lock()
	dp.setErr = errors.New("ring too small")
	dp.mu.Unlock()
	ls[2].start()
	if err := a.CheckAll(t.Context()); err == nil {
		t.Fatal("the refused write was not reported")
	}
	m := gather(t, a)
	up := `{address="127.0.0.3",id="103",name="b3"}`
	if m["titanlb_agent_backend_up"+up] != 1 || m["titanlb_agent_backend_serving"+up] != 0 || m["titanlb_agent_datapath_synced"] != 0 {
		t.Errorf("up %v, serving %v, synced %v; want 1, 0, 0", m["titanlb_agent_backend_up"+up], m["titanlb_agent_backend_serving"+up], m["titanlb_agent_datapath_synced"])
	}
	dp.mu.Lock()
	dp.setErr = nil
	dp.mu.Unlock()
	checkAll(t, a) // the next round retries
	m = gather(t, a)
	if m["titanlb_agent_backend_serving"+up] != 1 || m["titanlb_agent_datapath_synced"] != 1 {
		t.Errorf("after the retry: serving %v, synced %v; want 1, 1", m["titanlb_agent_backend_serving"+up], m["titanlb_agent_datapath_synced"])
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"DropBadIHL": "drop_bad_ihl", "PassNotIPv4": "pass_not_ipv4", "Packets": "packets", "HintHits": "hint_hits"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// countingDP counts the reads of the program's counters: one per
// collection.
type countingDP struct {
	fakeDP
	reads atomic.Int64
}

func (c *countingDP) Stats() (xdp.Stats, error) {
	c.reads.Add(1)
	return c.fakeDP.Stats()
}

// TestScrapesShareACollection: a burst of scrapes costs one collection;
// a scrape after scrapeTTL collects again.
func TestScrapesShareACollection(t *testing.T) {
	dp := &countingDP{}
	a := NewAgent(manyBackends(100, time.Second, time.Second), dp, AgentOptions{})
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	for range 4 { // the in-flight limit
		wg.Go(func() {
			res, err := srv.Client().Get(srv.URL + "/metrics")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("scrape: %d", res.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := dp.reads.Load(); n != 1 {
		t.Errorf("4 scrapes at once read the counters %d times, want 1", n)
	}
	time.Sleep(scrapeTTL)
	scrape(t, srv.URL)
	if n := dp.reads.Load(); n != 2 {
		t.Errorf("a scrape after %v read the counters %d times in all, want 2", scrapeTTL, n)
	}
}
