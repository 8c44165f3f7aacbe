package titan_test

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/titanlb/titanlb/balancer/titan"
)

// TestResolveNamesField checks that every error of Config.Resolve is a
// *ConfigError whose Field, Value and Err make its message, and that New
// reports exactly what Resolve does (xdp.Load relies on both).
func TestResolveNamesField(t *testing.T) {
	for _, tc := range []struct {
		cfg   titan.Config
		field string
		value string
		err   error
	}{
		{titan.Config{RingSize: 65536}, "RingSize", "65536", titan.ErrNotPrime},
		{titan.Config{RingSize: 1<<24 + 1}, "RingSize", "16777217", titan.ErrTooLarge},
		{titan.Config{FragTableSize: titan.MaxTableSize + 1}, "FragTableSize", "268435457", titan.ErrTooLarge},
		{titan.Config{OrphanCredits: -1}, "OrphanCredits", "-1", titan.ErrNegative},
		{titan.Config{OrphanAdmission: 5}, "OrphanAdmission", "5", titan.ErrUnknownAdmission},
		{titan.Config{VIPs: []netip.Addr{{}}}, "VIPs[0]", "invalid IP", titan.ErrNotIPv4},
	} {
		_, err := tc.cfg.Resolve()
		ce, ok := errors.AsType[*titan.ConfigError](err)
		if !ok || ce.Field != tc.field || ce.Value != tc.value || !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%+v) = %#v, want field %s value %s, %v", tc.cfg, err, tc.field, tc.value, tc.err)
			continue
		}
		if want := "titan: config." + tc.field + " " + tc.value + ": " + ce.Err.Error(); err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
		if _, nerr := titan.New(tc.cfg); nerr == nil || nerr.Error() != err.Error() {
			t.Errorf("New: %v, Resolve: %v", nerr, err)
		}
	}
}

// TestResolveIsNew checks that Resolve fills in what New's balancer
// reports as its Config, and copies VIPs.
func TestResolveIsNew(t *testing.T) {
	vips := []netip.Addr{netip.MustParseAddr("192.0.2.10")}
	for _, cfg := range []titan.Config{{}, {Seed: 7, RingSize: 251, OrphanPolicy: titan.OrphanHash3, VIPs: vips}} {
		c, err := cfg.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		b, err := titan.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, b.Config()) {
			t.Errorf("Resolve %+v, New's balancer %+v", c, b.Config())
		}
		if c.OrphanPolicy == titan.OrphanDefault || c.OrphanAdmission == titan.AdmitDefault || c.RingSize == 0 {
			t.Errorf("unresolved field in %+v", c)
		}
		if len(cfg.VIPs) > 0 && &c.VIPs[0] == &cfg.VIPs[0] {
			t.Error("Resolve shares the VIPs slice with its input")
		}
	}
}
