package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/xdp"
)

func TestExampleConfig(t *testing.T) {
	c, err := LoadConfig("agent.example.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Interface != "eth0" {
		t.Errorf("interface %q, want eth0", c.Interface)
	}
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}; !slices.Equal(c.VIPs, want) {
		t.Errorf("VIPs %v, want %v", c.VIPs, want)
	}
	if want := (HealthConfig{Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3, Drain: 30 * time.Second}); c.Health != want {
		t.Errorf("health %+v, want %+v", c.Health, want)
	}
	if c.Program.AttachMode != xdp.AttachGeneric {
		t.Errorf("attach mode %v, want generic", c.Program.AttachMode)
	}
	if len(c.Backends) != 3 {
		t.Fatalf("%d backends, want 3", len(c.Backends))
	}
	if want := (BackendConfig{ID: 103, Name: "103", Addr: netip.MustParseAddr("10.0.1.103"), Weight: 2, HealthPort: 8080}); c.Backends[2] != want {
		t.Errorf("backends[2] %+v, want %+v", c.Backends[2], want)
	}
	if got := c.Backends[2].HealthAddr(); got != "10.0.1.103:8080" {
		t.Errorf("health address %s, want 10.0.1.103:8080", got)
	}
	o := c.Options()
	if !slices.Equal(o.VIPs, c.VIPs) || o.RingSize != 65537 {
		t.Errorf("options VIPs %v ring %d, want %v and 65537", o.VIPs, o.RingSize, c.VIPs)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig(strings.NewReader(`{"vips":["192.0.2.1"],"backends":[{"id":7,"address":"10.1.1.1","health_port":22}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (HealthConfig{Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: DefaultRise, Fall: DefaultFall, Drain: DefaultDrain}); c.Health != want {
		t.Errorf("health %+v, want %+v", c.Health, want)
	}
	if want := (BackendConfig{ID: 7, Name: "7", Addr: netip.MustParseAddr("10.1.1.1"), Weight: DefaultWeight, HealthPort: 22}); c.Backends[0] != want {
		t.Errorf("backend %+v, want %+v", c.Backends[0], want)
	}
	// The program section is resolved: a default left out and one written
	// out are the same config.
	want := ProgramConfig{RingSize: titan.DefaultRingSize, ConnTableSize: titan.DefaultConnTableSize,
		FragTableSize: titan.DefaultFragTableSize, MaxBackends: xdp.DefaultMaxBackends}
	if c.Program != want {
		t.Errorf("program %+v, want the xdp defaults %+v", c.Program, want)
	}

	// A short interval caps the default timeout; an explicit weight 0 stays 0.
	c, err = ParseConfig(strings.NewReader(`{"vips":["192.0.2.1"],"health":{"interval":"100ms","drain":"0s"},
		"backends":[{"id":7,"address":"10.1.1.1","health_port":22,"weight":0}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Health.Timeout != 100*time.Millisecond || c.Health.Drain != 0 || c.Backends[0].Weight != 0 {
		t.Errorf("timeout %v, drain %v, weight %d; want 100ms, 0s, 0", c.Health.Timeout, c.Health.Drain, c.Backends[0].Weight)
	}
}

func TestConfigErrors(t *testing.T) {
	const vip = `"vips":["192.0.2.1"]`
	const b1 = `{"id":1,"address":"10.0.0.1","health_port":80}`
	backend := func(addr string) string {
		return `{` + vip + `,"backends":[{"id":2,"address":"` + addr + `","health_port":80}]}`
	}
	vipConfig := func(addr string) string { return `{"vips":["` + addr + `"],"backends":[` + b1 + `]}` }
	many := func(n int) string {
		var bs []string
		for i := range n {
			bs = append(bs, fmt.Sprintf(`{"id":%d,"address":"10.1.%d.%d","health_port":80}`, i, i>>8, i&255))
		}
		return strings.Join(bs, ",")
	}
	for _, tc := range []struct {
		name, in, want string
		is             error
	}{
		{"not json", `{`, "config: line 1: unexpected end of input", nil},
		{"syntax with line", "{\n\"vips\": [1,,]}", "config: vips[1]: invalid character ',' at start of value (line 2)", nil},
		{"unknown field", `{` + vip + `,"backend":[]}`, `config: backend: unknown field (line 1)`, nil},
		{"type", `{"vips":"192.0.2.1"}`, "config: vips: string where a list of strings is expected (line 1)", nil},
		{"type nested", "{\"vips\":[\"192.0.2.1\"],\n\"backends\":[{\"id\":\"7\"}]}", "config: backends[0].id: string where an integer is expected (line 2)", nil},
		{"type object", `{"health":[]}`, "config: health: array where an object is expected", nil},
		{"not an object", `[]`, "config: line 1: array where an object is expected", nil},
		{"trailing", `{` + vip + `,"backends":[` + b1 + `]} {}`, "config: line 1: data after the top-level value", nil},
		// Finding 13 of issue 14: keys matched case-insensitively and a
		// repeated key took the last value.
		{"key case", `{"VIPs":["192.0.2.1"],"backends":[` + b1 + `]}`, "config: VIPs: unknown field (line 1)", nil},
		{"key case nested", `{` + vip + `,"backends":[{"id":1,"Address":"10.0.0.1","health_port":80}]}`, "config: backends[0].Address: unknown field", nil},
		{"duplicate key", `{` + vip + `,"vips":["192.0.2.9"],"backends":[` + b1 + `]}`, "config: vips: duplicate field (line 1)", nil},
		{"no vips", `{"backends":[` + b1 + `]}`, "config: vips: missing", ErrMissing},
		{"bad vip", `{"vips":["192.0.2"],"backends":[` + b1 + `]}`, `config: vips[0] "192.0.2": not an IPv4 or IPv6 address`, ErrNotIP},
		{"vip6 loopback", vipConfig("::1"), `config: vips[0] "::1": not a usable unicast address: loopback`, ErrUnusable},
		{"dup vip", `{"vips":["192.0.2.1","192.0.2.1"],"backends":[` + b1 + `]}`, `config: vips[1] "192.0.2.1": duplicate (vips[0])`, ErrDuplicate},
		// Finding 4: addresses the balancer can never reach correctly.
		{"vip unspecified", vipConfig("0.0.0.0"), `config: vips[0] "0.0.0.0": not a usable unicast address: unspecified`, ErrUnusable},
		{"vip loopback", vipConfig("127.0.0.5"), `config: vips[0] "127.0.0.5": not a usable unicast address: loopback`, ErrUnusable},
		{"vip multicast", vipConfig("239.1.1.1"), `config: vips[0] "239.1.1.1": not a usable unicast address: multicast`, ErrUnusable},
		{"vip broadcast", vipConfig("255.255.255.255"), `config: vips[0] "255.255.255.255": not a usable unicast address: broadcast`, ErrUnusable},
		{"backend unspecified", backend("0.0.0.0"), `config: backends[0].address "0.0.0.0": not a usable unicast address: unspecified`, ErrUnusable},
		{"backend loopback", backend("127.0.0.1"), `config: backends[0].address "127.0.0.1": not a usable unicast address: loopback (the balancer host itself)`, ErrUnusable},
		{"backend broadcast", backend("255.255.255.255"), `config: backends[0].address "255.255.255.255": not a usable unicast address: broadcast`, ErrUnusable},
		{"backend multicast", backend("224.0.0.1"), `config: backends[0].address "224.0.0.1": not a usable unicast address: multicast`, ErrUnusable},
		{"backend this network", backend("0.1.2.3"), `config: backends[0].address "0.1.2.3": not a usable unicast address: "this network"`, ErrUnusable},
		{"backend link-local", backend("169.254.1.1"), `config: backends[0].address "169.254.1.1": not a usable unicast address: link-local`, ErrUnusable},
		{"backend reserved", backend("240.0.0.1"), `config: backends[0].address "240.0.0.1": not a usable unicast address: reserved`, ErrUnusable},
		{"no backends", `{` + vip + `}`, "config: backends: missing", ErrMissing},
		{"bad address", `{` + vip + `,"backends":[` + b1 + `,{"id":2,"address":"x","health_port":80}]}`, `config: backends[1].address "x": not an IPv4 or IPv6 address`, ErrNotIP},
		{"missing address", `{` + vip + `,"backends":[{"id":2,"health_port":80}]}`, `config: backends[0].address: missing`, ErrMissing},
		{"missing id", `{` + vip + `,"backends":[{"address":"10.0.0.1","health_port":80}]}`, `config: backends[0].id: missing`, ErrMissing},
		{"id range", `{` + vip + `,"backends":[{"id":4096,"address":"10.0.0.1","health_port":80}]}`, `config: backends[0].id 4096: out of range (0 to program.max_backends-1 = 4095)`, ErrRange},
		{"id range max_backends", `{` + vip + `,"program":{"max_backends":8},"backends":[{"id":8,"address":"10.0.0.1","health_port":80}]}`, `config: backends[0].id 8: out of range (0 to program.max_backends-1 = 7)`, ErrRange},
		{"dup id", `{` + vip + `,"backends":[` + b1 + `,{"id":1,"address":"10.0.0.2","health_port":80}]}`, `config: backends[1].id 1: duplicate (backends[0])`, ErrDuplicate},
		{"dup name", `{` + vip + `,"backends":[` + b1 + `,{"id":2,"name":"1","address":"10.0.0.2","health_port":80}]}`, `config: backends[1].name "1": duplicate (backends[0])`, ErrDuplicate},
		{"dup address", `{` + vip + `,"backends":[` + b1 + `,{"id":2,"address":"10.0.0.1","health_port":80}]}`, `config: backends[1].address "10.0.0.1": duplicate (backends[0])`, ErrDuplicate},
		{"address is vip", `{` + vip + `,"backends":[{"id":2,"address":"192.0.2.1","health_port":80}]}`, `config: backends[0].address "192.0.2.1": duplicate: is a VIP`, ErrDuplicate},
		{"weight", `{` + vip + `,"backends":[{"id":2,"address":"10.0.0.1","health_port":80,"weight":-1}]}`, `config: backends[0].weight -1: out of range`, ErrRange},
		{"no port", `{` + vip + `,"backends":[{"id":2,"address":"10.0.0.1"}]}`, `config: backends[0].health_port: missing`, ErrMissing},
		{"port", `{` + vip + `,"backends":[{"id":2,"address":"10.0.0.1","health_port":65536}]}`, `config: backends[0].health_port 65536: out of range`, ErrRange},
		{"interval", `{` + vip + `,"health":{"interval":"soon"},"backends":[` + b1 + `]}`, `config: health.interval "soon": not a duration`, ErrBadDuration},
		{"interval small", `{` + vip + `,"health":{"interval":"1ms"},"backends":[` + b1 + `]}`, `config: health.interval 1ms: out of range`, ErrRange},
		{"timeout", `{` + vip + `,"health":{"interval":"1s","timeout":"2s"},"backends":[` + b1 + `]}`, `config: health.timeout 2s: out of range`, ErrRange},
		{"drain", `{` + vip + `,"health":{"drain":"-1s"},"backends":[` + b1 + `]}`, `config: health.drain -1s: out of range`, ErrRange},
		{"rise", `{` + vip + `,"health":{"rise":0},"backends":[` + b1 + `]}`, `config: health.rise 0: out of range`, ErrRange},
		{"fall", `{` + vip + `,"health":{"fall":-2},"backends":[` + b1 + `]}`, `config: health.fall -2: out of range`, ErrRange},
		{"ring not prime", `{` + vip + `,"program":{"ring_size":65536},"backends":[` + b1 + `]}`, `config: program.ring_size 65536: not prime`, nil},
		// Finding 5: a ring smaller than the backend set passed -check
		// and failed at run time.
		{"ring smaller than backends", `{` + vip + `,"program":{"ring_size":2},"backends":[` + many(3) + `]}`, `config: program.ring_size 2: out of range (fewer slots than the 3 backends)`, ErrRange},
		{"too many backends", `{` + vip + `,"program":{"max_backends":8192},"backends":[` + many(MaxBackends+1) + `]}`, `config: backends: 4097 backends: out of range (at most 4096)`, ErrRange},
		{"interval too short for the backends", `{` + vip + `,"health":{"interval":"100ms"},"backends":[` + many(2000) + `]}`, `config: health.interval 100ms: out of range (2000 backends need at least 488.28125ms: at most 4096 checks a second)`, ErrRange},
		{"timeout too long for the backends", `{` + vip + `,"health":{"interval":"1s","timeout":"1s"},"backends":[` + many(4096) + `]}`, `config: health.timeout 1s: out of range (4096 backends every 1s need at most 500ms: at most 2048 checks in flight)`, ErrRange},
		{"table size", `{` + vip + `,"program":{"conn_table_size":-1},"backends":[` + b1 + `]}`, `config: program.conn_table_size -1: out of range`, ErrRange},
		{"attach mode", `{` + vip + `,"program":{"attach_mode":"turbo"},"backends":[` + b1 + `]}`, `config: program.attach_mode "turbo": out of range`, ErrRange},
	} {
		t.Run(tc.name, func(t *testing.T) { refused(t, tc.in, tc.want, tc.is) })
	}
}

// TestConfigAtTheLimits: the largest backend set, at the shortest interval
// it allows, is accepted.
func TestConfigAtTheLimits(t *testing.T) {
	var bs []string
	for i := range MaxBackends {
		bs = append(bs, fmt.Sprintf(`{"id":%d,"address":"10.1.%d.%d","health_port":80}`, i, i>>8, i&255))
	}
	in := `{"vips":["192.0.2.1"],"health":{"interval":"` + minInterval(MaxBackends).String() + `"},"backends":[` + strings.Join(bs, ",") + `]}`
	c, err := ParseConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Backends) != MaxBackends || c.Health.Interval != time.Second {
		t.Errorf("%d backends every %v, want %d every 1s", len(c.Backends), c.Health.Interval, MaxBackends)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(t.TempDir() + "/nope.json")
	if err == nil || !strings.Contains(err.Error(), "config: open ") {
		t.Fatalf("error %v, want one containing %q", err, "config: open ")
	}
}

// TestLoadConfigFIFO reproduces finding 7 of issue 14: a config path that
// is a FIFO made LoadConfig (and so every later reload) wait for ever. It
// is refused at once now, as is a directory or a device.
func TestLoadConfigFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "agent.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for path, kind := range map[string]string{fifo: "a named pipe", dir: "a directory", "/dev/zero": "a device"} {
		done := make(chan error, 1)
		go func() {
			_, err := LoadConfig(path)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file ("+kind+")") {
				t.Errorf("LoadConfig(%s): %v, want \"not a regular file\"", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("LoadConfig(%s) still waiting after 5s", path)
		}
	}
}

func TestCheckReload(t *testing.T) {
	base := func() *Config {
		c, err := LoadConfig("agent.example.json")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := base()
	n := base()
	n.Backends = n.Backends[:1]
	n.Health.Rise = 5
	if err := c.checkReload(n); err != nil {
		t.Errorf("backends and health may change: %v", err)
	}
	n = base()
	n.VIPs = n.VIPs[:1]
	if err := c.checkReload(n); !errors.Is(err, ErrImmutable) {
		t.Errorf("new VIPs: %v, want %v", err, ErrImmutable)
	}
	n = base()
	n.Program.ConnTableSize = 10
	if err := c.checkReload(n); err == nil || !strings.Contains(err.Error(), "config: program") {
		t.Errorf("new program section: %v", err)
	}
	n = base()
	n.Interface = "eth1"
	if err := c.checkReload(n); err == nil || !strings.Contains(err.Error(), `config: interface "eth1": cannot change on reload`) {
		t.Errorf("new interface: %v", err)
	}
}

// TestCheckReloadDefaultsWrittenOut reproduces finding 6 of issue 14: a
// reload refused an unchanged config whose defaults were written out
// ("ring_size": 65537 where it had been left out).
func TestCheckReloadDefaultsWrittenOut(t *testing.T) {
	const backends = `"backends":[{"id":1,"address":"10.0.0.1","health_port":80}]`
	implicit, err := ParseConfig(strings.NewReader(`{"vips":["192.0.2.1"],` + backends + `}`))
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := ParseConfig(strings.NewReader(fmt.Sprintf(`{"vips":["192.0.2.1"],"program":{"ring_size":%d,"conn_table_size":%d,"frag_table_size":%d,"max_backends":%d,"attach_mode":"default"},`+backends+`}`,
		titan.DefaultRingSize, titan.DefaultConnTableSize, titan.DefaultFragTableSize, xdp.DefaultMaxBackends)))
	if err != nil {
		t.Fatal(err)
	}
	if err := implicit.checkReload(explicit); err != nil {
		t.Errorf("defaults written out: %v", err)
	}
	if err := explicit.checkReload(implicit); err != nil {
		t.Errorf("defaults left out: %v", err)
	}
}

// FuzzParseConfig: any input is a config or an error, never a panic; an
// accepted config holds what validation promises.
func FuzzParseConfig(f *testing.F) {
	b, err := os.ReadFile("agent.example.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add(`{"vips":["192.0.2.1"],"backends":[{"id":7,"address":"10.1.1.1","health_port":22}]}`)
	f.Add(`{"vips":["192.0.2.1"],"health":{"interval":"10ms","rise":1000},"backends":[{"id":0,"address":"1.2.3.4","health_port":1,"weight":0}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseConfig(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error without the config: prefix: %v", err)
			}
			return
		}
		if len(c.VIPs) == 0 || len(c.Backends) == 0 || len(c.Backends) > MaxBackends {
			t.Fatalf("%d VIPs, %d backends", len(c.VIPs), len(c.Backends))
		}
		h := c.Health
		if h.Interval < 10*time.Millisecond || h.Timeout <= 0 || h.Timeout > h.Interval || h.Rise < 1 || h.Fall < 1 {
			t.Fatalf("health %+v", h)
		}
		if float64(len(c.Backends))/h.Interval.Seconds() > MaxCheckRate || float64(len(c.Backends))*h.Timeout.Seconds()/h.Interval.Seconds() > MaxInFlight ||
			uint64(len(c.Backends)) > c.Program.RingSize {
			t.Fatalf("%d backends every %v with %d slots", len(c.Backends), h.Interval, c.Program.RingSize)
		}
		bs := make([]balancer.Backend, len(c.Backends))
		for i, b := range c.Backends {
			if b.HealthPort == 0 || unusable(b.Addr) != "" {
				t.Fatalf("backend %+v", b)
			}
			bs[i] = balancer.Backend{ID: b.ID, Name: b.Name, Addr: b.Addr, Weight: b.Weight, Up: true}
		}
		if err := balancer.ValidateBackends(bs); err != nil {
			t.Fatal(err)
		}
		if _, err := balancer.NewRing(bs, c.Program.RingSize); err != nil {
			t.Fatalf("accepted config, refused ring: %v", err)
		}
	})
}

// refused checks that ParseConfig refuses in with an error containing
// want, matching is (unless nil), and naming no Go type.
func refused(t *testing.T, in, want string, is error) {
	t.Helper()
	_, err := ParseConfig(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
	if is != nil && !errors.Is(err, is) {
		t.Fatalf("%v is not %v", err, is)
	}
	for _, goName := range []string{"int64", "[]string", "struct", "main.", "Go "} {
		if strings.Contains(err.Error(), goName) {
			t.Errorf("error %q names Go's %q", err, goName)
		}
	}
}
