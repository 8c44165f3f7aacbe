package netns

import (
	"net"
	"net/netip"
)

// Interface returns the hardware address and the index of the interface
// ifc inside n.
func (n *NS) Interface(ifc string) (mac net.HardwareAddr, index int, err error) {
	err = n.Do(func() error {
		i, err := net.InterfaceByName(ifc)
		if err != nil {
			return err
		}
		mac, index = i.HardwareAddr, i.Index
		return nil
	})
	return mac, index, err
}

// Link joins a (interface ifA, address addrA) to the router gw (interface
// ifGw, address addrGw) with a veth pair of the given MTU: a /24 (IPv4)
// or /64 (IPv6) on both ends, static neighbour entries both ways, so that
// no packet waits for ARP or neighbour discovery, and a default route on
// a via the router.
//
// With sameMAC the router's end takes a's MAC address: an XDP program on
// a that sends a frame back out (XDP_TX) keeps the Ethernet addresses it
// came with (destination: a's MAC), and the router must accept it as
// addressed to itself.
func Link(a *NS, ifA string, addrA netip.Addr, gw *NS, ifGw string, addrGw netip.Addr, mtu int, sameMAC bool) error {
	if err := Veth(a, ifA, gw, ifGw, mtu); err != nil {
		return err
	}
	macA, _, err := a.Interface(ifA)
	if err != nil {
		return err
	}
	if sameMAC {
		if err := gw.IP("link", "set", ifGw, "address", macA.String()); err != nil {
			return err
		}
	}
	macGw, _, err := gw.Interface(ifGw)
	if err != nil {
		return err
	}
	prefix, fam := "/24", "-4"
	if addrA.Is6() {
		prefix, fam = "/64", "-6"
	}
	for _, c := range []struct {
		ns   *NS
		args []string
	}{
		{a, []string{fam, "addr", "add", addrA.String() + prefix, "dev", ifA}},
		{gw, []string{fam, "addr", "add", addrGw.String() + prefix, "dev", ifGw}},
		{a, []string{fam, "neigh", "replace", addrGw.String(), "lladdr", macGw.String(), "dev", ifA, "nud", "permanent"}},
		{gw, []string{fam, "neigh", "replace", addrA.String(), "lladdr", macA.String(), "dev", ifGw, "nud", "permanent"}},
		{a, []string{fam, "route", "add", "default", "via", addrGw.String()}},
	} {
		if err := c.ns.IP(c.args...); err != nil {
			return err
		}
	}
	return nil
}
