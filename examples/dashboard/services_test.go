package main

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

// servicesConfig is testConfig with the two services of -services.
func servicesConfig() Config {
	cfg := testConfig
	cfg.Services = twoServices(sim.Backends(3))
	return cfg
}

// serving returns the lanes that serve services and the others.
func serving(t *testing.T) (in, out []string) {
	t.Helper()
	for _, l := range lanes() {
		lb, err := l.New()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := lb.(balancer.ServiceSetter); ok {
			in = append(in, l.Name)
		} else {
			out = append(out, l.Name)
		}
	}
	return in, out
}

// TestServicesState checks -services: the state lists the two services
// with their pools and rings, the balancers without SetServices as left
// out, and a tick's figures are sim.Run's for the services, per service.
func TestServicesState(t *testing.T) {
	srv, hs := newTestServer(t, servicesConfig())
	in, out := serving(t)
	var st State
	call(t, hs, "GET", "/api/state", "", &st)
	if len(st.Services) != 2 || st.Services[0].Key != "192.0.2.1:443/udp" || st.Services[1].Key != "192.0.2.1:8443/udp" {
		t.Fatalf("services %+v", st.Services)
	}
	for i, want := range [][]uint32{{101, 102}, {102, 103}} {
		svc := st.Services[i]
		if !slices.Equal(svc.Pool, want) {
			t.Errorf("service %d: pool %v, want %v", i, svc.Pool, want)
		}
		var total uint64
		for id, n := range svc.Ring.Counts {
			if n > 0 && !slices.ContainsFunc(want, func(w uint32) bool { return id == balancer.BackendID(w).String() }) {
				t.Errorf("service %d: %d slots for %s, not in its pool", i, n, id)
			}
			total += n
		}
		if total != uint64(svc.Ring.Size) || len(svc.Ring.Samples) != 1024 {
			t.Errorf("service %d: ring of %d slots, %d assigned, %d samples", i, svc.Ring.Size, total, len(svc.Ring.Samples))
		}
	}
	for _, name := range out {
		if st.LeftOut[name] != "does not implement balancer.ServiceSetter" {
			t.Errorf("left out: %v, want %s named", st.LeftOut, name)
		}
	}
	call(t, hs, "POST", "/api/settings", `{"fragment_rate": 0.5, "reorder": 0.5}`, nil)
	srv.Step()
	cur := srv.State().Current
	if cur == nil || len(cur.Balancers) != len(in) {
		t.Fatalf("current %+v; want figures of %v", cur, in)
	}
	cfg := servicesConfig().withDefaults()
	ss := srv.State().Services
	for _, l := range lanes() {
		if !slices.Contains(in, l.Name) {
			continue
		}
		srv.mu.Lock()
		svcs := srv.servicesLocked()
		srv.mu.Unlock()
		r, err := sim.Run(scenario(cfg, Settings{FragmentRate: 0.5, Reorder: 0.5}, sim.Backends(3), svcs, cfg.Seed+int64(cur.Tick)), l.New)
		if err != nil {
			t.Fatal(err)
		}
		got := cur.Balancers[l.Name]
		if want := figures(r); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: figures %+v, sim.Run gives %+v", l.Name, got, want)
		}
		for _, svc := range ss {
			f, ok := got.Services[svc.Key]
			if !ok || f.Datagrams == 0 || f.Fragments == 0 {
				t.Errorf("%s: service %s figures %+v", l.Name, svc.Key, f)
			}
		}
	}
}

// TestServicePoolAPI changes a service's pool through the API and checks
// the answers, the ring and the next tick; then the errors.
func TestServicePoolAPI(t *testing.T) {
	srv, hs := newTestServer(t, servicesConfig())
	var st State
	if code := call(t, hs, "POST", "/api/services/1", `{"pool": [103]}`, &st); code != http.StatusOK {
		t.Fatalf("POST a pool: %d", code)
	}
	svc := st.Services[1]
	if !slices.Equal(svc.Pool, []uint32{103}) || svc.Ring.Counts["103"] != uint64(svc.Ring.Size) || svc.Ring.Moved == 0 || st.Version != 1 {
		t.Errorf("after the pool change: pool %v, counts %v, moved %v, version %d", svc.Pool, svc.Ring.Counts, svc.Ring.Moved, st.Version)
	}
	if !slices.Equal(st.Services[0].Pool, []uint32{101, 102}) {
		t.Errorf("the other service's pool changed: %v", st.Services[0].Pool)
	}
	// The same pool again changes nothing.
	call(t, hs, "POST", "/api/services/1", `{"pool": [103]}`, &st)
	if st.Version != 1 {
		t.Errorf("version %d after posting the same pool", st.Version)
	}
	// A health-down applies to the backend in every service.
	call(t, hs, "POST", "/api/backends/102", `{"up": false}`, &st)
	if n := st.Services[0].Ring.Counts["102"]; n != 0 {
		t.Errorf("102 down still holds %d slots of service 0's ring", n)
	}
	srv.Step()
	for name, f := range srv.State().Current.Balancers {
		if f.Services["192.0.2.1:8443/udp"].Datagrams == 0 {
			t.Errorf("%s: no datagrams of the service whose pool is 103", name)
		}
	}
	for _, tc := range []struct {
		path, body string
		code       int
		field, msg string
	}{
		{"/api/services/0", `{"pool": []}`, 400, "pool", "service 0: pool: must list at least one backend"},
		{"/api/services/0", `{"pool": [101, 999]}`, 400, "pool", "service 0: pool[1] 999: no such backend (have 101, 102, 103)"},
		{"/api/services/0", `{"pool": [101, 101]}`, 400, "pool", "service 0: pool[1] 101: listed twice"},
		{"/api/services/0", `{}`, 400, "pool", "service 0: pool: required"},
		{"/api/services/0", `{"pool": [101], "weight": 2}`, 400, "weight", "service 0: weight: unknown field"},
		{"/api/services/0", `{"pool": "101"}`, 400, "pool", "service 0: pool"},
		{"/api/services/2", `{"pool": [101]}`, 404, "index", "service: index 2: no such service (have 0 to 1)"},
		{"/api/services/x", `{"pool": [101]}`, 400, "index", `service: index "x": not a service index`},
		{"/api/services/01", `{"pool": [101]}`, 400, "index", `service: index "01": not a service index`},
	} {
		var e apiError
		if code := call(t, hs, "POST", tc.path, tc.body, &e); code != tc.code || e.Field != tc.field || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("POST %s %s: %d %+v; want %d naming %q with %q", tc.path, tc.body, code, e, tc.code, tc.field, tc.msg)
		}
	}
	if st := srv.State(); !slices.Equal(st.Services[0].Pool, []uint32{101, 102}) {
		t.Errorf("refused requests changed the pool: %v", st.Services[0].Pool)
	}
	// Without services there is no such endpoint's object.
	_, plain := newTestServer(t, testConfig)
	var e apiError
	if code := call(t, plain, "POST", "/api/services/0", `{"pool": [101]}`, &e); code != 404 || !strings.Contains(e.Error, "no services") {
		t.Errorf("without services: %d %+v", code, e)
	}
	if code := call(t, plain, "GET", "/api/services/0", "", &e); code != 405 {
		t.Errorf("GET a service: %d", code)
	}
}
