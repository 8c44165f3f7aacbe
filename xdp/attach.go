package xdp

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// AttachMode is the XDP mode of [Program.Attach] and [Decap.Attach].
type AttachMode uint8

// The attach modes.
const (
	AttachDefault AttachMode = iota // the kernel's choice: native if the driver supports it
	AttachGeneric                   // generic (SKB) mode, xdpgeneric: works on any device
	AttachNative                    // driver mode; fails where the driver has no XDP support
)

// ErrUnknownAttachMode is wrapped by Attach for a mode that is none of
// the AttachMode constants, or for more than one mode.
var ErrUnknownAttachMode = errors.New("unknown attach mode")

// attach attaches prog to ifindex in the mode given (at most one;
// none means AttachDefault); what names the program in errors.
func attach(what string, prog *ebpf.Program, ifindex int, mode []AttachMode) (io.Closer, error) {
	if len(mode) > 1 {
		return nil, fmt.Errorf("xdp: %s attach: %d modes %v: %w (want at most one)", what, len(mode), mode, ErrUnknownAttachMode)
	}
	if ifindex <= 0 {
		return nil, fmt.Errorf("xdp: %s attach: ifindex %d: must be positive", what, ifindex)
	}
	var flags link.XDPAttachFlags
	if len(mode) == 1 {
		switch mode[0] {
		case AttachDefault:
		case AttachGeneric:
			flags = link.XDPGenericMode
		case AttachNative:
			flags = link.XDPDriverMode
		default:
			return nil, fmt.Errorf("xdp: %s attach: mode %d: %w", what, mode[0], ErrUnknownAttachMode)
		}
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	if err != nil {
		return nil, fmt.Errorf("xdp: %s attach to ifindex %d: %w", what, ifindex, err)
	}
	return l, nil
}
