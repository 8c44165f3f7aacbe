package main

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/titanlb/titanlb/balancer"
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
	// Close detaches and unloads.
	Close() error
}

// XDPDatapath is the real [Datapath]: an [xdp.Program] attached to one
// interface. Its methods serialise access to the program, which is not
// safe for concurrent use on its own.
type XDPDatapath struct {
	mu     sync.Mutex
	prog   *xdp.Program
	link   io.Closer
	closed bool
}

var _ Datapath = (*XDPDatapath)(nil)

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

// SetBackends implements [Datapath].
func (d *XDPDatapath) SetBackends(bs []balancer.Backend) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prog.SetBackends(bs)
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

// Close detaches the program from the interface, then unloads it and its
// maps. It is safe to call more than once.
func (d *XDPDatapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if err := d.link.Close(); err != nil {
		errs = append(errs, fmt.Errorf("detach: %w", err))
	}
	if err := d.prog.Close(); err != nil {
		errs = append(errs, fmt.Errorf("unload: %w", err))
	}
	return errors.Join(errs...)
}
