package xdp

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/cost"
)

// TestPathOpsMatchModel checks each path's operation counts against what
// balancer/titan charges for the same packets: the calibration prices the
// model's operations, so the two must count alike.
func TestPathOpsMatchModel(t *testing.T) {
	for _, path := range Paths() {
		if path.Stateless {
			continue
		}
		t.Run(path.Name, func(t *testing.T) {
			m, err := titan.New(titan.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetBackends(testBackends(3)); err != nil {
				t.Fatal(err)
			}
			env := &balancer.Env{}
			for _, pk := range path.Prime {
				m.Process(env, &pk)
			}
			pk := path.Packet
			// The wrapper's variation: a new source, a new IP ID.
			switch path.Vary {
			case VaryFlow:
				pk.Src = pk.Src.Next()
			case VaryDatagram:
				pk.IPID++
			}
			env.Meter = cost.NewMeter(cost.Default())
			if d := m.Process(env, &pk); d.Action != balancer.Forward {
				t.Fatalf("model: %+v", d)
			}
			for op := range cost.NumOps {
				if got := env.Meter.Count(op); got != path.Ops[op] {
					t.Errorf("%v: model charges %d, path says %d", op, got, path.Ops[op])
				}
			}
			if env.Meter.Total() != path.STU(cost.Default()) {
				t.Errorf("model %d STU, path %d", env.Meter.Total(), path.STU(cost.Default()))
			}
		})
	}
}

// TestPathsTakeTheirPath runs each path's packets through the kernel and
// checks the counters of the path moved: the benchmarks measure what they
// name.
func TestPathsTakeTheirPath(t *testing.T) {
	progs := map[bool]*Program{false: mustLoad(t, Options{}), true: mustLoad(t, Options{Stateless: true})}
	for _, p := range progs {
		if err := p.SetBackends(testBackends(3)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]func(d Stats) bool{
		"established-tcp":    func(d Stats) bool { return d.ConnHits == 1 && d.Forwarded == 1 },
		"established-udp":    func(d Stats) bool { return d.ConnHits == 1 && d.Forwarded == 1 },
		"new-flow-tcp":       func(d Stats) bool { return d.ConnMisses == 1 && d.Forwarded == 1 },
		"first-fragment":     func(d Stats) bool { return d.FragMisses == 1 && d.ConnHits == 1 && d.Forwarded == 1 },
		"non-first-fragment": func(d Stats) bool { return d.FragHits == 1 && d.Forwarded == 1 },
		"orphan-fragment":    func(d Stats) bool { return d.Orphans == 1 && d.HintHits == 1 && d.Forwarded == 1 },
		"stateless-tcp":      func(d Stats) bool { return d.Forwarded == 1 && d.ConnMisses == 0 },
		"stateless-fragment": func(d Stats) bool { return d.DropFragment == 1 },
	}
	for _, path := range Paths() {
		t.Run(path.Name, func(t *testing.T) {
			p := progs[path.Stateless]
			if _, err := p.BenchPath(path, 1); err != nil {
				t.Fatal(err)
			}
			before, _ := p.Stats()
			if _, err := p.BenchWith(balancer.Encode(path.Packet, path.Payload), BenchOptions{Repeat: 1, Vary: path.Vary}); err != nil {
				t.Fatal(err)
			}
			after, _ := p.Stats()
			d := statsDelta(after, before)
			if d.Packets != 1 || !want[path.Name](d) {
				t.Errorf("one packet moved %+v", d)
			}
		})
	}
}

// statsDelta returns a - b field by field.
func statsDelta(a, b Stats) Stats {
	return Stats{
		Packets: a.Packets - b.Packets, Forwarded: a.Forwarded - b.Forwarded,
		ConnHits: a.ConnHits - b.ConnHits, ConnMisses: a.ConnMisses - b.ConnMisses,
		FragHits: a.FragHits - b.FragHits, FragMisses: a.FragMisses - b.FragMisses,
		Orphans: a.Orphans - b.Orphans, HintHits: a.HintHits - b.HintHits,
		DropFragment: a.DropFragment - b.DropFragment,
	}
}

// TestCalibrate runs the calibration briefly and checks its arithmetic:
// each path's net time is its gross time minus the wrapper, and the
// model's NsPerSTU is total net time over total STU.
func TestCalibrate(t *testing.T) {
	mustLoad(t, Options{}) // skip or fail without privileges
	c, err := Calibrate(2000)
	if err != nil {
		t.Fatal(err)
	}
	var net, stu float64
	for _, m := range c.Measurements {
		t.Logf("%-20s gross %4d ns net %4d ns %3d STU %.2f ns/STU", m.Path.Name, m.Gross, m.Net, m.STU, m.NsPerSTU)
		if m.Gross <= 0 || m.Net != m.Gross-c.Wrapper || m.STU != m.Path.STU(cost.Default()) {
			t.Errorf("%s: %+v (wrapper %v)", m.Path.Name, m, c.Wrapper)
		}
		net += float64(m.Net)
		stu += float64(m.STU)
	}
	if len(c.Measurements) != len(Paths()) {
		t.Errorf("%d measurements of %d paths", len(c.Measurements), len(Paths()))
	}
	if net > 0 && c.Model.NsPerSTU != net/stu {
		t.Errorf("NsPerSTU %v, want %v", c.Model.NsPerSTU, net/stu)
	}
	t.Logf("wrapper %v, model %+v", c.Wrapper, c.Model)
}
