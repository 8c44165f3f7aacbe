package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
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

// TestXDPTakes checks the refusal of what the XDP datapath cannot take:
// IPv6 VIPs in the catch-all's list, unless the program's config takes
// them; a plain IPv4 config and IPv4 services pass.
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
	if err := XDPTakes(&svc4); err != nil {
		t.Errorf("IPv4 services: %v", err)
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
}

// TestServicesFor checks the set written for services: each pool with its
// backends' health and per-service weights; a backend removed from the
// config drains (weight 0) in the pools it was in; one removed from a
// pool only leaves that pool.
func TestServicesFor(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(servicesJSON(threeServices)))
	if err != nil {
		t.Fatal(err)
	}
	want := []balancer.Backend{}
	for _, b := range cfg.Backends {
		want = append(want, balancer.Backend{ID: b.ID, Name: b.Name, Addr: b.Addr, Weight: b.Weight, Up: b.ID != 3})
	}
	ss := servicesFor(cfg, want, nil)
	if len(ss) != 3 || ss[1].RingSize != 13 || len(ss[0].Backends) != 2 || ss[0].Backends[1].Weight != 3 || ss[1].Backends[0].Weight != 1 ||
		ss[2].Backends[0].Up || ss[2].Backends[1].Weight != 0 {
		t.Fatalf("services %+v", ss)
	}
	if err := balancer.ValidateServices(ss); err != nil {
		t.Fatal(err)
	}
	// Backend 1 leaves the config (it drains: weight 0 in want), backend
	// 4 leaves the IPv6 pool only.
	next, err := ParseConfig(strings.NewReader(`{"vips":["192.0.2.10","2001:db8::10"],"backends":[
		{"id":2,"address":"10.0.0.2","health_port":80,"weight":3},
		{"id":3,"address":"2001:db8:1::3","health_port":80},
		{"id":4,"address":"2001:db8:1::4","health_port":80}],
		"services":[{"vip":"192.0.2.10","port":443,"protocol":"tcp","pool":[{"id":2}]},
		{"vip":"2001:db8::10","port":443,"protocol":"udp","pool":[{"id":3}]},
		{"vip":"2001:db8::10","port":80,"protocol":"tcp","pool":[{"id":4}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want[0].Weight = 0 // draining
	again := servicesFor(next, want, ss)
	if len(again) != 3 {
		t.Fatalf("services %+v", again)
	}
	web := again[0].Backends
	if len(web) != 2 || web[0].ID != 2 || web[1].ID != 1 || web[1].Weight != 0 {
		t.Errorf("443/tcp after 1 left the config: %+v; want 2, then 1 draining at weight 0", web)
	}
	if quic := again[1].Backends; len(quic) != 1 || quic[0].ID != 3 {
		t.Errorf("443/udp after 4 left its pool: %+v; want 3 alone", quic)
	}
	if err := balancer.ValidateServices(again); err != nil {
		t.Fatal(err)
	}
	// Drained away (no longer in want): gone from every pool.
	if web := servicesFor(next, want[1:], again)[0].Backends; len(web) != 1 {
		t.Errorf("after the drain: %+v", web)
	}
	// The write goes to SetServices, or is refused by a datapath
	// without it.
	f := &svcDP{}
	if err := writeDatapath(f, want, again); err != nil || len(f.svcSets) != 1 || !sameServices(f.svcSets[0], again) {
		t.Errorf("write: %v, %d sets", err, len(f.svcSets))
	}
	if err := writeDatapath(&fakeDP{}, want, again); !errors.Is(err, ErrDatapath) {
		t.Errorf("write to a datapath without services: %v", err)
	}
	if sameServices(ss, again) || !sameServices(again, servicesFor(next, want, ss)) {
		t.Error("sameServices")
	}
}

// svcDP is a fakeDP that also serves services, recording the sets.
type svcDP struct {
	fakeDP
	svcSets [][]balancer.Service
}

func (f *svcDP) SetServices(ss []balancer.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := balancer.ValidateServices(ss); err != nil {
		return err
	}
	f.svcSets = append(f.svcSets, ss)
	return nil
}

// lastServices returns the pools of the last service set written, by
// key, each backend by ID.
func (f *svcDP) lastServices(t *testing.T) map[balancer.ServiceKey]map[balancer.BackendID]balancer.Backend {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.svcSets) == 0 {
		t.Fatal("no SetServices call yet")
	}
	out := map[balancer.ServiceKey]map[balancer.BackendID]balancer.Backend{}
	for _, s := range f.svcSets[len(f.svcSets)-1] {
		out[s.Key] = map[balancer.BackendID]balancer.Backend{}
		for _, b := range s.Backends {
			out[s.Key][b.ID] = b
		}
	}
	return out
}

// TestAgentServices runs the agent with services on a datapath that serves
// them: each write is the services, every pool with its backends' health
// and per-service weights; a reload that removes a backend drains it in
// the pools it was in; a datapath without services refuses the first
// write.
func TestAgentServices(t *testing.T) {
	ls := append(threeListeners(t), listen(t, "127.0.0.4"))
	ls[2].stop() // 103 fails its checks
	web := balancer.ServiceKey{VIP: netip.MustParseAddr("192.0.2.10"), Port: 80, Proto: balancer.ProtoTCP}
	dns := balancer.ServiceKey{VIP: netip.MustParseAddr("192.0.2.10"), Port: 53, Proto: balancer.ProtoUDP}
	clk := &clock{now: time.Unix(1000, 0)}
	cfg := testConfig(t, 1, 1, ls...)
	cfg.Services = []ServiceConfig{
		{Key: web, Pool: []PoolMember{{101, 1}, {102, 2}}},
		{Key: dns, Pool: []PoolMember{{102, 1}, {103, 1}, {104, 1}}, RingSize: 13},
	}
	dp := &svcDP{}
	a := NewAgent(cfg, dp, AgentOptions{Now: clk.Now})
	checkAll(t, a)
	if dp.calls() != 0 {
		t.Fatalf("%d SetBackends calls with services", dp.calls())
	}
	got := dp.lastServices(t)
	if w := got[web]; len(w) != 2 || w[102].Weight != 2 || !w[101].Up {
		t.Errorf("web: %+v", w)
	}
	if d := got[dns]; len(d) != 3 || d[103].Up || !d[102].Up || d[102].Weight != 1 {
		t.Errorf("dns: %+v", d)
	}
	if s := status(t, a, 103); s.Serving {
		t.Error("103 is down but serving")
	}
	if s := status(t, a, 102); !s.Serving {
		t.Error("102 is up in two pools but not serving")
	}

	// Reload: 101 leaves the config (it drains in web), 104 leaves dns's
	// pool for web's.
	next := testConfig(t, 1, 1, ls...)
	next.Backends = next.Backends[1:]
	next.Services = []ServiceConfig{
		{Key: web, Pool: []PoolMember{{102, 2}, {104, 5}}},
		{Key: dns, Pool: []PoolMember{{102, 1}, {103, 1}}, RingSize: 13},
	}
	if err := a.Reload(next); err != nil {
		t.Fatal(err)
	}
	got = dp.lastServices(t)
	if w := got[web]; len(w) != 3 || w[101].Weight != 0 || !w[101].Up || w[104].Weight != 5 {
		t.Errorf("web after the reload: %+v; want 102, 104 (weight 5) and 101 draining at weight 0", w)
	}
	if d := got[dns]; len(d) != 2 {
		t.Errorf("dns after the reload: %+v; want 102 and 103", d)
	}
	// A reload that changes only a pool writes too.
	n := len(dp.svcSets)
	again := *next
	again.Services = []ServiceConfig{next.Services[0], {Key: dns, Pool: []PoolMember{{102, 1}, {103, 1}, {104, 1}}, RingSize: 13}}
	if err := a.Reload(&again); err != nil {
		t.Fatal(err)
	}
	if len(dp.svcSets) != n+1 || len(dp.lastServices(t)[dns]) != 3 {
		t.Errorf("a pool change wrote %d sets: %+v", len(dp.svcSets)-n, dp.lastServices(t)[dns])
	}
	// The drain ends: 101 leaves web.
	clk.Add(time.Minute)
	checkAll(t, a)
	if w := dp.lastServices(t)[web]; len(w) != 2 {
		t.Errorf("web after the drain: %+v", w)
	}

	// A datapath that does not serve services refuses the first write.
	b := NewAgent(cfg, &fakeDP{}, AgentOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.CheckAll(ctx); !errors.Is(err, ErrDatapath) {
		t.Errorf("services on a datapath without them: %v", err)
	}
}
