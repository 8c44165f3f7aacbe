// Command agent is the control plane beside the TitanLB XDP program: it
// loads the program with the VIPs of a JSON config file, attaches it to a
// network interface, health-checks the backends by TCP connect, and keeps
// the program's Maglev ring in line with their health. It serves the
// program's counters and its own state as Prometheus metrics.
//
//	go run ./examples/agent -config agent.json [-iface eth0] [-metrics 127.0.0.1:9100]
//	go run ./examples/agent -config agent.json -check   # validate the config and exit
//
// # Behaviour
//
//   - At start it checks every backend once, all at once, then writes the
//     backend set (a backend whose first check fails starts down).
//   - Then every backend is checked once per health.interval: a TCP
//     connect to its address and health_port, given up after
//     health.timeout. Rounds start on a fixed schedule and spread their
//     checks evenly over the interval, so the interval holds for the
//     largest set accepted ([MaxBackends] backends, at most
//     [MaxCheckRate] checks a second). A backend goes down after
//     health.fall consecutive failures and comes back after health.rise
//     consecutive successes; each change rewrites the ring with
//     [xdp.Program.SetBackends] (Up=false). Flows of the other backends
//     stay where they are: Maglev moves only the slots of the backend that
//     changed, and the connection table keeps its entries.
//   - SIGHUP rereads the config file. Only the backend set is written: the
//     program and its connection and fragment tables are kept, so tracked
//     flows are not dropped. A backend removed from the file drains at
//     weight 0 (keeps its flows, gets no new ones) for health.drain, then
//     is removed. An invalid file, or one that changes the interface, the
//     VIPs or the program section (fixed when the program loads), is
//     logged and the running config is kept. The file must be a regular
//     file: a FIFO or a device is refused, never waited on.
//   - SIGINT or SIGTERM detach the program from the interface and unload it.
//
// Loading and attaching need root (or CAP_BPF and CAP_NET_ADMIN). The
// config format is described in README.md; agent.example.json is a
// complete example. The metrics server bounds every connection in time
// and number (package internal/httpserver).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/titanlb/titanlb/internal/httpserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], hup, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes of run.
const (
	exitOK    = 0
	exitFail  = 1 // loading, attaching or serving failed
	exitUsage = 2 // bad flags or config
)

// run parses args, runs the agent until ctx ends and returns the exit
// code. Every value received on hup reloads the config file.
func run(ctx context.Context, args []string, hup <-chan os.Signal, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "JSON config file (required; see README.md)")
	iface := fs.String("iface", "", "network interface to attach to (overrides the config's \"interface\")")
	metrics := fs.String("metrics", "127.0.0.1:9100", "address to serve Prometheus metrics on, at /metrics")
	check := fs.Bool("check", false, "validate the config, print it and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: agent -config FILE [-iface NAME] [-metrics ADDR] [-check]\n\n")
		fs.PrintDefaults()
	}
	usage := func(err error) int {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		fs.Usage()
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage // the flag package printed the error and usage
	}
	if fs.NArg() > 0 {
		return usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *cfgPath == "" {
		return usage(errors.New("-config: missing"))
	}
	if _, _, err := net.SplitHostPort(*metrics); err != nil {
		return usage(fmt.Errorf("-metrics %q: %w", *metrics, err))
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return usage(err)
	}
	if *iface != "" {
		cfg.Interface = *iface
	}
	if cfg.Interface == "" {
		return usage(errors.New("no interface: give -iface or \"interface\" in the config"))
	}
	if *check {
		fmt.Fprintf(stdout, "config OK: interface %s, VIPs %v, %d backends, health every %v (timeout %v, rise %d, fall %d, drain %v)\n",
			cfg.Interface, cfg.VIPs, len(cfg.Backends), cfg.Health.Interval, cfg.Health.Timeout,
			cfg.Health.Rise, cfg.Health.Fall, cfg.Health.Drain)
		return exitOK
	}

	if err := checkFDs(len(cfg.Backends)); err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return exitFail
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return usage(fmt.Errorf("interface %q: %w", cfg.Interface, err))
	}
	ln, err := net.Listen("tcp", *metrics)
	if err != nil {
		log.Error("metrics listener", "err", err)
		return exitFail
	}
	dp, err := OpenXDP(cfg, ifi.Index)
	if err != nil {
		ln.Close()
		log.Error("load and attach", "iface", cfg.Interface, "err", err)
		return exitFail
	}
	log.Info("program attached", "iface", cfg.Interface, "ifindex", ifi.Index, "vips", cfg.VIPs)
	code := serve(ctx, cfg, *cfgPath, *iface, dp, ln, hup, log)
	if err := dp.Close(); err != nil {
		log.Error("detach and unload", "err", err)
		code = exitFail
	} else {
		log.Info("program detached and unloaded")
	}
	return code
}

// serve runs the agent, the metrics server and the reload loop until ctx
// ends or the agent fails; it does not close dp.
func serve(ctx context.Context, cfg *Config, cfgPath, ifaceFlag string, dp Datapath, ln net.Listener, hup <-chan os.Signal, log *slog.Logger) int {
	a := NewAgent(cfg, dp, AgentOptions{Logger: log})
	srv := httpserver.New(a.Handler())
	go func() {
		if err := srv.Serve(httpserver.Limit(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(a, cfgPath, ifaceFlag, log)
			}
		}
	}()
	code := exitOK
	if err := a.Run(ctx); err != nil {
		log.Error("agent", "err", err)
		code = exitFail
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	return code
}

// reload rereads the config file and hands it to the agent; errors are
// logged and leave the running config in force. ifaceFlag is the -iface
// flag, which wins over the file as it did at start.
func reload(a *Agent, path, ifaceFlag string, log *slog.Logger) {
	next, err := LoadConfig(path)
	if err == nil {
		err = checkFDs(len(next.Backends))
	}
	if err != nil {
		a.countFailedReload()
	} else {
		if ifaceFlag != "" {
			next.Interface = ifaceFlag
		}
		err = a.Reload(next)
	}
	if err != nil {
		log.Error("reload failed; keeping the running config", "err", err)
		return
	}
	log.Info("config reloaded", "backends", len(next.Backends))
}

// fdReserve is what the agent needs besides its health checks: the BPF
// objects, the metrics server's connections (at most
// [httpserver.MaxConns]), the log.
const fdReserve = httpserver.MaxConns + 64

// checkFDs reports whether the open-file limit lets n health checks run at
// once (the first round starts them all together) with [fdReserve] to
// spare. Go raises the soft limit to the hard one at start.
func checkFDs(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: the checks will tell (skipped checks are counted)
	}
	if need := uint64(n + fdReserve); lim.Cur < need {
		return fmt.Errorf("open-file limit %d: %d backends need %d (one socket per backend at the first round, %d for the rest); raise it (ulimit -n, LimitNOFILE=)", lim.Cur, n, need, fdReserve)
	}
	return nil
}
