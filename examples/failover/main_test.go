package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var smallOpts = options{flows: 400, frag: 0.3, dur: 150 * time.Millisecond, down: 50 * time.Millisecond, up: 100 * time.Millisecond, seed: 3}

func TestFailover(t *testing.T) {
	rep, err := failover(smallOpts)
	if err != nil {
		t.Fatal(err)
	}
	// Rings: 103 loses all its slots and gets the same ones back.
	if n := count(rep.rings[1], victim); n != 0 {
		t.Errorf("103 down still owns %d slots", n)
	}
	own := count(rep.rings[0], victim)
	if own < len(rep.rings[0].Slots)/3-100 || own > len(rep.rings[0].Slots)/3+100 {
		t.Errorf("103 owns %d of %d slots with all up", own, len(rep.rings[0].Slots))
	}
	if moved(rep.rings[0], rep.rings[2]) != "0.00%" {
		t.Errorf("the ring after 103 came back differs from the start: %s moved", moved(rep.rings[0], rep.rings[2]))
	}
	for i, name := range rep.lanes {
		f, s := rep.failed[i], rep.steady[i]
		if f.Balancer != name || s.Balancer != name {
			t.Fatalf("lane %s carries results of %s and %s", name, f.Balancer, s.Balancer)
		}
		if s.Disrupted != 0 || s.Moved != 0 {
			t.Errorf("%s steady: %d flows moved, %d disrupted without any change", name, s.Moved, s.Disrupted)
		}
		// Maglev moves no flow whose backend stayed up (the balancers
		// issue bounds it at 1% of the flows).
		if f.Disrupted > uint64(smallOpts.flows/100) {
			t.Errorf("%s: %d flows disrupted by 103's failure", name, f.Disrupted)
		}
		if f.PerBackend["103"] >= s.PerBackend["103"] {
			t.Errorf("%s: 103 got %d packets with the failure, %d without", name, f.PerBackend["103"], s.PerBackend["103"])
		}
	}
	// Titan re-picks for the flows of the dead backend and keeps every
	// datagram whole.
	titan := rep.failed[0]
	if titan.Moved == 0 || titan.Reliability < 0.999 {
		t.Errorf("titan through the failure: %d flows moved, reliability %.4f", titan.Moved, titan.Reliability)
	}
}

func TestRunPrints(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-flows", "300", "-duration", "90ms", "-down", "30ms", "-up", "60ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("run = %d: %s", code, stderr.String())
	}
	out := stdout.String()
	t.Log("\n" + out)
	for _, want := range []string{"103 down  50.00%  50.00%   0.00%", "103 down at 30ms, up at 60ms", "titan", "katran", "cilium"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if line != strings.TrimRight(line, " ") {
			t.Errorf("trailing blanks in %q", line)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-down", "0s"}, "-down 0s: must be after the start and before -duration 600ms"},
		{[]string{"-down", "700ms"}, "-down 700ms"},
		{[]string{"-up", "100ms"}, "-up 100ms: must be after -down 200ms"},
		{[]string{"-up", "1s"}, "-up 1s"},
		{[]string{"-frag", "-1"}, "-frag -1: must be a percentage"},
		{[]string{"-duration", "0s"}, "-duration 0s: must be positive"},
		{[]string{"-flows", "-3"}, "scenario.traffic.flows -3"},
		{[]string{"-flows", "x"}, `invalid value "x" for flag -flows`},
		{[]string{"now"}, `unexpected argument "now"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.msg) || !strings.Contains(stderr.String(), "usage: failover") {
			t.Errorf("run(%q) = %d, stderr %q; want 2 with %q and the usage", tc.args, code, stderr.String(), tc.msg)
		}
	}
}
