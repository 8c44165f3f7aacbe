package testutil

import (
	"testing"

	"golang.org/x/sys/unix"
)

// BPFFS mounts a BPF file system of the test's own on a temporary
// directory and returns it; the mount goes with the test. Pins made there
// are invisible to the host's /sys/fs/bpf. It needs root (see
// [RequireRoot]).
func BPFFS(tb testing.TB) string {
	tb.Helper()
	RequireRoot(tb)
	dir := tb.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		SkipOrFail(tb, "bpffs: mount: "+err.Error())
		return ""
	}
	tb.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}
