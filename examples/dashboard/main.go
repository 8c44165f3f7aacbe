// Command dashboard serves a live view of the simulation at
// http://127.0.0.1:5000: a fragmentation slider, each balancer's Reliability
// and average cost, their history, the Maglev ring as a bar of slots per
// backend, and a switch per backend that takes it down or up.
//
// The server runs short scenarios (package sim) for Titan, Katran and
// Cilium with the page's settings, one tick after another, and pauses when
// no page has asked for the state for a while, so it keeps at most one core
// busy and none when nobody watches. The page and its script are embedded:
// it loads nothing from the network. The JSON API is described in README.md.
//
//	go run ./examples/dashboard [-addr 127.0.0.1:5000] [-flows 300] [-duration 200ms] [-interval 1s] [-seed 1]
//
// # Exposure
//
// By default it listens on loopback only. It answers only requests whose
// Host header names it (loopback names, the -addr host, -allow-host
// names), refuses cross-origin POSTs and bodies that are not JSON, and
// bounds every connection in time and number. To listen on another
// address it needs a token (-token or $TITANLB_DASHBOARD_TOKEN), which
// every request must then carry, and it prints a warning.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/titanlb/titanlb/internal/cmdflag"
	"github.com/titanlb/titanlb/internal/httpserver"
	"github.com/titanlb/titanlb/sim"
)

// tokenEnv is the environment variable the token may come from, so that
// it does not show in the process list.
const tokenEnv = "TITANLB_DASHBOARD_TOKEN"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, serves until ctx ends and returns the exit code: 0 after
// a clean stop, 1 when serving fails, 2 for bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdflag.New("dashboard", "usage: dashboard [flags]\n\nServes a live view of Titan, Katran and Cilium in the simulator.\n\nflags:\n", stderr)
	addr := fs.String("addr", "127.0.0.1:5000", "`host:port` to listen on")
	var cfg Config
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the first tick (tick n uses seed+n)")
	fs.IntVar(&cfg.Flows, "flows", 300, "flows in each tick's scenario")
	fs.DurationVar(&cfg.Duration, "duration", 200*time.Millisecond, "simulated time per tick and balancer")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "wall time between ticks")
	fs.DurationVar(&cfg.Idle, "idle", 30*time.Second, "pause the simulation after this long without a page polling")
	fs.IntVar(&cfg.History, "history", 120, "ticks kept for the chart")
	services := fs.Bool("services", false, "one VIP with two UDP services whose pools overlap (443 on 101-102, 8443 on 102-103) instead of one pool")
	fs.StringVar(&cfg.Token, "token", os.Getenv(tokenEnv), "token every request must carry (Bearer header, or open /?token=... once); required unless -addr is loopback (default $"+tokenEnv+")")
	var hosts string
	fs.StringVar(&hosts, "allow-host", "", "comma-separated host names the Host header may carry besides loopback names and the -addr host (a name clients use to reach this server)")
	if status, ok := fs.ParseArgs(args); !ok {
		return status
	}
	// Config reads a zero field as "default"; a zero flag is a mistake.
	switch {
	case cfg.Seed == 0:
		return fs.Bad("-seed 0: must not be 0")
	case cfg.Flows < 1:
		return fs.Bad("-flows %d: must be at least 1", cfg.Flows)
	case cfg.Duration <= 0:
		return fs.Bad("-duration %v: must be positive", cfg.Duration)
	case cfg.Interval <= 0:
		return fs.Bad("-interval %v: must be positive", cfg.Interval)
	case cfg.Idle <= 0:
		return fs.Bad("-idle %v: must be positive", cfg.Idle)
	case cfg.History < 1:
		return fs.Bad("-history %d: must be at least 1", cfg.History)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fs.Bad("-addr %q: %v", *addr, err)
	}
	for h := range strings.SplitSeq(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.Hosts = append(cfg.Hosts, h)
		}
	}
	if host != "" {
		cfg.Hosts = append(cfg.Hosts, host)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "dashboard: -addr %s: %v\n", *addr, err)
		return 1
	}
	bound := ln.Addr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	if !bound.IsLoopback() {
		where := bound.String()
		if bound.IsUnspecified() {
			where = "every address of this host"
		}
		if cfg.Token == "" {
			ln.Close()
			return fs.Bad("-addr %s: listens beyond this host (%s): give a -token (or $%s) that every request must carry, or listen on 127.0.0.1", *addr, where, tokenEnv)
		}
		fmt.Fprintf(stderr, "dashboard: warning: -addr %s listens on %s, reachable from other hosts; every request must carry the token\n", *addr, where)
		if bound.IsUnspecified() {
			cfg.Hosts = append(cfg.Hosts, localNames()...)
		}
	}
	bs := sim.Backends(3)
	if *services {
		cfg.Services = twoServices(bs)
	}
	srv, err := NewServer(cfg, lanes(), bs, simulate)
	if err != nil {
		ln.Close()
		return fs.Bad("%v", err)
	}
	hs := httpserver.New(srv)
	ln = httpserver.Limit(ln)
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	go srv.Loop(loopCtx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "dashboard: serving http://%s (Ctrl-C to stop)\n", ln.Addr())
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "dashboard: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		fmt.Fprintf(stderr, "dashboard: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// localNames are the names a client may use for this host when the server
// listens on every address: the host name and the interfaces' addresses.
func localNames() []string {
	var names []string
	if h, err := os.Hostname(); err == nil {
		names = append(names, h)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			names = append(names, p.Addr().String())
		}
	}
	return names
}
