package xdp

import (
	"reflect"
	"testing"

	"github.com/titanlb/titanlb/balancer/titan"
)

// TestOptionsMirrorTitanConfig checks the parity promise of Options: every
// titan.Config field exists here with the same name and kind, the defaults
// are equal, and the orphan policies have the same values.
func TestOptionsMirrorTitanConfig(t *testing.T) {
	c, o := reflect.TypeFor[titan.Config](), reflect.TypeFor[Options]()
	for i := range c.NumField() {
		cf := c.Field(i)
		of, ok := o.FieldByName(cf.Name)
		if !ok {
			t.Errorf("Options has no field %s", cf.Name)
			continue
		}
		if of.Type.Kind() != cf.Type.Kind() {
			t.Errorf("%s: Options kind %v, titan.Config %v", cf.Name, of.Type.Kind(), cf.Type.Kind())
		}
	}
	if DefaultRingSize != titan.DefaultRingSize || DefaultConnTableSize != titan.DefaultConnTableSize ||
		DefaultFragTableSize != titan.DefaultFragTableSize || DefaultFragTimeout != titan.DefaultFragTimeout ||
		DefaultHintTableSize != titan.DefaultHintTableSize {
		t.Error("defaults differ from titan's")
	}
	if uint8(DefaultOrphanPolicy) != uint8(titan.DefaultOrphanPolicy) || uint8(OrphanHash3) != uint8(titan.OrphanHash3) ||
		uint8(OrphanHostHint) != uint8(titan.OrphanHostHint) || uint8(OrphanDefault) != uint8(titan.OrphanDefault) {
		t.Error("orphan policies differ from titan's")
	}
	for _, p := range []OrphanPolicy{OrphanDefault, OrphanHash3, OrphanHostHint} {
		if p.String() != titan.OrphanPolicy(p).String() {
			t.Errorf("policy %d: %q here, %q in titan", p, p, titan.OrphanPolicy(p))
		}
	}
}
