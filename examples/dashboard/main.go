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
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/titanlb/titanlb/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, serves until ctx ends and returns the exit code: 0 after
// a clean stop, 1 when serving fails, 2 for bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: dashboard [flags]\n\nServes a live view of Titan, Katran and Cilium in the simulator.\n\nflags:\n")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:5000", "`host:port` to listen on")
	var cfg Config
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the first tick (tick n uses seed+n)")
	fs.IntVar(&cfg.Flows, "flows", 300, "flows in each tick's scenario")
	fs.DurationVar(&cfg.Duration, "duration", 200*time.Millisecond, "simulated time per tick and balancer")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "wall time between ticks")
	fs.DurationVar(&cfg.Idle, "idle", 30*time.Second, "pause the simulation after this long without a page polling")
	fs.IntVar(&cfg.History, "history", 120, "ticks kept for the chart")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "dashboard: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	// Config reads a zero field as "default"; a zero flag is a mistake.
	switch {
	case cfg.Seed == 0:
		return bad("-seed 0: must not be 0")
	case cfg.Flows < 1:
		return bad("-flows %d: must be at least 1", cfg.Flows)
	case cfg.Duration <= 0:
		return bad("-duration %v: must be positive", cfg.Duration)
	case cfg.Interval <= 0:
		return bad("-interval %v: must be positive", cfg.Interval)
	case cfg.Idle <= 0:
		return bad("-idle %v: must be positive", cfg.Idle)
	case cfg.History < 1:
		return bad("-history %d: must be at least 1", cfg.History)
	}
	srv, err := NewServer(cfg, lanes(), sim.Backends(3), simulate)
	if err != nil {
		return bad("%v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "dashboard: -addr %s: %v\n", *addr, err)
		return 1
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
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
