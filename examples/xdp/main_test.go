package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/internal/netns"
	"github.com/titanlb/titanlb/internal/testutil"
	"github.com/titanlb/titanlb/xdp"
)

// requireProgram skips (or fails under TITANLB_REQUIRE_BPF=1) when the
// kernel program cannot be loaded here.
func requireProgram(t *testing.T) {
	t.Helper()
	testutil.RequireBPF(t)
	p, err := xdp.Load(xdp.Options{})
	if errors.Is(err, xdp.ErrNotPermitted) {
		testutil.SkipOrFail(t, "ebpf: loading XDP programs: "+err.Error())
	}
	if err != nil {
		t.Fatalf("%+v", err)
	}
	p.Close()
}

// TestRun runs the demo through the kernel and checks each decision the
// kernel printed: the datagrams' fragments stay together, the other
// address passes, the truncated frame drops, and the Go model agrees.
func TestRun(t *testing.T) {
	requireProgram(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Log("\n" + out)
	kernel := map[string]string{} // packet -> kernel decision
	for _, line := range strings.Split(out, "\n") {
		cols := strings.Split(strings.TrimSpace(line), "  ")
		var f []string
		for _, c := range cols {
			if c = strings.TrimSpace(c); c != "" {
				f = append(f, c)
			}
		}
		if len(f) == 4 && f[0] != "packet" {
			if f[2] != f[3] {
				t.Errorf("%s: kernel %q, Go model %q", f[0], f[2], f[3])
			}
			kernel[f[0]] = f[2]
		}
	}
	if len(kernel) != len(steps()) {
		t.Fatalf("%d decisions printed, want %d", len(kernel), len(steps()))
	}
	same := func(a, b string) {
		t.Helper()
		if kernel[a] != kernel[b] || !strings.HasPrefix(kernel[a], "forward to 10") {
			t.Errorf("%q went to %q, %q to %q: want one backend", a, kernel[a], b, kernel[b])
		}
	}
	same("TCP SYN, new flow", "TCP ACK, same flow")
	same("UDP datagram 7001: first fragment", "UDP datagram 7001: middle fragment")
	same("UDP datagram 7001: first fragment", "UDP datagram 7001: last fragment")
	same("UDP datagram 7002: last fragment first", "UDP datagram 7002: first fragment after")
	if d := kernel["TCP to 192.0.2.99, not the VIP"]; d != "pass" {
		t.Errorf("packet for another address: %q, want pass", d)
	}
	if d := kernel["truncated IPv4 header"]; d != "drop" {
		t.Errorf("truncated frame: %q, want drop", d)
	}
	if !strings.Contains(out, "9 packets, 7 forwarded, 1 passed, 1 dropped") {
		t.Errorf("kernel counters do not add up to the packets sent:\n%s", out)
	}
}

// TestAttach attaches the program to a veth inside a throw-away network
// namespace for a moment, and checks it is detached afterwards.
func TestAttach(t *testing.T) {
	requireProgram(t)
	netns.Require(t)
	tok := netns.Token()
	a, err := netns.New(t, "tlbx-a-"+tok)
	if err != nil {
		t.Fatal(err)
	}
	b, err := netns.New(t, "tlbx-b-"+tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Veth(a, "lb0", b, "peer0", 1500); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	var code int
	if err := a.Do(func() error {
		code = run(context.Background(), []string{"-iface", "lb0", "-for", "200ms"}, &stdout, &stderr)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(stdout.String(), "attached to lb0") || !strings.Contains(stdout.String(), "detached:") {
		t.Fatalf("run -iface lb0 = %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	link, err := a.Exec("ip", "link", "show", "lb0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(link), "xdp") {
		t.Errorf("program still attached after run returned:\n%s", link)
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-mode", "turbo"}, `-mode "turbo": want generic, native or auto`},
		{[]string{"-iface", "no-such-if0"}, `-iface "no-such-if0"`},
		{[]string{"-for", "-1s"}, "-for -1s: must not be negative"},
		{[]string{"-for", "soon"}, `invalid value "soon" for flag -for`},
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.msg) || !strings.Contains(stderr.String(), "usage: xdp") {
			t.Errorf("run(%q) = %d, stderr %q; want 2 with %q and the usage", tc.args, code, stderr.String(), tc.msg)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) printed %q on stdout", tc.args, stdout.String())
		}
	}
}
