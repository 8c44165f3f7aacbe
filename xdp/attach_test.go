package xdp

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/internal/netns"
)

// TestAttachModes attaches the program to a veth end inside a throw-away
// namespace in each mode, checks with ip(8) that the interface carries it
// in that mode, and that closing the link detaches it.
func TestAttachModes(t *testing.T) {
	netns.Require(t)
	for _, tc := range []struct {
		name string
		mode AttachMode
		want string // ip link's word for the mode
	}{
		{"generic", AttachGeneric, "xdpgeneric "},
		{"native", AttachNative, "xdp "},
		{"default", AttachDefault, "xdp "}, // veth supports native XDP: the kernel picks it
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := netns.Token()
			a, err := netns.New(t, "tlbxa"+tok)
			if err != nil {
				t.Fatal(err)
			}
			b, err := netns.New(t, "tlbxb"+tok)
			if err != nil {
				t.Fatal(err)
			}
			if err := netns.Veth(a, "lb0", b, "peer0", 1500); err != nil {
				t.Fatal(err)
			}
			p := mustLoad(t, Options{})
			var l io.Closer
			if err := a.Do(func() error {
				ifc, err := net.InterfaceByName("lb0")
				if err != nil {
					return err
				}
				l, err = p.Attach(ifc.Index, tc.mode)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			out, err := a.Exec("ip", "-d", "link", "show", "lb0")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "name xdp_titan ") {
				t.Errorf("mode %d: ip link shows\n%s\nwant %q", tc.mode, out, tc.want)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			out, err = a.Exec("ip", "-d", "link", "show", "lb0")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "prog/xdp") {
				t.Errorf("still attached after Close:\n%s", out)
			}
		})
	}
}

// TestAttachRejectsBadArguments checks the errors Program.Attach returns
// before it asks the kernel.
func TestAttachRejectsBadArguments(t *testing.T) {
	p := mustLoad(t, Options{})
	for _, tc := range []struct {
		ifindex int
		modes   []AttachMode
		want    string
	}{
		{0, nil, "xdp: titan attach: ifindex 0: must be positive"},
		{1, []AttachMode{AttachNative + 1}, "xdp: titan attach: mode 3: unknown attach mode"},
		{1, []AttachMode{AttachDefault, AttachGeneric}, "xdp: titan attach: 2 modes [0 1]: unknown attach mode (want at most one)"},
	} {
		l, err := p.Attach(tc.ifindex, tc.modes...)
		if err == nil {
			l.Close()
			t.Fatalf("Attach(%d, %v) attached", tc.ifindex, tc.modes)
		}
		if err.Error() != tc.want || tc.ifindex > 0 && !errors.Is(err, ErrUnknownAttachMode) {
			t.Errorf("Attach(%d, %v): %q, want %q", tc.ifindex, tc.modes, err, tc.want)
		}
	}
	p.Close()
	if _, err := p.Attach(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
}
