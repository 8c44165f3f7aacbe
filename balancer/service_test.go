package balancer

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/maglev"
)

var (
	vip4 = netip.MustParseAddr("192.0.2.10")
	vip6 = netip.MustParseAddr("2001:db8::10")
)

// pool returns n backends with IDs first.. at 10.1.0.x (or 2001:db8:1::x
// when v6), up, weight 1.
func pool(first BackendID, n int, v6 bool) []Backend {
	bs := make([]Backend, n)
	for i := range bs {
		id := first + BackendID(i)
		a := netip.AddrFrom4([4]byte{10, 1, byte(id >> 8), byte(id)})
		if v6 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(id >> 8), 15: byte(id)})
		}
		bs[i] = Backend{ID: id, Name: id.String(), Addr: a, Weight: 1, Up: true}
	}
	return bs
}

func TestServiceKeyString(t *testing.T) {
	for _, tc := range []struct {
		k    ServiceKey
		want string
	}{
		{ServiceKey{vip4, 80, ProtoTCP}, "192.0.2.10:80/tcp"},
		{ServiceKey{vip6, 443, ProtoUDP}, "[2001:db8::10]:443/udp"},
		{ServiceKey{vip4, 0, ProtoICMP}, "192.0.2.10:0/1"},
	} {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.k, got, tc.want)
		}
	}
}

func TestValidateServices(t *testing.T) {
	web := func() Service { return Service{Key: ServiceKey{vip4, 80, ProtoTCP}, Backends: pool(101, 3, false)} }
	dns := func() Service { return Service{Key: ServiceKey{vip4, 53, ProtoUDP}, Backends: pool(102, 2, false)} }
	web6 := func() Service { return Service{Key: ServiceKey{vip6, 80, ProtoTCP}, Backends: pool(201, 2, true)} }
	with := func(s Service, f func(*Service)) Service { f(&s); return s }
	for _, tc := range []struct {
		name string
		ss   []Service
		err  error  // nil: valid
		msg  string // the start of the message
	}{
		{"empty set", nil, nil, ""},
		{"two families, shared backends", []Service{web(), dns(), web6()}, nil, ""},
		{"weight per service", []Service{web(), with(dns(), func(s *Service) { s.Backends[0].Weight = 7 })}, nil, ""},
		{"prime ring size", []Service{with(web(), func(s *Service) { s.RingSize = 13 })}, nil, ""},
		{"zero VIP", []Service{with(web(), func(s *Service) { s.Key.VIP = netip.Addr{} })}, ErrBadVIP, "services[0].Key.VIP invalid IP"},
		{"unspecified VIP", []Service{web(), with(dns(), func(s *Service) { s.Key.VIP = netip.IPv6Unspecified() })}, ErrBadVIP, "services[1].Key.VIP ::"},
		{"mapped VIP", []Service{with(web(), func(s *Service) { s.Key.VIP = netip.MustParseAddr("::ffff:192.0.2.10") })}, ErrBadVIP, "services[0].Key.VIP ::ffff:192.0.2.10"},
		{"zoned VIP", []Service{with(web6(), func(s *Service) { s.Key.VIP = s.Key.VIP.WithZone("eth0") })}, ErrBadVIP, "services[0].Key.VIP 2001:db8::10%eth0"},
		{"multicast VIP", []Service{with(web(), func(s *Service) { s.Key.VIP = netip.MustParseAddr("224.0.0.1") })}, ErrBadVIP, "services[0].Key.VIP 224.0.0.1"},
		{"icmp", []Service{with(web(), func(s *Service) { s.Key.Proto = ProtoICMP })}, ErrBadProto, "services[0].Key.Proto 1: must be TCP (6) or UDP (17)"},
		{"port 0", []Service{with(web(), func(s *Service) { s.Key.Port = 0 })}, ErrBadPort, "services[0].Key.Port 0: must not be 0"},
		{"duplicate key", []Service{web(), dns(), with(dns(), func(s *Service) { s.Backends = pool(101, 1, false) })}, ErrDuplicateService, "services[2].Key 192.0.2.10:53/udp: duplicate service (services[1])"},
		{"empty pool", []Service{web(), with(dns(), func(s *Service) { s.Backends = nil })}, ErrNoBackends, "services[1].backends: no backends"},
		{"duplicate id in a pool", []Service{with(web(), func(s *Service) { s.Backends[2].ID = 101; s.Backends[2].Name = "x" })}, ErrDuplicateBackend, "services[0].backends[2].ID 101"},
		{"mixed family", []Service{web(), with(web6(), func(s *Service) { s.Backends[1].Addr = netip.MustParseAddr("10.9.9.9") })}, ErrFamily, "services[1].backends[1].Addr 10.9.9.9: not the VIP's family"},
		{"v4 VIP, v6 backend", []Service{with(web(), func(s *Service) { s.Backends[0].Addr = netip.MustParseAddr("2001:db8::5") })}, ErrFamily, "services[0].backends[0].Addr 2001:db8::5: not the VIP's family"},
		{"id with another address", []Service{web(), with(dns(), func(s *Service) { s.Backends[0].Addr = netip.MustParseAddr("10.9.9.9") })}, ErrBackendConflict, "services[1].backends[0].Addr 10.9.9.9: differs from another listing of the same ID (services[0].backends[1]: 10.1.0.102)"},
		{"id with another name", []Service{web(), with(dns(), func(s *Service) { s.Backends[1].Name = "other" })}, ErrBackendConflict, `services[1].backends[1].Name "other"`},
		{"id down in one service", []Service{web(), with(dns(), func(s *Service) { s.Backends[0].Up = false })}, ErrBackendConflict, "services[1].backends[0].Up false"},
		{"one name, two ids", []Service{web(), with(web6(), func(s *Service) { s.Backends[0].Name = "101" })}, ErrDuplicateBackend, `services[1].backends[0].Name "101": duplicate (services[0].backends[0], ID 101)`},
		{"ring not prime", []Service{with(web(), func(s *Service) { s.RingSize = 100 })}, maglev.ErrSizeNotPrime, "services[0].RingSize 100: not prime"},
		{"ring too small", []Service{with(web(), func(s *Service) { s.RingSize = 2 })}, maglev.ErrSizeTooSmall, "services[0].RingSize 2: smaller than the number of entries (3)"},
		{"ring too large", []Service{with(web(), func(s *Service) { s.RingSize = maglev.MaxSize + 1 })}, maglev.ErrSizeTooLarge, "services[0].RingSize 16777217"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateServices(tc.ss)
			if tc.err == nil {
				if err != nil {
					t.Fatalf("ValidateServices: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.HasPrefix(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v starting %q", err, tc.err, tc.msg)
			}
		})
	}
}

func TestValidateBackendsFamilies(t *testing.T) {
	mixed := append(pool(101, 2, false), pool(201, 2, true)...)
	if err := ValidateBackends(mixed); err != nil {
		t.Errorf("IPv4 and IPv6 backends: %v", err)
	}
	for _, tc := range []struct {
		addr netip.Addr
		msg  string
	}{
		{netip.Addr{}, "backends[1].Addr invalid IP: not an IPv4 or IPv6 address"},
		{netip.MustParseAddr("::ffff:10.0.0.1"), "backends[1].Addr ::ffff:10.0.0.1: not an IPv4 or IPv6 address (IPv4-mapped: use the IPv4 form)"},
		{netip.MustParseAddr("fe80::1%eth0"), "backends[1].Addr fe80::1%eth0: not an IPv4 or IPv6 address"},
	} {
		bs := pool(101, 2, false)
		bs[1].Addr = tc.addr
		if err := ValidateBackends(bs); !errors.Is(err, ErrBadAddr) || err.Error() != tc.msg {
			t.Errorf("Addr %v: err = %v, want %q", tc.addr, err, tc.msg)
		}
	}
	if _, err := NewRing(mixed, 13); !errors.Is(err, ErrFamily) || !strings.HasPrefix(err.Error(), "backends[2].Addr 2001:db8:1::c9: not the VIP's family") {
		t.Errorf("NewRing of two families: %v", err)
	}
	if r, err := NewRing(pool(201, 3, true), 13); err != nil || r.Table == nil {
		t.Errorf("NewRing of IPv6 backends: %v", err)
	}
}
