// Command xdp loads TitanLB's eBPF program into the kernel, runs a handful
// of crafted packets through it with BPF_PROG_TEST_RUN ([xdp.Program.Run])
// and prints what the kernel decided for each, beside the decision of the
// Go model ([titan.Balancer]) for the same packet: the two must agree.
// The packets show a new TCP flow and its next packet, a fragmented UDP
// datagram in order, one whose last fragment overtakes its first, a packet
// for another address, and a truncated frame.
//
// With -iface NAME it then attaches the program to that interface (XDP)
// until Ctrl-C or -for elapses. It needs root (or CAP_BPF and
// CAP_NET_ADMIN).
//
//	sudo go run ./examples/xdp
//	sudo go run ./examples/xdp -iface veth0 -mode generic
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/cmdflag"
	"github.com/titanlb/titanlb/sim"
	"github.com/titanlb/titanlb/xdp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// vip is the address the program balances; clients send from 198.51.100.x.
var vip = netip.MustParseAddr("192.0.2.10")

func client(n byte) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, n}) }

// step is one crafted frame and what it shows.
type step struct {
	what  string
	frame []byte
}

// steps returns the crafted frames, in the order they are sent.
func steps() []step {
	syn := balancer.Packet{Src: client(7), Dst: vip, Proto: balancer.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: balancer.TCPSyn, IPID: 1}
	ack := syn
	ack.TCPFlags, ack.IPID = balancer.TCPAck, 2
	// A 3000-byte UDP datagram split at a 1500-byte MTU: 1480 data bytes
	// (185 units of 8) per fragment, the first one carrying the UDP header.
	first := balancer.Packet{Src: client(8), Dst: vip, Proto: balancer.ProtoUDP, SrcPort: 5353, DstPort: 53, IPID: 7001, MoreFragments: true}
	second := first
	second.SrcPort, second.DstPort, second.FragOffset = 0, 0, 185
	third := second
	third.FragOffset, third.MoreFragments = 370, false
	// Another client's datagram whose last fragment arrives first: it
	// picks a backend and records it, and the first fragment follows.
	lateFirst := first
	lateFirst.Src, lateFirst.SrcPort, lateFirst.IPID = client(9), 5354, 7002
	orphan := third
	orphan.Src, orphan.IPID = client(9), 7002
	other := syn
	other.Dst = netip.MustParseAddr("192.0.2.99")
	trunc := balancer.Encode(ack, 0)[:balancer.EthLen+10]
	return []step{
		{"TCP SYN, new flow", balancer.Encode(syn, 0)},
		{"TCP ACK, same flow", balancer.Encode(ack, 100)},
		{"UDP datagram 7001: first fragment", balancer.Encode(first, 1472)},
		{"UDP datagram 7001: middle fragment", balancer.Encode(second, 1480)},
		{"UDP datagram 7001: last fragment", balancer.Encode(third, 40)},
		{"UDP datagram 7002: last fragment first", balancer.Encode(orphan, 40)},
		{"UDP datagram 7002: first fragment after", balancer.Encode(lateFirst, 1472)},
		{"TCP to 192.0.2.99, not the VIP", balancer.Encode(other, 0)},
		{"truncated IPv4 header", trunc},
	}
}

// run returns 0 on success, 1 when loading, running or attaching fails,
// 2 for bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdflag.New("xdp", "usage: xdp [-iface NAME [-mode generic|native|auto] [-for DURATION]]\n\nLoads the TitanLB XDP program, runs crafted packets through it and prints each decision;\nwith -iface, attaches it to that interface. Needs root.\n\nflags:\n", stderr)
	iface := fs.String("iface", "", "attach the program to this network `interface` after the demo")
	mode := fs.String("mode", "generic", "XDP attach `mode`: generic, native or auto")
	dur := fs.Duration("for", 0, "stay attached this long (0: until Ctrl-C)")
	if status, ok := fs.ParseArgs(args); !ok {
		return status
	}
	var am xdp.AttachMode
	switch *mode {
	case "generic":
		am = xdp.AttachGeneric
	case "native":
		am = xdp.AttachNative
	case "auto":
		am = xdp.AttachDefault
	default:
		return fs.Bad("-mode %q: want generic, native or auto", *mode)
	}
	if *dur < 0 {
		return fs.Bad("-for %v: must not be negative", *dur)
	}
	var ifindex int
	if *iface != "" {
		ifc, err := net.InterfaceByName(*iface)
		if err != nil {
			return fs.Bad("-iface %q: %v", *iface, err)
		}
		ifindex = ifc.Index
	}

	prog, err := xdp.Load(xdp.Options{Config: titan.Config{VIPs: []netip.Addr{vip}}})
	if err != nil {
		fmt.Fprintf(stderr, "xdp: %v\n", err)
		if errors.Is(err, xdp.ErrNotPermitted) {
			fmt.Fprintln(stderr, "xdp: run as root, or with CAP_BPF and CAP_NET_ADMIN")
		}
		return 1
	}
	defer prog.Close()
	model, err := titan.New(titan.Config{VIPs: []netip.Addr{vip}})
	if err != nil {
		fmt.Fprintf(stderr, "xdp: %v\n", err)
		return 1
	}
	bs := sim.Backends(3)
	if err := prog.SetBackends(bs); err != nil {
		fmt.Fprintf(stderr, "xdp: %v\n", err)
		return 1
	}
	if err := model.SetBackends(bs); err != nil {
		fmt.Fprintf(stderr, "xdp: %v\n", err)
		return 1
	}

	fmt.Fprintf(stdout, "TitanLB XDP program loaded; VIP %v, backends 101, 102, 103\n\n", vip)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "packet\tbytes\tkernel\tgo model\t")
	env := &balancer.Env{}
	mismatches := 0
	for _, s := range steps() {
		res, err := prog.Run(s.frame)
		if err != nil {
			fmt.Fprintf(stderr, "xdp: %s: %v\n", s.what, err)
			return 1
		}
		kernel := decision(res.Action, res.Backend)
		// The model takes the decoded header; a frame that does not
		// decode is what the kernel must drop.
		goModel := "drop"
		if p, err := balancer.Decode(s.frame); err == nil {
			d := model.Process(env, &p)
			goModel = decision(d.Action, d.Backend)
		}
		mark := ""
		if kernel != goModel {
			mark = "  MISMATCH"
			mismatches++
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s%s\t\n", s.what, len(s.frame), kernel, goModel, mark)
	}
	tw.Flush()
	st, err := prog.Stats()
	if err != nil {
		fmt.Fprintf(stderr, "xdp: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nkernel counters: %d packets, %d forwarded, %d passed, %d dropped, %d fragment-table hits, %d orphans\n",
		st.Packets, st.Forwarded, st.PassNotVIP+st.PassNotIPv4, st.Drops(), st.FragHits, st.Orphans)
	if mismatches > 0 {
		fmt.Fprintf(stderr, "xdp: %d decisions differ between the kernel and the Go model\n", mismatches)
		return 1
	}

	if ifindex == 0 {
		return 0
	}
	l, err := prog.Attach(ifindex, am)
	if err != nil {
		fmt.Fprintf(stderr, "xdp: %v\n", err)
		return 1
	}
	defer l.Close()
	fmt.Fprintf(stdout, "attached to %s (ifindex %d, %s mode); Ctrl-C to detach\n", *iface, ifindex, *mode)
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	<-ctx.Done()
	if st, err := prog.Stats(); err == nil {
		fmt.Fprintf(stdout, "detached: %d packets seen, %d forwarded\n", st.Packets, st.Forwarded)
	}
	return 0
}

// decision prints an action the same way for the kernel and the model.
func decision(a balancer.Action, id balancer.BackendID) string {
	if a == balancer.Forward {
		return "forward to " + id.String()
	}
	return a.String()
}
