package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/xdp"
)

// Datapath is what the agent drives: the loaded Titan program, or a fake
// in tests. Implementations must be safe for concurrent use (the metrics
// handler reads Stats while the health loop calls SetBackends).
type Datapath interface {
	// SetBackends replaces the backend set: the full desired set, Up=false
	// for a health-down backend, Weight 0 for one that drains.
	SetBackends(bs []balancer.Backend) error
	// Stats returns the program's counters.
	Stats() (xdp.Stats, error)
	// Close releases the datapath: an unpinned program is detached and
	// unloaded, a pinned one stays attached for the next agent to adopt.
	Close() error
}

// ServiceDatapath is a [Datapath] that serves services: the agent hands a
// config with services to SetServices, the whole desired set (each pool's
// backends with their health and their weight in the service), instead of
// SetBackends.
type ServiceDatapath interface {
	Datapath
	SetServices(ss []balancer.Service) error
}

// ErrDatapath is wrapped by [XDPTakes] for what the config asks that the
// XDP datapath of this build cannot do.
var ErrDatapath = errors.New("the XDP datapath of this build cannot take it")

// XDPTakes reports what of cfg the XDP datapath cannot take, before
// anything is loaded, so that the agent refuses the config (at start,
// with -check, and on reload) with an error that names the field rather
// than failing at the first write: IPv6 VIPs in the catch-all's VIP list,
// which the program's config does not take (services name IPv6 VIPs),
// and backends or services the Titan model the program is in parity
// with refuses ([titan.Balancer.SetBackends] or SetServices, which
// refuse what the kernel program refuses).
func XDPTakes(cfg *Config) error {
	opts := cfg.Options()
	if _, err := opts.Config.Resolve(); err != nil {
		return fmt.Errorf("config: vips: %w: %w", ErrDatapath, err)
	}
	model, err := titan.New(opts.Config)
	if err != nil {
		return fmt.Errorf("config: program: %w: %w", ErrDatapath, err)
	}
	var bs []balancer.Backend
	for _, b := range cfg.Backends {
		bs = append(bs, balancer.Backend{ID: b.ID, Name: b.Name, Addr: b.Addr, Weight: b.Weight, Up: true})
	}
	if len(cfg.Services) == 0 {
		err = model.SetBackends(bs)
	} else {
		err = model.SetServices(cfg.services(nil))
	}
	if err != nil {
		return fmt.Errorf("config: backends: %w: %w", ErrDatapath, err)
	}
	return nil
}

// XDPDatapath is the real [Datapath]: an [xdp.Program] attached to one
// interface, pinned ([OpenPinnedXDP]) or not ([OpenXDP]). Its methods
// serialise access to the program, which is not safe for concurrent use on
// its own.
type XDPDatapath struct {
	mu      sync.Mutex
	prog    *xdp.Program
	link    io.Closer   // unpinned: the link, whose Close detaches
	pinned  *xdp.Pinned // pinned: the program, link and maps in bpffs
	adopted []balancer.Backend
	closed  bool
}

var _ ServiceDatapath = (*XDPDatapath)(nil)

// OpenXDP loads the Titan program with the config's VIPs and program
// options and attaches it to the interface ifindex in the configured
// attach mode (in the network namespace of the calling thread).
func OpenXDP(cfg *Config, ifindex int) (*XDPDatapath, error) {
	p, err := xdp.Load(cfg.Options())
	if err != nil {
		return nil, err
	}
	l, err := p.Attach(ifindex, cfg.Program.AttachMode)
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return &XDPDatapath{prog: p, link: l}, nil
}

// ErrPinnedElsewhere is wrapped by [OpenPinnedXDP] when what is pinned
// cannot be adopted with the config: the program was loaded with another
// program section or other VIPs.
var ErrPinnedElsewhere = errors.New("the pinned datapath was loaded with another config")

// OpenPinnedXDP returns the datapath pinned in dir when there is one
// (adopted: the program stays attached throughout, its tables keep every
// entry), and otherwise loads the program, attaches it to ifindex and pins
// it in dir. A pinned program on another interface index (the interface
// was recreated) is unpinned first: it served nothing any more. A pinned
// program loaded with another config is refused (wrapping
// [ErrPinnedElsewhere]) and left running.
func OpenPinnedXDP(cfg *Config, ifindex int, dir string) (d *XDPDatapath, adopted bool, err error) {
	pp, err := xdp.Adopt(dir, cfg.Options())
	switch {
	case err == nil && pp.Ifindex() == ifindex:
		return &XDPDatapath{prog: pp.Program, pinned: pp, adopted: pp.Backends()}, true, nil
	case err == nil: // a stale pin: the interface it served is gone
		pp.Close()
		if err := xdp.UnpinDir(dir); err != nil {
			return nil, false, err
		}
	case errors.Is(err, xdp.ErrPinMismatch):
		return nil, false, fmt.Errorf("%w: %w", ErrPinnedElsewhere, err)
	case !errors.Is(err, xdp.ErrNotPinned):
		return nil, false, err
	}
	p, err := xdp.Load(cfg.Options())
	if err != nil {
		return nil, false, err
	}
	pp, err = p.AttachPinned(ifindex, dir, cfg.Program.AttachMode)
	if err != nil {
		return nil, false, errors.Join(err, p.Close())
	}
	return &XDPDatapath{prog: p, pinned: pp}, false, nil
}

// Adopted returns the backend set the datapath held when it was adopted
// (nil when it was loaded afresh): IDs, addresses and whether each was
// usable; the kernel keeps no names or weights.
func (d *XDPDatapath) Adopted() []balancer.Backend { return d.adopted }

// PinDir returns the pin directory, or "" when the datapath is not
// pinned.
func (d *XDPDatapath) PinDir() string {
	if d.pinned == nil {
		return ""
	}
	return d.pinned.Dir()
}

// Unpin detaches a pinned datapath and removes its pins; an unpinned one
// is closed (detached and unloaded).
func (d *XDPDatapath) Unpin() error {
	if d.pinned == nil {
		return d.Close()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed { // our handles are gone; the pins are not
		return xdp.UnpinDir(d.pinned.Dir())
	}
	d.closed = true
	return d.pinned.Unpin()
}

// preparePinRoot makes sure root is a directory on a BPF file system. The
// conventional mount point, /sys/fs/bpf, is mounted when it exists and is
// not mounted yet, as Cilium and Katran's tools do; any other root must be
// on a bpffs already.
func preparePinRoot(root string) (mounted bool, err error) {
	at := filepath.Clean(root)
	for {
		if _, err := os.Stat(at); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("-pin %s: %w", root, err)
		}
		up := filepath.Dir(at)
		if up == at {
			break
		}
		at = up
	}
	var st unix.Statfs_t
	if err := unix.Statfs(at, &st); err != nil {
		return false, fmt.Errorf("-pin %s: %w", root, err)
	}
	if uint32(st.Type) != unix.BPF_FS_MAGIC {
		if at != "/sys/fs/bpf" {
			return false, fmt.Errorf("-pin %s: %s is not on a BPF file system: mount one (mount -t bpf bpf DIR), or run unpinned with -pin ''", root, at)
		}
		if err := unix.Mount("bpf", at, "bpf", 0, "mode=0700"); err != nil {
			return false, fmt.Errorf("-pin %s: mount bpffs at %s: %w", root, at, err)
		}
		mounted = true
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return mounted, fmt.Errorf("-pin %s: %w", root, err)
	}
	return mounted, nil
}

// SetBackends implements [Datapath].
func (d *XDPDatapath) SetBackends(bs []balancer.Backend) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prog.SetBackends(bs)
}

// SetServices implements [ServiceDatapath].
func (d *XDPDatapath) SetServices(ss []balancer.Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prog.SetServices(ss)
}

// Stats implements [Datapath].
func (d *XDPDatapath) Stats() (xdp.Stats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prog.Stats()
}

// Run runs the attached program once on an Ethernet frame with
// BPF_PROG_TEST_RUN: it shares the maps (connection table included) with
// the attached program. Tests use it to probe decisions.
func (d *XDPDatapath) Run(frame []byte) (xdp.RunResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prog.Run(frame)
}

// Close releases the datapath. An unpinned one is detached from the
// interface and unloaded with its maps; a pinned one stays attached and
// pinned, for the next agent to adopt (see [XDPDatapath.Unpin]). It is
// safe to call more than once.
func (d *XDPDatapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.pinned != nil {
		return d.pinned.Close()
	}
	var errs []error
	if err := d.link.Close(); err != nil {
		errs = append(errs, fmt.Errorf("detach: %w", err))
	}
	if err := d.prog.Close(); err != nil {
		errs = append(errs, fmt.Errorf("unload: %w", err))
	}
	return errors.Join(errs...)
}
