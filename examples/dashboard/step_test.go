package main

import (
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

// TestStepFigures checks that a tick's figures are sim.Run's for the
// settings and backends of the moment, and that the history keeps the
// last cfg.History ticks in order.
func TestStepFigures(t *testing.T) {
	srv, hs := newTestServer(t, testConfig)
	call(t, hs, "POST", "/api/settings", `{"fragment_rate": 1}`, nil)
	call(t, hs, "POST", "/api/backends/103", `{"up": false}`, nil)
	srv.Step()
	st := srv.State()
	cur := st.Current
	if cur == nil || cur.Version != st.Version || cur.Settings.FragmentRate != 1 {
		t.Fatalf("current %+v after a step at version %d", cur, st.Version)
	}
	if len(cur.BackendsUp) != 2 || cur.BackendsUp[0] != 101 || cur.BackendsUp[1] != 102 {
		t.Errorf("backends up %v, want [101 102]", cur.BackendsUp)
	}
	bs := sim.Backends(3)
	bs[2].Up = false
	cfg := testConfig.withDefaults()
	for _, lane := range lanes() {
		r, err := sim.Run(scenario(cfg, Settings{FragmentRate: 1}, bs, nil, cfg.Seed+int64(cur.Tick)), lane.New)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cur.Balancers[lane.Name], figures(r); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: figures %+v, sim.Run gives %+v", lane.Name, got, want)
		}
		if r.PerBackend["103"] != 0 {
			t.Errorf("%s sent %d packets to 103 while it was down", lane.Name, r.PerBackend["103"])
		}
	}
	if titan, katran := cur.Balancers["titan"], cur.Balancers["katran"]; titan.Reliability < 0.999 || katran.Reliability > 0.1 {
		t.Errorf("at 100%% fragmentation: titan %.4f, katran %.4f", titan.Reliability, katran.Reliability)
	}

	for range cfg.History + 2 {
		srv.Step()
	}
	h := srv.State().History
	if len(h) != cfg.History {
		t.Fatalf("history holds %d samples, want %d", len(h), cfg.History)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Tick != h[i-1].Tick+1 {
			t.Errorf("history out of order: ticks %d then %d", h[i-1].Tick, h[i].Tick)
		}
	}
	if last := h[len(h)-1]; last.Tick != srv.State().Current.Tick {
		t.Errorf("history ends at tick %d, current is %d", last.Tick, srv.State().Current.Tick)
	}
}

// TestStepDiscardsStale changes the settings while a tick runs: the tick's
// figures are thrown away and it runs again with the new settings.
func TestStepDiscardsStale(t *testing.T) {
	var srv *Server
	var calls atomic.Int32
	simulate2 := func(cfg Config, s Settings, bs []balancer.Backend, ss []balancer.Service, seed int64, lane Lane) (Figures, error) {
		if calls.Add(1) == 1 {
			srv.mu.Lock()
			srv.settings.FragmentRate = 0.5
			srv.changed()
			srv.mu.Unlock()
		}
		return simulate(cfg, s, bs, ss, seed, lane)
	}
	var err error
	srv, err = NewServer(testConfig, lanes(), sim.Backends(3), simulate2)
	if err != nil {
		t.Fatal(err)
	}
	srv.Step()
	cur := srv.State().Current
	if cur == nil || cur.Settings.FragmentRate != 0.5 || cur.Version != 1 {
		t.Fatalf("current %+v, want the figures of fragment_rate 0.5 at version 1", cur)
	}
	if cur.Balancers["titan"].Fragments == 0 {
		t.Errorf("figures without fragments at fragment_rate 0.5: %+v", cur.Balancers["titan"])
	}
	if n := calls.Load(); n != 2*int32(len(lanes())) {
		t.Errorf("%d simulations, want %d (one stale tick, one good)", n, 2*len(lanes()))
	}
}
