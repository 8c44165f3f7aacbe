package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRunFlagsAndConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"vips":["192.0.2.10"],"backends":[{"id":1,"address":"10.0.0.1","health_port":80},{"id":2,"address":"x","health_port":80}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	noIface := filepath.Join(dir, "noiface.json")
	if err := os.WriteFile(noIface, []byte(`{"vips":["192.0.2.10"],"backends":[{"id":1,"address":"10.0.0.1","health_port":80}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no config", nil, exitUsage, "", "agent: -config: missing\nusage: agent -config FILE"},
		{"unknown flag", []string{"-bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
		{"extra argument", []string{"-config", "agent.example.json", "now"}, exitUsage, "", `unexpected argument "now"`},
		{"missing file", []string{"-config", filepath.Join(dir, "none.json")}, exitUsage, "", "agent: config: open "},
		{"bad field", []string{"-config", bad}, exitUsage, "", `agent: config: backends[1].address "x": not an IPv4 or IPv6 address` + "\nusage:"},
		{"no interface", []string{"-config", noIface, "-check"}, exitUsage, "", "no interface: give -iface"},
		{"bad metrics addr", []string{"-config", "agent.example.json", "-metrics", "9100"}, exitUsage, "", `-metrics "9100"`},
		{"unknown interface", []string{"-config", "agent.example.json", "-iface", "titanlb-none0"}, exitUsage, "", `interface "titanlb-none0"`},
		{"check", []string{"-config", "agent.example.json", "-check"}, exitOK, "config OK: interface eth0, VIPs [192.0.2.10 192.0.2.11], 3 backends, health every 1s (timeout 500ms, rise 2, fall 3, drain 30s)\n", ""},
		{"check iface flag", []string{"-config", noIface, "-iface", "veth9", "-check"}, exitOK, "config OK: interface veth9,", ""},
		{"help", []string{"-h"}, exitOK, "", "usage: agent -config FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tc.args, nil, &stdout, &stderr)
			if got := code; got != tc.code {
				t.Fatalf("stderr: %s: code = %v, want %v", stderr.String(), got, tc.code)
			}
			if tc.stdout != "" {
				if !(strings.HasPrefix(stdout.String(), tc.stdout)) {
					t.Fatalf("stdout %q", stdout.String())
				}
			} else {
				if len(stdout.String()) != 0 {
					t.Fatalf("stdout.String() = %q, want empty", stdout.String())
				}
			}
			if tc.stderr != "" {
				if !strings.Contains(stderr.String(), tc.stderr) {
					t.Fatalf("%q does not contain %q", stderr.String(), tc.stderr)
				}
			}
		})
	}
}

// TestCheckFDs: a descriptor limit below what the first round needs is an
// error that says what to raise.
func TestCheckFDs(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	if err := checkFDs(MaxBackends); lim.Cur >= 2*MaxBackends+fdReserve && err != nil {
		t.Errorf("limit %d: %v", lim.Cur, err)
	}
	low := lim
	low.Cur = fdReserve + 200
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skip(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	if err := checkFDs(100); err != nil {
		t.Errorf("100 backends under %d: %v", low.Cur, err)
	}
	err := checkFDs(101)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("open-file limit %d: 101 backends need %d", low.Cur, 202+fdReserve)) {
		t.Errorf("101 backends under %d: %v", low.Cur, err)
	}
}
