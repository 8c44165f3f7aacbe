package main

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/xdp"
)

func TestExampleConfig(t *testing.T) {
	c, err := LoadConfig("agent.example.json")
	require.NoError(t, err)
	require.Equal(t, "eth0", c.Interface)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}, c.VIPs)
	require.Equal(t, HealthConfig{Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3, Drain: 30 * time.Second}, c.Health)
	require.Equal(t, xdp.AttachGeneric, c.Program.AttachMode)
	require.Len(t, c.Backends, 3)
	require.Equal(t, BackendConfig{ID: 103, Name: "103", Addr: netip.MustParseAddr("10.0.1.103"), Weight: 2, HealthPort: 8080}, c.Backends[2])
	require.Equal(t, "10.0.1.103:8080", c.Backends[2].HealthAddr())
	o := c.Options()
	require.Equal(t, c.VIPs, o.VIPs)
	require.Equal(t, uint64(65537), o.RingSize)
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig(strings.NewReader(`{"vips":["192.0.2.1"],"backends":[{"id":7,"address":"10.1.1.1","health_port":22}]}`))
	require.NoError(t, err)
	require.Equal(t, HealthConfig{Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: DefaultRise, Fall: DefaultFall, Drain: DefaultDrain}, c.Health)
	require.Equal(t, BackendConfig{ID: 7, Name: "7", Addr: netip.MustParseAddr("10.1.1.1"), Weight: DefaultWeight, HealthPort: 22}, c.Backends[0])
	require.Equal(t, ProgramConfig{}, c.Program)

	// A short interval caps the default timeout; an explicit weight 0 stays 0.
	c, err = ParseConfig(strings.NewReader(`{"vips":["192.0.2.1"],"health":{"interval":"100ms","drain":"0s"},
		"backends":[{"id":7,"address":"10.1.1.1","health_port":22,"weight":0}]}`))
	require.NoError(t, err)
	require.Equal(t, 100*time.Millisecond, c.Health.Timeout)
	require.Equal(t, time.Duration(0), c.Health.Drain)
	require.Equal(t, uint32(0), c.Backends[0].Weight)
}

func TestConfigErrors(t *testing.T) {
	const vip = `"vips":["192.0.2.1"]`
	const b1 = `{"id":1,"address":"10.0.0.1","health_port":80}`
	for _, tc := range []struct {
		name, in, want string
		is             error
	}{
		{"not json", `{`, "config: unexpected EOF", nil},
		{"syntax with line", "{\n\"vips\": [1,,]}", "config: line 2:", nil},
		{"unknown field", `{` + vip + `,"backend":[]}`, `unknown field "backend"`, nil},
		{"type", `{"vips":"192.0.2.1"}`, "config: vips: string where a list of strings is expected (line 1)", nil},
		{"type nested", "{\"vips\":[\"192.0.2.1\"],\n\"backends\":[{\"id\":\"7\"}]}", "config: backends.id: string where an integer is expected (line 2)", nil},
		{"type object", `{"health":[]}`, "config: health: array where an object is expected", nil},
		{"trailing", `{` + vip + `,"backends":[` + b1 + `]} {}`, "config: data after the top-level object", nil},
		{"no vips", `{"backends":[` + b1 + `]}`, "config: vips: missing", ErrMissing},
		{"bad vip", `{"vips":["::1"],"backends":[` + b1 + `]}`, `config: vips[0] "::1": not an IPv4 address`, ErrNotIPv4},
		{"dup vip", `{"vips":["192.0.2.1","192.0.2.1"],"backends":[` + b1 + `]}`, `config: vips[1] "192.0.2.1": duplicate (vips[0])`, ErrDuplicate},
		{"no backends", `{` + vip + `}`, "config: backends: missing", ErrMissing},
		{"bad address", `{` + vip + `,"backends":[` + b1 + `,{"id":2,"address":"x","health_port":80}]}`, `config: backends[1].address "x": not an IPv4 address`, ErrNotIPv4},
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
		{"table size", `{` + vip + `,"program":{"conn_table_size":-1},"backends":[` + b1 + `]}`, `config: program.conn_table_size -1: out of range`, ErrRange},
		{"attach mode", `{` + vip + `,"program":{"attach_mode":"turbo"},"backends":[` + b1 + `]}`, `config: program.attach_mode "turbo": out of range`, ErrRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tc.in))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			if tc.is != nil {
				require.True(t, errors.Is(err, tc.is), "%v is not %v", err, tc.is)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(t.TempDir() + "/nope.json")
	require.ErrorContains(t, err, "config: open ")
}

func TestCheckReload(t *testing.T) {
	base := func() *Config {
		c, err := LoadConfig("agent.example.json")
		require.NoError(t, err)
		return c
	}
	c := base()
	n := base()
	n.Backends = n.Backends[:1]
	n.Health.Rise = 5
	require.NoError(t, c.checkReload(n), "backends and health may change")
	n = base()
	n.VIPs = n.VIPs[:1]
	require.ErrorIs(t, c.checkReload(n), ErrImmutable)
	n = base()
	n.Program.ConnTableSize = 10
	require.ErrorContains(t, c.checkReload(n), "config: program")
	n = base()
	n.Interface = "eth1"
	require.ErrorContains(t, c.checkReload(n), `config: interface "eth1": cannot change on reload`)
}

// FuzzParseConfig: any input is a config or an error, never a panic; an
// accepted config holds what validation promises.
func FuzzParseConfig(f *testing.F) {
	b, err := os.ReadFile("agent.example.json")
	require.NoError(f, err)
	f.Add(string(b))
	f.Add(`{"vips":["192.0.2.1"],"backends":[{"id":7,"address":"10.1.1.1","health_port":22}]}`)
	f.Add(`{"vips":["192.0.2.1"],"health":{"interval":"10ms","rise":1000},"backends":[{"id":0,"address":"1.2.3.4","health_port":1,"weight":0}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseConfig(strings.NewReader(in))
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "config: "), "%v", err)
			return
		}
		require.NotEmpty(t, c.VIPs)
		require.NotEmpty(t, c.Backends)
		require.GreaterOrEqual(t, c.Health.Interval, 10*time.Millisecond)
		require.True(t, c.Health.Timeout > 0 && c.Health.Timeout <= c.Health.Interval)
		require.True(t, c.Health.Rise >= 1 && c.Health.Fall >= 1)
		bs := make([]balancer.Backend, len(c.Backends))
		for i, b := range c.Backends {
			require.NotZero(t, b.HealthPort)
			bs[i] = balancer.Backend{ID: b.ID, Name: b.Name, Addr: b.Addr, Weight: b.Weight, Up: true}
		}
		require.NoError(t, balancer.ValidateBackends(bs))
	})
}
