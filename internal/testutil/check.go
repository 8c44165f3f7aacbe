package testutil

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
)

// CheckDecision fails tb unless d is a decision every balancer may make
// for p: one of the three actions, a drop with a reason, and a drop with
// [balancer.ReasonMalformed] when p is [balancer.Packet.Malformed].
func CheckDecision(tb testing.TB, p *balancer.Packet, d balancer.Decision) {
	tb.Helper()
	switch d.Action {
	case balancer.Drop:
		if d.Reason == "" {
			tb.Fatalf("drop without a reason for %+v", *p)
		}
	case balancer.Pass, balancer.Forward:
	default:
		tb.Fatalf("action %v for %+v", d.Action, *p)
	}
	if p.Malformed() && (d.Action != balancer.Drop || d.Reason != balancer.ReasonMalformed) {
		tb.Fatalf("malformed %+v: %+v, want drop %q", *p, d, balancer.ReasonMalformed)
	}
}

// SetHealth sets the health of bs[i] (the backend set lb holds) to up and
// hands the set to lb, failing tb on error.
func SetHealth(tb testing.TB, lb balancer.Balancer, bs []balancer.Backend, i int, up bool) {
	tb.Helper()
	bs[i].Up = up
	if err := lb.SetBackends(bs); err != nil {
		tb.Fatal(err)
	}
}

// DropsMalformed runs every [Malformed] packet through lb and fails tb
// unless each is dropped with [balancer.ReasonMalformed], then every
// [Unusual] one and fails tb if one is. It returns how many malformed
// packets it ran, for the caller to check its counters.
func DropsMalformed(tb testing.TB, lb balancer.Balancer) int {
	tb.Helper()
	bad := Malformed()
	for _, c := range bad {
		if d := lb.Process(&balancer.Env{}, &c.P); d.Action != balancer.Drop || d.Reason != balancer.ReasonMalformed {
			tb.Errorf("%s %s: %+v, want drop %q", lb.Name(), c.Name, d, balancer.ReasonMalformed)
		}
	}
	for _, c := range Unusual() {
		if d := lb.Process(&balancer.Env{}, &c.P); d.Reason == balancer.ReasonMalformed {
			tb.Errorf("%s %s: dropped as malformed", lb.Name(), c.Name)
		}
	}
	return len(bad)
}

// Ready returns lb, made by a constructor that returned err, after handing
// it [Backends](3); it fails tb when err or SetBackends is not nil.
func Ready[B balancer.Balancer](tb testing.TB, lb B, err error) B {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	if err := lb.SetBackends(Backends(3)); err != nil {
		tb.Fatal(err)
	}
	return lb
}
