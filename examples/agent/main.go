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
//   - The program's link and maps are pinned in bpffs, under
//     -pin/<interface> (/sys/fs/bpf/titanlb/eth0 by default): the datapath
//     outlives the agent. An agent that starts and finds them adopts them
//     (the program is swapped in place, every connection and fragment
//     entry kept) and reconciles the backend set with what the datapath
//     holds, so that its first write moves no flow of a healthy backend.
//   - SIGINT or SIGTERM stop the control plane: the datapath stays attached
//     and pinned, forwarding with the last backend set, for the next agent
//     to adopt. `agent -stop -iface eth0` detaches it and removes the pins.
//     With -pin "" nothing is pinned and SIGINT or SIGTERM detach the
//     program and unload it.
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
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/titanlb/titanlb/internal/httpserver"
	"github.com/titanlb/titanlb/xdp"
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
	pinRoot := fs.String("pin", DefaultPinRoot, "bpffs directory the datapath is pinned under, one directory per interface, so that it outlives the agent; \"\" to run unpinned (the program goes with the agent)")
	stopPinned := fs.Bool("stop", false, "detach the datapath pinned for the interface, remove its pins and exit (the agent itself need not run)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: agent -config FILE [-iface NAME] [-metrics ADDR] [-pin DIR] [-check]\n       agent -stop (-config FILE | -iface NAME) [-pin DIR]\n\n")
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
	if *stopPinned {
		return stop(*cfgPath, *iface, *pinRoot, stdout, stderr, usage)
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
	if err := XDPTakes(cfg); err != nil {
		return usage(err)
	}
	if *check {
		services := ""
		if n := len(cfg.Services); n > 0 {
			services = fmt.Sprintf(" in %d services", n)
		}
		fmt.Fprintf(stdout, "config OK: interface %s, VIPs %v, %d backends%s, health every %v (timeout %v, rise %d, fall %d, drain %v)\n",
			cfg.Interface, cfg.VIPs, len(cfg.Backends), services, cfg.Health.Interval, cfg.Health.Timeout,
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
	dp, err := openDatapath(cfg, ifi.Index, *pinRoot, log)
	if err != nil {
		ln.Close()
		log.Error("load and attach", "iface", cfg.Interface, "err", err)
		return exitFail
	}
	code := serve(ctx, cfg, *cfgPath, *iface, dp, ln, hup, log)
	err = dp.Close()
	switch {
	case err != nil:
		log.Error("release the datapath", "err", err)
		code = exitFail
	case dp.PinDir() != "":
		log.Info("control plane stopped; the datapath stays attached, pinned", "dir", dp.PinDir(), "detach", "agent -stop -iface "+cfg.Interface)
	default:
		log.Info("program detached and unloaded")
	}
	return code
}

// DefaultPinRoot is where the agent pins its datapath: the directory
// <root>/<interface> holds the link and the maps.
const DefaultPinRoot = "/sys/fs/bpf/titanlb"

// openDatapath adopts the datapath pinned for the interface, or loads,
// attaches and pins a new one; with no pin root, it loads and attaches an
// unpinned one.
func openDatapath(cfg *Config, ifindex int, pinRoot string, log *slog.Logger) (*XDPDatapath, error) {
	if pinRoot == "" {
		dp, err := OpenXDP(cfg, ifindex)
		if err == nil {
			log.Info("program attached, not pinned: it goes with the agent", "iface", cfg.Interface, "ifindex", ifindex, "vips", cfg.VIPs)
		}
		return dp, err
	}
	mounted, err := preparePinRoot(pinRoot)
	if err != nil {
		return nil, err
	}
	if mounted {
		log.Info("mounted a BPF file system", "at", "/sys/fs/bpf")
	}
	dir := filepath.Join(pinRoot, cfg.Interface)
	dp, adopted, err := OpenPinnedXDP(cfg, ifindex, dir)
	switch {
	case errors.Is(err, ErrPinnedElsewhere):
		return nil, fmt.Errorf("%w; restore that config, or detach it with `agent -stop -iface %s -pin %s` (its connections are lost)", err, cfg.Interface, pinRoot)
	case err != nil:
		return nil, err
	case adopted:
		log.Info("adopted the pinned datapath: program, connections and fragments kept", "dir", dir, "iface", cfg.Interface, "backends_held", len(dp.Adopted()))
	default:
		log.Info("program attached and pinned", "dir", dir, "iface", cfg.Interface, "ifindex", ifindex, "vips", cfg.VIPs)
	}
	return dp, nil
}

// stop detaches and unpins the datapath of the interface (-iface, or the
// config's "interface") under pinRoot.
func stop(cfgPath, iface, pinRoot string, stdout, stderr io.Writer, usage func(error) int) int {
	if pinRoot == "" {
		return usage(errors.New("-stop: -pin is empty: nothing is pinned"))
	}
	if iface == "" && cfgPath != "" {
		cfg, err := LoadConfig(cfgPath)
		if err != nil {
			return usage(err)
		}
		iface = cfg.Interface
	}
	if iface == "" {
		return usage(errors.New("-stop: no interface: give -iface or a -config with \"interface\""))
	}
	dir := filepath.Join(pinRoot, iface)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "nothing pinned at %s\n", dir)
		return exitOK
	}
	if err := xdp.UnpinDir(dir); err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "datapath detached, pins removed: %s\n", dir)
	return exitOK
}

// serve runs the agent, the metrics server and the reload loop until ctx
// ends or the agent fails; it does not close dp.
func serve(ctx context.Context, cfg *Config, cfgPath, ifaceFlag string, dp Datapath, ln net.Listener, hup <-chan os.Signal, log *slog.Logger) int {
	opts := AgentOptions{Logger: log}
	if x, ok := dp.(*XDPDatapath); ok {
		opts.Adopted = x.Adopted()
	}
	a := NewAgent(cfg, dp, opts)
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
	if err == nil {
		err = XDPTakes(next)
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

// checkFDs reports whether the open-file limit lets the health checks of
// n backends run with [fdReserve] to spare: two sockets per backend, for
// the first round starts every check at once, and a check whose timeout
// equals the interval still runs when the backend's next one starts. Go
// raises the soft limit to the hard one at start.
func checkFDs(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: the checks will tell (skipped checks are counted)
	}
	if need := uint64(2*n + fdReserve); lim.Cur < need {
		return fmt.Errorf("open-file limit %d: %d backends need %d (two sockets per backend, %d for the rest); raise it (ulimit -n, LimitNOFILE=)", lim.Cur, n, need, fdReserve)
	}
	return nil
}
