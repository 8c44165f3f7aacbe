package balancer_test

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

// TestMalformed: the impossible header values every balancer drops are
// the ones Malformed reports, and Encode builds no frame for them; the
// valid edge cases are neither reported nor refused.
func TestMalformed(t *testing.T) {
	buf := make([]byte, 2048)
	for _, c := range testutil.Malformed() {
		if !c.P.Malformed() {
			t.Errorf("%s: not malformed", c.Name)
		}
		if f := balancer.Encode(c.P, 8); f != nil {
			t.Errorf("%s: Encode built a %d-byte frame", c.Name, len(f))
		}
		if n := balancer.EncodeTo(buf, c.P, 8); n != 0 {
			t.Errorf("%s: EncodeTo wrote %d bytes", c.Name, n)
		}
	}
	for _, c := range testutil.Unusual() {
		if c.P.Malformed() {
			t.Errorf("%s: malformed", c.Name)
		}
		if balancer.Encode(c.P, 8) == nil {
			t.Errorf("%s: Encode refused it", c.Name)
		}
	}
	p := testutil.UDP(1)
	if n := testing.AllocsPerRun(100, func() { p.Malformed() }); n != 0 {
		t.Errorf("Malformed allocates %v", n)
	}
}
