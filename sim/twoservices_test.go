package sim_test

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/sim"
)

// twoPools is the measurement: one VIP with two UDP services
// whose pools overlap (first: 4 backends, second: the last two of those
// and two more), 30% of datagrams fragmented (4,000 bytes, 3 fragments)
// toward both, 30% of those reordered, from the same 200 client hosts;
// IPv4 or IPv6.
func twoPools(v6 bool, reorder float64) sim.Scenario {
	vip, bs := netip.MustParseAddr("192.0.2.20"), sim.Backends(6)
	if v6 {
		vip, bs = netip.MustParseAddr("2001:db8::20"), sim.Backends6(6)
	}
	traffic := sim.Traffic{Flows: 1000, Clients: 200, Rate: 30000, FragmentRate: 0.3, Reorder: reorder, LargeSize: 4000}
	return sim.Scenario{
		Seed:     11,
		Duration: 200 * time.Millisecond,
		Services: []sim.ServiceTraffic{
			{Service: balancer.Service{Key: balancer.ServiceKey{VIP: vip, Port: 443, Proto: balancer.ProtoUDP}, Backends: slices.Clone(bs[:4])}, Traffic: traffic},
			{Service: balancer.Service{Key: balancer.ServiceKey{VIP: vip, Port: 8443, Proto: balancer.ProtoUDP}, Backends: slices.Clone(bs[2:])}, Traffic: traffic},
		},
	}
}

// TestTwoServicesOneVIP runs twoPools for Titan, Katran and Cilium (each
// that implements balancer.ServiceSetter), IPv4 and IPv6, and checks what
// docs/services-and-ipv6.md says of each; -v prints the table.
func TestTwoServicesOneVIP(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation: skipped in -short mode")
	}
	designs := designs()
	var table strings.Builder
	fmt.Fprintf(&table, "%-7s %-6s %-23s %11s %13s %9s %8s %s\n", "design", "family", "service", "reliability", "frag accuracy", "affinity", "STU/pkt", "drops")
	for _, d := range designs {
		lb, err := d.mk()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := lb.(balancer.ServiceSetter); !ok {
			t.Logf("%s does not implement balancer.ServiceSetter yet: left out", d.name)
			continue
		}
		for _, v6 := range []bool{false, true} {
			family := map[bool]string{false: "IPv4", true: "IPv6"}[v6]
			sc := twoPools(v6, 0.3)
			r, err := sim.Run(sc, d.mk)
			if err != nil {
				if v6 && strings.Contains(err.Error(), "not an IPv4 address") {
					t.Logf("%s: no IPv6 yet: %v", d.name, err)
					continue
				}
				t.Fatal(err)
			}
			for i, s := range sc.Services {
				sr := r.Services[s.Key.String()]
				var drops []string
				for _, why := range slices.Sorted(maps.Keys(sr.Drops)) {
					drops = append(drops, fmt.Sprintf("%s %d", why, sr.Drops[why]))
				}
				fmt.Fprintf(&table, "%-7s %-6s %-23s %11.4f %13.4f %9.4f %8.1f %s\n", d.name, family, s.Key,
					sr.Reliability, sr.FragmentAccuracy, sr.Affinity, sr.AvgCost, strings.Join(drops, ", "))
				if sr.Datagrams == 0 || sr.Fragments == 0 || sr.Index != i {
					t.Fatalf("%s %s %v: %+v", d.name, family, s.Key, sr)
				}
				// A service's packets reach its own pool only.
				for name, n := range sr.PerBackend {
					if !slices.ContainsFunc(s.Backends, func(b balancer.Backend) bool { return b.Name == name }) && n > 0 {
						t.Errorf("%s %s %v: %d packets reached %s, not in its pool", d.name, family, s.Key, n, name)
					}
				}
				// Every fragmented datagram has 3 fragments.
				fragmented := sr.Fragments / 3
				switch d.name {
				case "katran":
					// Katran drops every fragment: only the unfragmented
					// datagrams arrive.
					if sr.Whole != sr.Datagrams-fragmented || sr.FragmentAccuracy != 0 {
						t.Errorf("katran %s %v: %d whole of %d datagrams (%d fragmented), accuracy %v",
							family, s.Key, sr.Whole, sr.Datagrams, fragmented, sr.FragmentAccuracy)
					}
				case "cilium":
					// Cilium tracks fragments but drops those that
					// arrive before their first fragment.
					if sr.Reliability >= 1 || sr.Reliability < 0.9 || sr.FragmentAccuracy >= 1 {
						t.Errorf("cilium %s %v: reliability %v, accuracy %v", family, s.Key, sr.Reliability, sr.FragmentAccuracy)
					}
				case "titan":
					if sr.Reliability < 0.99 {
						t.Errorf("titan %s %v: reliability %v", family, s.Key, sr.Reliability)
					}
				}
			}
			// In order, Cilium keeps every datagram of both services whole.
			if d.name == "cilium" {
				r := mustRun(t, twoPools(v6, 0), d.mk)
				for k, sr := range r.Services {
					if sr.Reliability != 1 || sr.FragmentAccuracy != 1 {
						t.Errorf("cilium %s %s in order: reliability %v, accuracy %v", family, k, sr.Reliability, sr.FragmentAccuracy)
					}
				}
			}
		}
	}
	t.Logf("\n%s", table.String())
}
