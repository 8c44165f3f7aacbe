package xdp

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu" -target bpfel -type decap_stats decap decap.c

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cilium/ebpf"

	"github.com/titanlb/titanlb/balancer"
)

// Decap is the backend-side decapsulation program (decap.c), loaded into
// the kernel. The Titan program forwards a packet to a backend wrapped in
// an outer header: IPv4 (protocol 4, IPIP) around an IPv4 packet, IPv6
// (next header 41, IPv6-in-IPv6) around an IPv6 one. A backend without an
// ipip or ip6tnl device attaches Decap to the interface the load
// balancer's traffic arrives on and lets its own kernel do the rest.
// Katran ships a decap program for its backends for the same reason.
//
// # What it does
//
// For an IPv4 frame of protocol 4 with a valid outer header (version 4,
// IHL 5 — no options —, correct header checksum, total length within the
// frame, not itself a fragment) carrying a complete inner IPv4 header whose
// total length fills the outer payload, and for an IPv6 frame of next
// header 41 with a valid outer header (version 6, payload length within
// the frame) carrying a complete inner IPv6 header whose length (40 +
// payload length) fills the outer payload, Decap moves the Ethernet header
// forward over the outer header (20 or 40 bytes) and calls
// bpf_xdp_adjust_head: the frame becomes the inner packet with the
// original Ethernet header, and XDP_PASS hands it to the kernel. The inner
// packet may be a fragment; the backend's own reassembly (net.ipv4.ipfrag_*,
// net.ipv6.ip6frag_*) puts the datagram together, which is how the
// end-to-end tests use Linux as the ground truth of "whole at one
// backend". Any other frame passes untouched. A frame of ours that fails a
// check is dropped (XDP_DROP). Every frame increments one per-CPU counter,
// read with [Decap.Stats].
//
// An outer fragment (IPv4 with MF or an offset; IPv6 with a Fragment
// header first) is dropped and counted in [DecapStats].OuterFragment: it
// means the path from the load balancer lacks MTU headroom for the outer
// header (the kernel fragmented the encapsulated packet); give those links
// a larger MTU (the end-to-end test uses 9000).
//
// The end-to-end tests run the Titan program and Decap on veths in network
// namespaces, with Linux reassembly as the judge of "whole at one
// backend"; docs/parity.md describes the topology.
type Decap struct {
	objs decapObjects
}

// DecapStats are the Decap counters summed over CPUs. Every frame the
// program sees increments exactly one of Decapsulated, Passed, Malformed
// and OuterFragment.
type DecapStats struct {
	Decapsulated   uint64 // outer header stripped, inner packet passed to the kernel
	InnerFragments uint64 // of Decapsulated: inner packet was a fragment
	Passed         uint64 // neither IPIP nor IPv6-in-IPv6: passed untouched
	Malformed      uint64 // IPIP or IPv6-in-IPv6 with a bad outer or inner header: dropped
	OuterFragment  uint64 // IPIP or IPv6-in-IPv6 whose outer packet was fragmented: dropped
}

// Total is the number of frames the program has seen.
func (s DecapStats) Total() uint64 {
	return s.Decapsulated + s.Passed + s.Malformed + s.OuterFragment
}

// DecapResult is the outcome of one [Decap.Run].
type DecapResult struct {
	Action balancer.Action // balancer.Pass (XDP_PASS) or balancer.Drop (XDP_DROP)
	Out    []byte          // the frame after the program: the inner packet when decapsulated
}

// XDP verdicts the decap program returns (enum xdp_action in linux/bpf.h).
const (
	decapXDPDrop = 1
	decapXDPPass = 2
)

// LoadDecap loads the decapsulation program and its counters into the
// kernel. Loading needs root or CAP_BPF+CAP_NET_ADMIN; without them the
// error wraps [ErrNotPermitted]. Close releases them.
func LoadDecap() (*Decap, error) {
	d := &Decap{}
	if err := loadDecapObjects(&d.objs, nil); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("xdp: load decap: %w: %w", ErrNotPermitted, err)
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("xdp: load decap: %+v", ve)
		}
		return nil, fmt.Errorf("xdp: load decap: %w", err)
	}
	return d, nil
}

// Attach attaches the program to the interface with index ifindex, in the
// calling thread's network namespace, in the given [AttachMode]: at most
// one; none means [AttachDefault], the kernel's choice (native where the
// driver supports it, as veth does). Closing the returned link detaches
// the program.
func (d *Decap) Attach(ifindex int, mode ...AttachMode) (io.Closer, error) {
	return attach("decap", d.objs.TitanDecap, ifindex, mode)
}

// Run runs the program once on frame with BPF_PROG_TEST_RUN and returns its
// verdict and output frame. frame is not modified.
func (d *Decap) Run(frame []byte) (DecapResult, error) {
	// Decapsulation only shrinks the frame; the slack is for safety.
	opts := ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+64)}
	ret, err := d.objs.TitanDecap.Run(&opts)
	if err != nil {
		return DecapResult{}, fmt.Errorf("xdp: decap run on %d-byte frame: %w", len(frame), err)
	}
	var r DecapResult
	switch ret {
	case decapXDPPass:
		r.Action = balancer.Pass
	case decapXDPDrop:
		r.Action = balancer.Drop
	default:
		return DecapResult{}, fmt.Errorf("xdp: decap run on %d-byte frame: unexpected verdict %d", len(frame), ret)
	}
	r.Out = opts.DataOut
	return r, nil
}

// Stats returns the counters summed over all CPUs.
func (d *Decap) Stats() (DecapStats, error) {
	var per []decapDecapStats
	if err := d.objs.DecapStatsMap.Lookup(uint32(0), &per); err != nil {
		return DecapStats{}, fmt.Errorf("xdp: decap stats: %w", err)
	}
	var s DecapStats
	for _, c := range per {
		s.Decapsulated += c.Decapsulated
		s.InnerFragments += c.InnerFragments
		s.Passed += c.Passed
		s.Malformed += c.Malformed
		s.OuterFragment += c.OuterFragment
	}
	return s, nil
}

// Close releases the program and its counters. It does not detach: a link
// returned by Attach holds its own reference until it is closed.
func (d *Decap) Close() error {
	return d.objs.Close()
}
