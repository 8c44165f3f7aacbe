package testutil

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

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
// unless each is dropped with [balancer.ReasonMalformed] and counted by
// counter (lb's count of malformed drops), then every [Unusual] one and
// fails tb if one is dropped as malformed.
func DropsMalformed(tb testing.TB, lb balancer.Balancer, counter func() uint64) {
	tb.Helper()
	bad := Malformed()
	before := counter()
	for _, c := range bad {
		if d := lb.Process(&balancer.Env{}, &c.P); d.Action != balancer.Drop || d.Reason != balancer.ReasonMalformed {
			tb.Errorf("%s %s: %+v, want drop %q", lb.Name(), c.Name, d, balancer.ReasonMalformed)
		}
	}
	if n := counter() - before; n != uint64(len(bad)) {
		tb.Errorf("%s counted %d malformed drops of %d", lb.Name(), n, len(bad))
	}
	for _, c := range Unusual() {
		if d := lb.Process(&balancer.Env{}, &c.P); d.Reason == balancer.ReasonMalformed {
			tb.Errorf("%s %s: dropped as malformed", lb.Name(), c.Name)
		}
	}
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

// Make returns a test constructor of a model: it builds the model with
// newLB (a model package's New) from a configuration and makes it ready
// with ready ([Ready], [ReadyDual] or [ReadyServices]), failing the test
// on any error:
//
//	var newTest = testutil.Make(cilium.New, testutil.Ready)
//	lb := newTest(t, cilium.Config{Mode: cilium.ModeDSR})
func Make[C any, B balancer.Balancer](newLB func(C) (B, error), ready func(testing.TB, B, error) B) func(testing.TB, C) B {
	return func(tb testing.TB, cfg C) B {
		tb.Helper()
		lb, err := newLB(cfg)
		return ready(tb, lb, err)
	}
}

// WantError fails tb unless err is not nil, its text contains field (the
// bad field and value it must name) and, when target is not nil, it wraps
// target.
func WantError(tb testing.TB, err error, field string, target error) {
	tb.Helper()
	switch {
	case err == nil:
		tb.Errorf("no error, want one naming %q", field)
	case !strings.Contains(err.Error(), field):
		tb.Errorf("error %q does not name %q", err, field)
	case target != nil && !errors.Is(err, target):
		tb.Errorf("error %q does not wrap %q", err, target)
	}
}

// FuzzProcess runs the packets in encodes through lb: each 12 bytes are
// a packet from one of 8 clients to [VIP], every header field free
// (malformed values included), and the Env that runs it (CPU -128 to 127,
// Now 0 to 255 s). It checks each decision with [CheckDecision], then with
// check when not nil.
func FuzzProcess(tb testing.TB, lb balancer.Balancer, in []byte, check func(p *balancer.Packet, d balancer.Decision)) {
	tb.Helper()
	for ; len(in) >= 12; in = in[12:] {
		p := balancer.Packet{
			Src: netip.AddrFrom4([4]byte{10, 0, 0, in[0] & 7}), Dst: VIP,
			Proto: in[1], SrcPort: uint16(in[2]) << 8, DstPort: uint16(in[3]),
			FragOffset: uint16(in[4])<<8 | uint16(in[5]), MoreFragments: in[6]&1 != 0, IHL: in[6] >> 1 & 0x1f,
			Len: uint16(in[7]) << 4, TCPFlags: in[8], IPID: uint16(in[9] & 3),
		}
		env := balancer.Env{CPU: int(int8(in[10])), Now: time.Duration(in[11]) * time.Second}
		d := lb.Process(&env, &p)
		CheckDecision(tb, &p, d)
		if check != nil {
			check(&p, d)
		}
	}
}

// SetBackends hands lb the set [Backends](3), each backend changed by f,
// and returns it; it fails tb on error.
func SetBackends(tb testing.TB, lb balancer.Balancer, f func(b *balancer.Backend)) []balancer.Backend {
	tb.Helper()
	bs := Backends(3)
	for i := range bs {
		f(&bs[i])
	}
	if err := lb.SetBackends(bs); err != nil {
		tb.Fatal(err)
	}
	return bs
}
