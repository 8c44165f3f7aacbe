package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunFlagsAndConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"vips":["192.0.2.10"],"backends":[{"id":1,"address":"10.0.0.1","health_port":80},{"id":2,"address":"x","health_port":80}]}`), 0o644))
	noIface := filepath.Join(dir, "noiface.json")
	require.NoError(t, os.WriteFile(noIface, []byte(`{"vips":["192.0.2.10"],"backends":[{"id":1,"address":"10.0.0.1","health_port":80}]}`), 0o644))
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
		{"bad field", []string{"-config", bad}, exitUsage, "", `agent: config: backends[1].address "x": not an IPv4 address` + "\nusage:"},
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
			require.Equal(t, tc.code, code, "stderr: %s", stderr.String())
			if tc.stdout != "" {
				require.True(t, strings.HasPrefix(stdout.String(), tc.stdout), "stdout %q", stdout.String())
			} else {
				require.Empty(t, stdout.String())
			}
			if tc.stderr != "" {
				require.Contains(t, stderr.String(), tc.stderr)
			}
		})
	}
}
