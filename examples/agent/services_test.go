package main

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/xdp"
)

// servicesJSON is a config with an IPv4 and an IPv6 VIP, four backends
// (two of each family) and three services, followed by extra.
func servicesJSON(services string) string {
	return `{"vips":["192.0.2.10","2001:db8::10"],"backends":[
		{"id":1,"address":"10.0.0.1","health_port":80},
		{"id":2,"address":"10.0.0.2","health_port":80,"weight":3},
		{"id":3,"address":"2001:db8:1::3","health_port":80},
		{"id":4,"address":"2001:db8:1::4","health_port":80}],
		"services":` + services + `}`
}

const threeServices = `[
	{"vip":"192.0.2.10","port":443,"protocol":"tcp","pool":[{"id":1},{"id":2}]},
	{"vip":"192.0.2.10","port":53,"protocol":"udp","pool":[{"id":2,"weight":1}],"ring_size":13},
	{"vip":"2001:db8::10","port":443,"protocol":"udp","pool":[{"id":3},{"id":4,"weight":0}]}]`

func TestConfigServices(t *testing.T) {
	c, err := ParseConfig(strings.NewReader(servicesJSON(threeServices)))
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")
	want := []ServiceConfig{
		{Key: balancer.ServiceKey{VIP: v4, Port: 443, Proto: balancer.ProtoTCP}, Pool: []PoolMember{{1, 1}, {2, 3}}},
		{Key: balancer.ServiceKey{VIP: v4, Port: 53, Proto: balancer.ProtoUDP}, Pool: []PoolMember{{2, 1}}, RingSize: 13},
		{Key: balancer.ServiceKey{VIP: v6, Port: 443, Proto: balancer.ProtoUDP}, Pool: []PoolMember{{3, 1}, {4, 0}}},
	}
	if !reflect.DeepEqual(c.Services, want) {
		t.Errorf("services\n%+v\nwant\n%+v", c.Services, want)
	}
	// The set the datapath gets: each pool's backends with their weight
	// in the service and their health.
	ss := c.services(func(id balancer.BackendID) bool { return id != 2 })
	if err := balancer.ValidateServices(ss); err != nil {
		t.Fatal(err)
	}
	if b := ss[0].Backends[1]; b.ID != 2 || b.Weight != 3 || b.Up || b.Addr != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("services[0].backends[1] = %+v", b)
	}
	if b := ss[1].Backends[0]; b.ID != 2 || b.Weight != 1 || b.Up {
		t.Errorf("services[1].backends[0] = %+v", b)
	}
	// A catch-all config with both families is valid too.
	if _, err := ParseConfig(strings.NewReader(`{"vips":["192.0.2.10","2001:db8::10"],"backends":[
		{"id":1,"address":"10.0.0.1","health_port":80},{"id":3,"address":"2001:db8:1::3","health_port":80}]}`)); err != nil {
		t.Errorf("catch-all of two families: %v", err)
	}
}

func TestConfigServicesErrors(t *testing.T) {
	svc := func(s string) string { return servicesJSON(`[` + s + `]`) }
	all := `,{"vip":"2001:db8::10","port":80,"protocol":"tcp","pool":[{"id":3},{"id":4}]}`
	for _, tc := range []struct {
		name, in, want string
		is             error
	}{
		{"vip not a vip", svc(`{"vip":"192.0.2.99","port":80,"protocol":"tcp","pool":[{"id":1},{"id":2}]}` + all),
			`config: services[0].vip "192.0.2.99": no such backend: not one of vips`, ErrUnknown},
		{"vip missing", svc(`{"port":80,"protocol":"tcp","pool":[{"id":1}]}`), `config: services[0].vip: missing`, ErrMissing},
		{"vip garbage", svc(`{"vip":"vip","port":80,"protocol":"tcp","pool":[{"id":1}]}`), `config: services[0].vip "vip": not an IPv4 or IPv6 address`, ErrNotIP},
		{"port missing", svc(`{"vip":"192.0.2.10","protocol":"tcp","pool":[{"id":1}]}`), `config: services[0].port: missing`, ErrMissing},
		{"port 0", svc(`{"vip":"192.0.2.10","port":0,"protocol":"tcp","pool":[{"id":1}]}`), `config: services[0].port 0: out of range (1 to 65535)`, ErrRange},
		{"port big", svc(`{"vip":"192.0.2.10","port":65536,"protocol":"tcp","pool":[{"id":1}]}`), `config: services[0].port 65536: out of range`, ErrRange},
		{"protocol", svc(`{"vip":"192.0.2.10","port":80,"protocol":"icmp","pool":[{"id":1}]}`), `config: services[0].protocol "icmp": out of range (tcp or udp)`, ErrRange},
		{"protocol case", svc(`{"vip":"192.0.2.10","port":80,"protocol":"TCP","pool":[{"id":1}]}`), `config: services[0].protocol "TCP": out of range (tcp or udp)`, ErrRange},
		{"protocol missing", svc(`{"vip":"192.0.2.10","port":80,"pool":[{"id":1}]}`), `config: services[0].protocol: missing (tcp or udp)`, ErrMissing},
		{"duplicate", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1}]},{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":2}]}`),
			`config: services[1] 192.0.2.10:80/tcp: duplicate (services[0])`, ErrDuplicate},
		{"pool missing", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp"}`), `config: services[0].pool: missing: at least one backend`, ErrMissing},
		{"pool unknown", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1},{"id":9}]}`), `config: services[0].pool[1].id 9: no such backend (not in backends)`, ErrUnknown},
		{"pool id missing", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"weight":1}]}`), `config: services[0].pool[0].id: missing`, ErrMissing},
		{"pool twice", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1},{"id":1}]}`), `config: services[0].pool[1].id 1: duplicate (pool[0])`, ErrDuplicate},
		{"pool family", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1},{"id":3}]}`),
			`config: services[0].pool[1].id 3: backends[2].address 2001:db8:1::3: not the VIP's address family (192.0.2.10)`, ErrFamily},
		{"pool weight", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1,"weight":70000}]}`), `config: services[0].pool[0].weight 70000: out of range (0 to 65536)`, ErrRange},
		{"ring not prime", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1}],"ring_size":12}`), `config: services[0].ring_size 12: not prime`, nil},
		{"ring too small", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1},{"id":2}],"ring_size":1}`),
			`config: services[0].ring_size 1: out of range (fewer slots than its 2 backends)`, ErrRange},
		{"ring negative", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1}],"ring_size":-7}`), `config: services[0].ring_size -7: out of range`, ErrRange},
		{"unknown key", svc(`{"vip":"192.0.2.10","port":80,"proto":"tcp","pool":[{"id":1}]}`), `config: services[0].proto: unknown field`, nil},
		{"backend in no pool", svc(`{"vip":"192.0.2.10","port":80,"protocol":"tcp","pool":[{"id":1},{"id":2}]},{"vip":"2001:db8::10","port":80,"protocol":"tcp","pool":[{"id":3}]}`),
			`config: backends[3].id 4: serves nothing: in no service's pool`, ErrUnserved},
		{"ipv6 backend without an ipv6 vip", `{"vips":["192.0.2.10"],"backends":[{"id":1,"address":"2001:db8::5","health_port":80}]}`,
			`config: backends[0].address "2001:db8::5": serves nothing: no VIP is IPv6`, ErrUnserved},
		{"vip6 link-local", `{"vips":["fe80::1"],"backends":[{"id":1,"address":"2001:db8::5","health_port":80}]}`,
			`config: vips[0] "fe80::1": not a usable unicast address: link-local (fe80::/10: not routed)`, ErrUnusable},
		{"vip6 zone", `{"vips":["2001:db8::1%eth0"],"backends":[{"id":1,"address":"2001:db8::5","health_port":80}]}`,
			`config: vips[0] "2001:db8::1%eth0": not a usable unicast address: has a zone (%eth0)`, ErrUnusable},
		{"vip mapped", `{"vips":["::ffff:192.0.2.1"],"backends":[{"id":1,"address":"10.0.0.1","health_port":80}]}`,
			`config: vips[0] "::ffff:192.0.2.1": not a usable unicast address: IPv4-mapped (write the IPv4 address)`, ErrUnusable},
		{"backend6 multicast", `{"vips":["2001:db8::1"],"backends":[{"id":1,"address":"ff02::1","health_port":80}]}`,
			`config: backends[0].address "ff02::1": not a usable unicast address: multicast`, ErrUnusable},
	} {
		t.Run(tc.name, func(t *testing.T) { refused(t, tc.in, tc.want, tc.is) })
	}
	var many []string
	for i := range MaxServices + 1 {
		many = append(many, fmt.Sprintf(`{"vip":"192.0.2.10","port":%d,"protocol":"tcp","pool":[{"id":1}]}`, i+1))
	}
	if _, err := ParseConfig(strings.NewReader(servicesJSON(`[` + strings.Join(many, ",") + `]`))); err == nil ||
		!strings.Contains(err.Error(), "config: services: 257 services: out of range (at most 256)") {
		t.Errorf("too many services: %v", err)
	}
}

// TestXDPTakes checks the refusal of what the XDP datapath of this build
// cannot take: services unless xdp.Program serves them, IPv6 unless the
// program's config and model take it; a plain IPv4 config passes.
func TestXDPTakes(t *testing.T) {
	plain, err := ParseConfig(strings.NewReader(`{"vips":["192.0.2.10"],"backends":[{"id":1,"address":"10.0.0.1","health_port":80}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := XDPTakes(plain); err != nil {
		t.Errorf("an IPv4 catch-all: %v", err)
	}
	svc, err := ParseConfig(strings.NewReader(servicesJSON(threeServices)))
	if err != nil {
		t.Fatal(err)
	}
	svc4 := *svc
	svc4.VIPs = svc.VIPs[:1]
	svc4.Backends = svc.Backends[:2]
	svc4.Services = svc.Services[:2]
	_, serves := any((*xdp.Program)(nil)).(balancer.ServiceSetter)
	err = XDPTakes(&svc4)
	switch {
	case !serves && (!errors.Is(err, ErrDatapath) || !strings.Contains(err.Error(), "config: services: ") || !strings.Contains(err.Error(), "xdp.Program does not serve services yet")):
		t.Errorf("IPv4 services without SetServices: %v", err)
	case serves && err != nil:
		t.Errorf("IPv4 services with SetServices: %v", err)
	}
	six, err := ParseConfig(strings.NewReader(`{"vips":["2001:db8::10"],"backends":[{"id":1,"address":"2001:db8:1::1","health_port":80}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, refused := six.Options().Config.Resolve()
	err = XDPTakes(six)
	if (refused != nil) != (err != nil) || err != nil && (!errors.Is(err, ErrDatapath) || !strings.Contains(err.Error(), "config: vips: ")) {
		t.Errorf("IPv6 VIP: %v (the program's config: %v)", err, refused)
	}
	// The datapath refuses services it cannot serve at the write too.
	d := &XDPDatapath{}
	if !serves {
		if err := d.SetServices(svc.services(nil)); !errors.Is(err, ErrDatapath) {
			t.Errorf("SetServices without the program's: %v", err)
		}
	}
}
