package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/titanlb/titanlb/xdp"
)

// exposition is a parsed Prometheus text exposition: sample values by
// `name{labels}` as written, and each family's type.
type exposition struct {
	samples map[string]float64
	types   map[string]string
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\S+)$`)
	helpRE   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|untyped)$`)
)

// parseExposition checks the text format strictly: HELP and TYPE once per
// family and before its samples, every sample of a family together, no
// sample twice, values numbers, counters named *_total.
func parseExposition(text string) (*exposition, error) {
	e := &exposition{samples: map[string]float64{}, types: map[string]string{}}
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("does not end with a newline")
	}
	done := map[string]bool{} // families whose samples are over
	cur := ""
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		if m := helpRE.FindStringSubmatch(line); m != nil {
			if _, ok := e.types[m[1]]; ok || done[m[1]] {
				return nil, fmt.Errorf("line %d: HELP for %s after its TYPE or samples", n, m[1])
			}
			continue
		}
		if m := typeRE.FindStringSubmatch(line); m != nil {
			if _, ok := e.types[m[1]]; ok {
				return nil, fmt.Errorf("line %d: second TYPE for %s", n, m[1])
			}
			if m[2] == "counter" && !strings.HasSuffix(m[1], "_total") {
				return nil, fmt.Errorf("line %d: counter %s not named *_total", n, m[1])
			}
			e.types[m[1]] = m[2]
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: not a sample, HELP or TYPE: %q", n, line)
		}
		name := m[1]
		if _, ok := e.types[name]; !ok {
			return nil, fmt.Errorf("line %d: sample of %s before its TYPE", n, name)
		}
		if name != cur {
			if done[name] {
				return nil, fmt.Errorf("line %d: samples of %s are not together", n, name)
			}
			if cur != "" {
				done[cur] = true
			}
			cur = name
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value %q: %w", n, m[3], err)
		}
		key := name + m[2]
		if _, ok := e.samples[key]; ok {
			return nil, fmt.Errorf("line %d: duplicate sample %s", n, key)
		}
		e.samples[key] = v
	}
	return e, nil
}

func TestParseExpositionRejects(t *testing.T) {
	for _, in := range []string{
		"x 1",                     // no newline
		"x 1\n",                   // no TYPE
		"# TYPE x gauge\nx one\n", // value
		"# TYPE x counter\nx 1\n", // counter name
		"# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"b\"} 2\n", // split family
		"# TYPE x gauge\nx{a=\"b\"} 1\nx{a=\"b\"} 2\n",             // duplicate
		"# TYPE x gauge\nx{a=\"b} 1\n",                             // quoting
	} {
		_, err := parseExposition(in)
		require.Error(t, err, "%q", in)
	}
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
	require.NoError(t, a.Reload(testConfig(t, 1, 1, ls[:2]...)))

	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))

	e, err := parseExposition(string(body))
	require.NoError(t, err, "%s", body)
	want := map[string]float64{
		`titanlb_agent_backend_up{id="101",name="b1",address="127.0.0.1"}`:                           1,
		`titanlb_agent_backend_up{id="102",name="b2",address="127.0.0.2"}`:                           1,
		`titanlb_agent_backend_up{id="103",name="b3",address="127.0.0.3"}`:                           0,
		`titanlb_agent_backend_draining{id="103",name="b3",address="127.0.0.3"}`:                     1,
		`titanlb_agent_backend_weight{id="103",name="b3",address="127.0.0.3"}`:                       0,
		`titanlb_agent_backend_weight{id="101",name="b1",address="127.0.0.1"}`:                       1,
		`titanlb_agent_health_checks_total{id="103",name="b3",address="127.0.0.3",result="success"}`: 1,
		`titanlb_agent_health_checks_total{id="103",name="b3",address="127.0.0.3",result="failure"}`: 1,
		`titanlb_agent_health_checks_total{id="101",name="b1",address="127.0.0.1",result="success"}`: 2,
		`titanlb_agent_backend_transitions_total{id="103",name="b3",address="127.0.0.3",to="down"}`:  1,
		`titanlb_agent_backend_transitions_total{id="101",name="b1",address="127.0.0.1",to="down"}`:  0,
		`titanlb_agent_health_rounds_total`:                                                          2,
		`titanlb_agent_reloads_total{result="success"}`:                                              1,
		`titanlb_agent_reloads_total{result="failure"}`:                                              0,
		`titanlb_agent_set_backends_total{result="success"}`:                                         3,
		`titanlb_xdp_up`:                                      1,
		`titanlb_xdp_packets_total`:                           1000,
		`titanlb_xdp_forwarded_total`:                         1001,
		`titanlb_xdp_dropped_total{reason="no_backend"}`:      float64(1000 + fieldIndex(t, "DropNoBackend")),
		`titanlb_xdp_conn_table_lookups_total{result="miss"}`: float64(1000 + fieldIndex(t, "ConnMisses")),
	}
	for k, v := range want {
		got, ok := e.samples[k]
		require.True(t, ok, "missing %s in\n%s", k, body)
		require.Equal(t, v, got, k)
	}
	require.Equal(t, "gauge", e.types["titanlb_agent_backend_up"])
	require.Equal(t, "counter", e.types["titanlb_xdp_dropped_total"])

	// Every counter of xdp.Stats is exported once, with its own value.
	seen := map[float64]bool{}
	for k, v := range e.samples {
		if strings.HasPrefix(k, "titanlb_xdp_") && k != "titanlb_xdp_up" {
			require.False(t, seen[v], "value %v twice", v)
			seen[v] = true
		}
	}
	require.Len(t, seen, sv.NumField())
}

func fieldIndex(t *testing.T, name string) int {
	f, ok := reflect.TypeFor[xdp.Stats]().FieldByName(name)
	require.True(t, ok, name)
	return f.Index[0]
}

func TestMetricsEscapingAndStatsError(t *testing.T) {
	ls := threeListeners(t)
	dp := &fakeDP{stErr: errors.New("map gone")}
	cfg := testConfig(t, 1, 1, ls...)
	cfg.Backends[1].Name = "odd \"name\"\\\nx"
	a := NewAgent(cfg, dp, AgentOptions{})
	var b strings.Builder
	require.ErrorContains(t, a.WriteMetrics(&b), "map gone")
	e, err := parseExposition(b.String())
	require.NoError(t, err, b.String())
	require.Contains(t, e.samples, `titanlb_agent_backend_up{id="102",name="odd \"name\"\\\nx",address="127.0.0.2"}`)
	require.Equal(t, 0.0, e.samples["titanlb_xdp_up"])
	require.NotContains(t, e.samples, "titanlb_xdp_packets_total")
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"DropBadIHL": "drop_bad_ihl", "PassNotIPv4": "pass_not_ipv4", "Packets": "packets", "HintHits": "hint_hits"} {
		require.Equal(t, want, snake(in))
	}
}
