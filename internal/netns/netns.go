// Package netns builds throw-away network topologies for tests: named
// network namespaces, veth pairs between them, and a way to run Go code
// inside one. It drives ip(8) from iproute2 and setns(2) through
// golang.org/x/sys/unix; it needs root. It is internal: a test helper, not
// an API.
//
// # Lifetime
//
// Every namespace is created with a name unique to the test run and
// deleted by tb.Cleanup, also when the test fails; deleting a namespace
// destroys the veth ends inside it, and with them their peers. Nothing is
// created in the caller's namespace, so a test built with this package
// cannot send a packet outside its namespaces.
//
// # Running code inside a namespace
//
// [NS.Do] runs a function on a goroutine locked to its OS thread after
// setns(2) into the namespace: sockets opened there (UDP sockets, netlink,
// BPF link creation by ifindex) belong to that namespace and keep belonging
// to it after Do returns. If the thread cannot be moved back, it is left
// locked and the Go runtime destroys it when the goroutine exits, so no
// other goroutine ever runs in the wrong namespace.
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/titanlb/titanlb/internal/testutil"
)

// NS is a named network namespace created by [New].
type NS struct {
	name string
}

// Name returns the namespace's name, as ip(8) knows it.
func (n *NS) Name() string { return n.name }

// Path returns the namespace's bind-mount path, /run/netns/<name>.
func (n *NS) Path() string { return "/run/netns/" + n.name }

// Token returns a random 8-hex-digit string to make names unique to a
// test run.
func Token() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Available reports why namespaces cannot be created here, or nil: it
// needs ip(8) and root.
func Available() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netns: ip(8) from iproute2 not found: %w", err)
	}
	if os.Geteuid() != 0 {
		return errors.New("netns: needs root")
	}
	return nil
}

// Require skips tb with [Available]'s reason when namespaces cannot be
// created here, or fails it when testutil.RequireBPFEnv (TITANLB_REQUIRE_BPF=1)
// says the kernel features must be there.
func Require(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		testutil.SkipOrFail(tb, err.Error())
	}
}

// New creates the network namespace name (use [Token] to make it unique)
// with its loopback up, and registers its deletion with tb.Cleanup.
func New(tb testing.TB, name string) (*NS, error) {
	tb.Helper()
	if err := Run("ip", "netns", "add", name); err != nil {
		return nil, err
	}
	n := &NS{name: name}
	tb.Cleanup(func() {
		if err := Run("ip", "netns", "del", name); err != nil {
			tb.Errorf("netns: cleanup: %v", err)
		}
	})
	if err := n.IP("link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return n, nil
}

// IP runs "ip -n <name> args..." and returns its error with its output.
func (n *NS) IP(args ...string) error {
	return Run("ip", append([]string{"-n", n.name}, args...)...)
}

// Exec runs a command inside the namespace ("ip netns exec") and returns
// its standard output.
func (n *NS) Exec(name string, args ...string) ([]byte, error) {
	return output("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// Sysctl sets a sysctl inside the namespace, key in dotted form
// ("net.ipv4.ip_forward").
func (n *NS) Sysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return n.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("netns %s: sysctl %s=%s: %w", n.name, key, value, err)
		}
		return nil
	})
}

// Veth creates a veth pair with end aName in a and end bName in b, both
// with the given MTU, and sets both up. The ends die with their namespaces.
func Veth(a *NS, aName string, b *NS, bName string, mtu int) error {
	m := fmt.Sprint(mtu)
	if err := Run("ip", "link", "add", aName, "mtu", m, "netns", a.name,
		"type", "veth", "peer", "name", bName, "mtu", m, "netns", b.name); err != nil {
		return err
	}
	if err := a.IP("link", "set", aName, "up"); err != nil {
		return err
	}
	return b.IP("link", "set", bName, "up")
}

// Do runs fn on an OS thread that has entered the namespace, and waits for
// it. See the package documentation for the thread's fate.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No deferred UnlockOSThread: it is called only once the thread
		// is back in its original namespace.
		errc <- n.do(fn)
	}()
	return <-errc
}

func (n *NS) do(fn func() error) (err error) {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("netns: open current namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(n.Path())
	if err != nil {
		return fmt.Errorf("netns %s: %w", n.name, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread() // still in the original namespace
		return fmt.Errorf("netns %s: setns: %w", n.name, err)
	}
	defer func() {
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			err = errors.Join(err, fmt.Errorf("netns %s: return to original namespace: %w", n.name, rerr))
			return // the thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// Run runs a command with a timeout of 10 seconds and returns an error
// that holds its arguments and combined output when it fails.
func Run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

func output(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
