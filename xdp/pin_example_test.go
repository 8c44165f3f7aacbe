package xdp_test

import (
	"errors"
	"log"
	"net"
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/xdp"
)

// A control plane that survives its own restarts: the first run attaches
// and pins; a later run, after a crash or an upgrade, adopts what is
// pinned and keeps every connection and fragment entry. Needs root and a
// bpffs at /sys/fs/bpf; compile-only.
func ExampleAdopt() {
	const dir = "/sys/fs/bpf/titanlb/eth0" // one directory per interface
	opts := xdp.Options{Config: titan.Config{VIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}}
	pp, err := xdp.Adopt(dir, opts)
	if errors.Is(err, xdp.ErrNotPinned) {
		var p *xdp.Program
		if p, err = xdp.Load(opts); err != nil {
			log.Fatal(err)
		}
		ifc, ierr := net.InterfaceByName("eth0")
		if ierr != nil {
			log.Fatal(ierr)
		}
		pp, err = p.AttachPinned(ifc.Index, dir)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer pp.Close() // the program stays attached; pp.Unpin() would detach it
	err = pp.SetBackends([]balancer.Backend{
		{ID: 101, Addr: netip.MustParseAddr("10.1.0.1"), Weight: 1, Up: true},
		{ID: 102, Addr: netip.MustParseAddr("10.1.0.2"), Weight: 1, Up: true},
	})
	if err != nil {
		log.Fatal(err)
	}
}
