package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/strictjson"
	"github.com/titanlb/titanlb/maglev"
	"github.com/titanlb/titanlb/xdp"
)

// Defaults of the health section and the backends.
const (
	DefaultInterval = time.Second
	DefaultTimeout  = 500 * time.Millisecond
	DefaultRise     = 2
	DefaultFall     = 3
	DefaultDrain    = 30 * time.Second
	DefaultWeight   = 1
)

// Limits of the health-check schedule: every config the agent accepts is
// one whose schedule was measured to hold (docs/operations.md, "Health
// checks at the limit").
const (
	// MaxBackends is the largest backend set the agent accepts.
	MaxBackends = 4096
	// MaxCheckRate bounds backends/health.interval, the TCP connects the
	// agent starts per second: 4096 backends need an interval of at
	// least 1s.
	MaxCheckRate = 4096
	// MaxInFlight bounds backends*health.timeout/health.interval, the
	// checks in flight when every backend hangs for the whole timeout:
	// 4096 backends every 1s need a timeout of at most 500ms.
	MaxInFlight = 2048
)

// maxConfigSize bounds the config file.
const maxConfigSize = 1 << 20

// Errors of config validation, wrapped with the field's name and value.
var (
	ErrNotIP       = errors.New("not an IPv4 or IPv6 address")
	ErrFamily      = errors.New("not the VIP's address family")
	ErrMissing     = errors.New("missing")
	ErrDuplicate   = errors.New("duplicate")
	ErrRange       = errors.New("out of range")
	ErrBadDuration = errors.New("not a duration")
	ErrImmutable   = errors.New("cannot change on reload (restart the agent)")
	ErrUnusable    = errors.New("not a usable unicast address")
	ErrUnknown     = errors.New("no such backend")
	ErrUnserved    = errors.New("serves nothing")
)

// ErrNotIPv4 is the error an IPv6 address got before the agent took IPv6.
//
// Deprecated: addresses are IPv4 or IPv6; an address that is neither is
// [ErrNotIP].
var ErrNotIPv4 = ErrNotIP

// MaxServices is the most services a config may list: what the XDP
// datapath can hold (xdp.MaxServices when it serves services).
const MaxServices = 256

// Config is a validated agent configuration: every default filled in.
type Config struct {
	// Interface is the network interface the program attaches to; the
	// -iface flag overrides it.
	Interface string
	// VIPs are the virtual addresses balanced, IPv4 or IPv6; at least
	// one. Other traffic on the interface is passed to the kernel
	// untouched.
	VIPs []netip.Addr
	// Program holds the options the Titan program is loaded with.
	Program ProgramConfig
	// Health says how backends are checked.
	Health HealthConfig
	// Backends are the configured backends, in file order.
	Backends []BackendConfig
	// Services, when set, are the services the datapath serves (each a
	// VIP, port and protocol with its own pool and ring), in file order:
	// a packet to a VIP's port and protocol that is no service is passed.
	// Without services every backend serves every port and protocol of
	// the VIPs of its family (the catch-all).
	Services []ServiceConfig
}

// ServiceConfig is one configured service: its key, its pool (each
// backend with its weight in this service) and its ring size.
type ServiceConfig struct {
	Key      balancer.ServiceKey
	Pool     []PoolMember
	RingSize uint64 // 0: program.ring_size
}

// PoolMember is a backend of a service's pool.
type PoolMember struct {
	ID     balancer.BackendID
	Weight uint32
}

// ProgramConfig is the part of [xdp.Options] the file may set, with the
// xdp defaults filled in (so that a default written out and one left out
// are the same config), and the mode [xdp.Program.Attach] attaches in. It
// is fixed for the agent's lifetime: a reload that changes it is refused.
type ProgramConfig struct {
	RingSize      uint64
	ConnTableSize int
	FragTableSize int
	MaxBackends   int
	AttachMode    xdp.AttachMode
}

// HealthConfig says how backends are health-checked: a TCP connect to the
// backend's address and health port every Interval, given up after
// Timeout. A backend goes down after Fall consecutive failures and comes
// back after Rise consecutive successes. A backend removed from the config
// keeps its flows at weight 0 for Drain before it is removed.
type HealthConfig struct {
	Interval time.Duration
	Timeout  time.Duration
	Rise     int
	Fall     int
	Drain    time.Duration
}

// BackendConfig is one configured backend.
type BackendConfig struct {
	ID         balancer.BackendID
	Name       string
	Addr       netip.Addr
	Weight     uint32
	HealthPort uint16
}

// HealthAddr is the address:port the health check connects to.
func (b BackendConfig) HealthAddr() string {
	return netip.AddrPortFrom(b.Addr, b.HealthPort).String()
}

// Options returns the xdp options the program is loaded with.
func (c *Config) Options() xdp.Options {
	return xdp.Options{
		Config: titan.Config{
			VIPs:          slices.Clone(c.VIPs),
			RingSize:      c.Program.RingSize,
			ConnTableSize: c.Program.ConnTableSize,
			FragTableSize: c.Program.FragTableSize,
		},
		MaxBackends: c.Program.MaxBackends,
	}
}

// fileConfig is the JSON file as written: strings and pointers, so that
// validation can name what is missing or malformed.
type fileConfig struct {
	Interface string   `json:"interface"`
	VIPs      []string `json:"vips"`
	Program   struct {
		RingSize      int64  `json:"ring_size"`
		ConnTableSize int    `json:"conn_table_size"`
		FragTableSize int    `json:"frag_table_size"`
		MaxBackends   int    `json:"max_backends"`
		AttachMode    string `json:"attach_mode"`
	} `json:"program"`
	Health struct {
		Interval string `json:"interval"`
		Timeout  string `json:"timeout"`
		Rise     *int   `json:"rise"`
		Fall     *int   `json:"fall"`
		Drain    string `json:"drain"`
	} `json:"health"`
	Backends []struct {
		ID         *int64 `json:"id"`
		Name       string `json:"name"`
		Address    string `json:"address"`
		Weight     *int64 `json:"weight"`
		HealthPort *int64 `json:"health_port"`
	} `json:"backends"`
	Services []struct {
		VIP      string `json:"vip"`
		Port     *int64 `json:"port"`
		Protocol string `json:"protocol"`
		Pool     []struct {
			ID     *int64 `json:"id"`
			Weight *int64 `json:"weight"`
		} `json:"pool"`
		RingSize int64 `json:"ring_size"`
	} `json:"services"`
}

// LoadConfig reads and validates the JSON config file at path, which must
// be a regular file: a FIFO or a device is refused at once rather than
// waited on, so that a reload can never hang.
func LoadConfig(path string) (*Config, error) {
	// O_NONBLOCK: opening a FIFO without a writer returns at once.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("config: %s: not a regular file (%s)", path, fileKind(fi.Mode()))
	}
	return ParseConfig(f)
}

// fileKind names a mode's type.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// ParseConfig reads a JSON config from r and validates it. The JSON is
// read strictly: keys match exactly (case included), each once, an unknown
// key is an error (a misspelt key must not be ignored silently), and
// nothing may follow the object. Errors name the field, e.g.
// `config: backends[1].address "x": not an IPv4 or IPv6 address`.
func ParseConfig(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("config: larger than 1 MiB")
	}
	var fc fileConfig
	if err := strictjson.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return fc.validate()
}

// unusable says why a is no address to send packets to or to balance, or
// returns "": the balancer would deliver to itself (unspecified, loopback,
// IPv4's "this network"), to many hosts (multicast, IPv4 broadcast), or
// to no routable host (link-local, IPv4's reserved 240.0.0.0/4); an IPv6
// address with a zone or IPv4-mapped is written otherwise.
func unusable(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback (the balancer host itself)"
	case a.IsMulticast():
		return "multicast"
	case a.Zone() != "":
		return "has a zone (%" + a.Zone() + ")"
	case a.Is4In6():
		return "IPv4-mapped (write the IPv4 address)"
	case a.Is6() && a.IsLinkLocalUnicast():
		return "link-local (fe80::/10: not routed)"
	case a.Is6():
		return ""
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	case a.As4()[0] == 0:
		return `"this network" (0.0.0.0/8)`
	case a.IsLinkLocalUnicast():
		return "link-local (169.254.0.0/16: not routed)"
	case a.As4()[0] >= 240:
		return "reserved (240.0.0.0/4)"
	}
	return ""
}

// parseAddr parses an IPv4 or IPv6 address that is usable (see
// [unusable]); field names it in errors.
func parseAddr(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s %q: %w", field, s, ErrNotIP)
	}
	if why := unusable(a); why != "" {
		return netip.Addr{}, fmt.Errorf("%s %q: %w: %s", field, s, ErrUnusable, why)
	}
	return a, nil
}

// family names a's address family.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func (fc *fileConfig) validate() (*Config, error) {
	c := &Config{Interface: fc.Interface}
	if len(fc.VIPs) == 0 {
		return nil, fmt.Errorf("config: vips: %w: at least one VIP (an empty list would balance every packet on the interface)", ErrMissing)
	}
	vips := map[netip.Addr]int{}
	vipFamily := map[bool]bool{} // Is4 -> some VIP of that family
	for i, s := range fc.VIPs {
		a, err := parseAddr(fmt.Sprintf("config: vips[%d]", i), s)
		if err != nil {
			return nil, err
		}
		vipFamily[a.Is4()] = true
		if j, ok := vips[a]; ok {
			return nil, fmt.Errorf("config: vips[%d] %q: %w (vips[%d])", i, s, ErrDuplicate, j)
		}
		vips[a] = i
		c.VIPs = append(c.VIPs, a)
	}

	p := fc.Program
	if p.RingSize < 0 {
		return nil, fmt.Errorf("config: program.ring_size %d: %w", p.RingSize, ErrRange)
	}
	c.Program = ProgramConfig{RingSize: uint64(p.RingSize), ConnTableSize: p.ConnTableSize,
		FragTableSize: p.FragTableSize, MaxBackends: p.MaxBackends}
	switch strings.ToLower(p.AttachMode) {
	case "", "default":
		c.Program.AttachMode = xdp.AttachDefault
	case "generic":
		c.Program.AttachMode = xdp.AttachGeneric
	case "native", "driver":
		c.Program.AttachMode = xdp.AttachNative
	default:
		return nil, fmt.Errorf("config: program.attach_mode %q: %w (want default, generic or native)", p.AttachMode, ErrRange)
	}
	if err := c.Program.validate(); err != nil {
		return nil, err
	}
	c.Program = c.Program.resolved()
	maxBackends := c.Program.MaxBackends

	h := &c.Health
	var err error
	if h.Interval, err = duration("health.interval", fc.Health.Interval, DefaultInterval); err != nil {
		return nil, err
	}
	if h.Timeout, err = duration("health.timeout", fc.Health.Timeout, min(DefaultTimeout, h.Interval)); err != nil {
		return nil, err
	}
	if h.Drain, err = duration("health.drain", fc.Health.Drain, DefaultDrain); err != nil {
		return nil, err
	}
	switch {
	case h.Interval < 10*time.Millisecond:
		return nil, fmt.Errorf("config: health.interval %v: %w (at least 10ms)", h.Interval, ErrRange)
	case h.Timeout <= 0 || h.Timeout > h.Interval:
		return nil, fmt.Errorf("config: health.timeout %v: %w (above 0 and at most health.interval %v)", h.Timeout, ErrRange, h.Interval)
	case h.Drain < 0:
		return nil, fmt.Errorf("config: health.drain %v: %w (must not be negative)", h.Drain, ErrRange)
	}
	for _, t := range []struct {
		name string
		in   *int
		out  *int
		def  int
	}{{"rise", fc.Health.Rise, &h.Rise, DefaultRise}, {"fall", fc.Health.Fall, &h.Fall, DefaultFall}} {
		*t.out = t.def
		if t.in != nil {
			*t.out = *t.in
		}
		if *t.out < 1 || *t.out > 1000 {
			return nil, fmt.Errorf("config: health.%s %d: %w (1 to 1000)", t.name, *t.out, ErrRange)
		}
	}

	if len(fc.Backends) == 0 {
		return nil, fmt.Errorf("config: backends: %w: at least one backend", ErrMissing)
	}
	n := len(fc.Backends)
	switch {
	case n > MaxBackends:
		return nil, fmt.Errorf("config: backends: %d backends: %w (at most %d)", n, ErrRange, MaxBackends)
	case len(fc.Services) == 0 && uint64(n) > c.Program.RingSize:
		// Every backend may be up at once: the ring needs a slot each.
		return nil, fmt.Errorf("config: program.ring_size %d: %w (fewer slots than the %d backends)", c.Program.RingSize, ErrRange, n)
	case float64(n)/h.Interval.Seconds() > MaxCheckRate:
		return nil, fmt.Errorf("config: health.interval %v: %w (%d backends need at least %v: at most %d checks a second)",
			h.Interval, ErrRange, n, minInterval(n), MaxCheckRate)
	case float64(n)*h.Timeout.Seconds()/h.Interval.Seconds() > MaxInFlight:
		return nil, fmt.Errorf("config: health.timeout %v: %w (%d backends every %v need at most %v: at most %d checks in flight)",
			h.Timeout, ErrRange, n, h.Interval, maxTimeout(n, h.Interval), MaxInFlight)
	}
	ids, names, addrs := map[balancer.BackendID]int{}, map[string]int{}, map[netip.Addr]int{}
	for i, fb := range fc.Backends {
		field := func(f string) string { return fmt.Sprintf("config: backends[%d].%s", i, f) }
		var b BackendConfig
		if fb.ID == nil {
			return nil, fmt.Errorf("%s: %w", field("id"), ErrMissing)
		}
		if *fb.ID < 0 || *fb.ID >= int64(maxBackends) {
			return nil, fmt.Errorf("%s %d: %w (0 to program.max_backends-1 = %d)", field("id"), *fb.ID, ErrRange, maxBackends-1)
		}
		b.ID = balancer.BackendID(*fb.ID)
		if j, ok := ids[b.ID]; ok {
			return nil, fmt.Errorf("%s %d: %w (backends[%d])", field("id"), b.ID, ErrDuplicate, j)
		}
		ids[b.ID] = i
		b.Name = fb.Name
		if b.Name == "" {
			b.Name = b.ID.String()
		}
		if j, ok := names[b.Name]; ok {
			return nil, fmt.Errorf("%s %q: %w (backends[%d])", field("name"), b.Name, ErrDuplicate, j)
		}
		names[b.Name] = i
		if fb.Address == "" {
			return nil, fmt.Errorf("%s: %w", field("address"), ErrMissing)
		}
		a, err := parseAddr(field("address"), fb.Address)
		if err != nil {
			return nil, err
		}
		if len(fc.Services) == 0 && !vipFamily[a.Is4()] {
			return nil, fmt.Errorf("%s %q: %w: no VIP is %s", field("address"), fb.Address, ErrUnserved, family(a))
		}
		if j, ok := addrs[a]; ok {
			return nil, fmt.Errorf("%s %q: %w (backends[%d])", field("address"), fb.Address, ErrDuplicate, j)
		}
		if _, ok := vips[a]; ok {
			return nil, fmt.Errorf("%s %q: %w: is a VIP", field("address"), fb.Address, ErrDuplicate)
		}
		addrs[a] = i
		b.Addr = a
		b.Weight = DefaultWeight
		if fb.Weight != nil {
			if *fb.Weight < 0 || *fb.Weight > 1<<16 {
				return nil, fmt.Errorf("%s %d: %w (0 to 65536)", field("weight"), *fb.Weight, ErrRange)
			}
			b.Weight = uint32(*fb.Weight)
		}
		if fb.HealthPort == nil {
			return nil, fmt.Errorf("%s: %w", field("health_port"), ErrMissing)
		}
		if *fb.HealthPort < 1 || *fb.HealthPort > 65535 {
			return nil, fmt.Errorf("%s %d: %w (1 to 65535)", field("health_port"), *fb.HealthPort, ErrRange)
		}
		b.HealthPort = uint16(*fb.HealthPort)
		c.Backends = append(c.Backends, b)
	}
	if err := fc.validateServices(c, vips, ids); err != nil {
		return nil, err
	}
	return c, nil
}

// validateServices reads the services section into c: each service's VIP
// one of vips, a port and protocol (tcp or udp) no other service of the
// VIP has, a pool of configured backends (ids: by ID, their index) of the
// VIP's family, each once, and a ring size that is 0 (program.ring_size)
// or a prime that holds the pool. With services, every backend must be in
// a pool.
func (fc *fileConfig) validateServices(c *Config, vips map[netip.Addr]int, ids map[balancer.BackendID]int) error {
	if len(fc.Services) > MaxServices {
		return fmt.Errorf("config: services: %d services: %w (at most %d)", len(fc.Services), ErrRange, MaxServices)
	}
	keys := map[balancer.ServiceKey]int{}
	pooled := map[balancer.BackendID]bool{}
	for i, fs := range fc.Services {
		field := func(f string) string { return fmt.Sprintf("config: services[%d].%s", i, f) }
		var s ServiceConfig
		if fs.VIP == "" {
			return fmt.Errorf("%s: %w", field("vip"), ErrMissing)
		}
		vip, err := parseAddr(field("vip"), fs.VIP)
		if err != nil {
			return err
		}
		if _, ok := vips[vip]; !ok {
			return fmt.Errorf("%s %q: %w: not one of vips (the program balances those only)", field("vip"), fs.VIP, ErrUnknown)
		}
		if fs.Port == nil {
			return fmt.Errorf("%s: %w", field("port"), ErrMissing)
		}
		if *fs.Port < 1 || *fs.Port > 65535 {
			return fmt.Errorf("%s %d: %w (1 to 65535)", field("port"), *fs.Port, ErrRange)
		}
		s.Key = balancer.ServiceKey{VIP: vip, Port: uint16(*fs.Port)}
		switch fs.Protocol {
		case "tcp":
			s.Key.Proto = balancer.ProtoTCP
		case "udp":
			s.Key.Proto = balancer.ProtoUDP
		case "":
			return fmt.Errorf("%s: %w (tcp or udp)", field("protocol"), ErrMissing)
		default:
			return fmt.Errorf("%s %q: %w (tcp or udp)", field("protocol"), fs.Protocol, ErrRange)
		}
		if j, ok := keys[s.Key]; ok {
			return fmt.Errorf("config: services[%d] %v: %w (services[%d])", i, s.Key, ErrDuplicate, j)
		}
		keys[s.Key] = i
		if len(fs.Pool) == 0 {
			return fmt.Errorf("%s: %w: at least one backend", field("pool"), ErrMissing)
		}
		in := map[balancer.BackendID]int{}
		for j, fm := range fs.Pool {
			mf := func(f string) string { return field(fmt.Sprintf("pool[%d].%s", j, f)) }
			if fm.ID == nil {
				return fmt.Errorf("%s: %w", mf("id"), ErrMissing)
			}
			bi, ok := ids[balancer.BackendID(*fm.ID)]
			if *fm.ID < 0 || *fm.ID > 1<<32-1 || !ok {
				return fmt.Errorf("%s %d: %w (not in backends)", mf("id"), *fm.ID, ErrUnknown)
			}
			b := c.Backends[bi]
			if k, ok := in[b.ID]; ok {
				return fmt.Errorf("%s %d: %w (pool[%d])", mf("id"), b.ID, ErrDuplicate, k)
			}
			in[b.ID] = j
			if b.Addr.Is4() != vip.Is4() {
				return fmt.Errorf("%s %d: backends[%d].address %v: %w (%s)", mf("id"), b.ID, bi, b.Addr, ErrFamily, vip)
			}
			m := PoolMember{ID: b.ID, Weight: b.Weight}
			if fm.Weight != nil {
				if *fm.Weight < 0 || *fm.Weight > 1<<16 {
					return fmt.Errorf("%s %d: %w (0 to 65536)", mf("weight"), *fm.Weight, ErrRange)
				}
				m.Weight = uint32(*fm.Weight)
			}
			s.Pool = append(s.Pool, m)
			pooled[b.ID] = true
		}
		switch r := fs.RingSize; {
		case r == 0:
			if uint64(len(s.Pool)) > c.Program.RingSize {
				return fmt.Errorf("config: program.ring_size %d: %w (fewer slots than services[%d]'s %d backends)", c.Program.RingSize, ErrRange, i, len(s.Pool))
			}
		case r < 0 || r > maglev.MaxSize:
			return fmt.Errorf("%s %d: %w (0 for program.ring_size, at most %d)", field("ring_size"), r, ErrRange, maglev.MaxSize)
		case r < int64(len(s.Pool)):
			// Every backend may be up at once: the ring needs a slot each.
			return fmt.Errorf("%s %d: %w (fewer slots than its %d backends)", field("ring_size"), r, ErrRange, len(s.Pool))
		case !maglev.IsPrime(uint64(r)):
			return fmt.Errorf("%s %d: %w", field("ring_size"), r, maglev.ErrSizeNotPrime)
		}
		s.RingSize = uint64(fs.RingSize)
		c.Services = append(c.Services, s)
	}
	if len(c.Services) == 0 {
		return nil
	}
	for i, b := range c.Backends {
		if !pooled[b.ID] {
			return fmt.Errorf("config: backends[%d].id %d: %w: in no service's pool (with services, every backend serves one)", i, b.ID, ErrUnserved)
		}
	}
	// What the datapath checks too, as a last word.
	if err := balancer.ValidateServices(c.services(nil)); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// services returns the configured services with each pool member's
// backend as the datapath gets it: its name and address, its weight in the
// service, Up as up reports it (nil: every backend up).
func (c *Config) services(up func(balancer.BackendID) bool) []balancer.Service {
	byID := make(map[balancer.BackendID]BackendConfig, len(c.Backends))
	for _, b := range c.Backends {
		byID[b.ID] = b
	}
	ss := make([]balancer.Service, len(c.Services))
	for i, s := range c.Services {
		ss[i] = balancer.Service{Key: s.Key, RingSize: s.RingSize}
		for _, m := range s.Pool {
			b := byID[m.ID]
			ss[i].Backends = append(ss[i].Backends, balancer.Backend{
				ID: b.ID, Name: b.Name, Addr: b.Addr, Weight: m.Weight, Up: up == nil || up(b.ID),
			})
		}
	}
	return ss
}

// validate checks what xdp.Load would refuse, so that a bad program
// section is a config error before anything is loaded.
func (p ProgramConfig) validate() error {
	if p.RingSize != 0 {
		if p.RingSize > maglev.MaxSize {
			return fmt.Errorf("config: program.ring_size %d: %w (at most %d)", p.RingSize, ErrRange, maglev.MaxSize)
		}
		if !maglev.IsPrime(p.RingSize) {
			return fmt.Errorf("config: program.ring_size %d: %w", p.RingSize, maglev.ErrSizeNotPrime)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"conn_table_size", p.ConnTableSize}, {"frag_table_size", p.FragTableSize}, {"max_backends", p.MaxBackends}} {
		if f.v < 0 || f.v > 1<<24 {
			return fmt.Errorf("config: program.%s %d: %w (0 for the default, at most %d)", f.name, f.v, ErrRange, 1<<24)
		}
	}
	return nil
}

// minInterval is the shortest health.interval for n backends.
func minInterval(n int) time.Duration {
	return (time.Duration(n)*time.Second + MaxCheckRate - 1) / MaxCheckRate
}

// maxTimeout is the longest health.timeout for n backends every interval.
func maxTimeout(n int, interval time.Duration) time.Duration {
	return interval * MaxInFlight / time.Duration(n)
}

// resolved fills in the xdp defaults.
func (p ProgramConfig) resolved() ProgramConfig {
	if p.RingSize == 0 {
		p.RingSize = titan.DefaultRingSize
	}
	if p.ConnTableSize == 0 {
		p.ConnTableSize = titan.DefaultConnTableSize
	}
	if p.FragTableSize == 0 {
		p.FragTableSize = titan.DefaultFragTableSize
	}
	if p.MaxBackends == 0 {
		p.MaxBackends = xdp.DefaultMaxBackends
	}
	return p
}

// duration parses s ("1s", "250ms"); empty means def.
func duration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("config: %s %q: %w (e.g. \"1s\", \"250ms\")", field, s, ErrBadDuration)
	}
	return d, nil
}

// checkReload reports why next cannot replace c in a running agent: the
// interface, VIPs and program options are fixed when the program loads.
func (c *Config) checkReload(next *Config) error {
	switch {
	case next.Interface != c.Interface:
		return fmt.Errorf("config: interface %q: %w (was %q)", next.Interface, ErrImmutable, c.Interface)
	case !slices.Equal(next.VIPs, c.VIPs):
		return fmt.Errorf("config: vips %v: %w (was %v)", next.VIPs, ErrImmutable, c.VIPs)
	case next.Program != c.Program:
		return fmt.Errorf("config: program %+v: %w (was %+v)", next.Program, ErrImmutable, c.Program)
	}
	return nil
}
