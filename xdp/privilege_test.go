package xdp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/titanlb/titanlb/internal/testutil"
)

// childEnv marks the unprivileged child process of TestLoadWithoutPrivileges.
const childEnv = "TITANLB_XDP_UNPRIVILEGED_CHILD"

// TestLoadWithoutPrivileges runs Load in a child process that has dropped
// root (uid and gid 65534, no capabilities): the error must wrap
// ErrNotPermitted and os.ErrPermission, so callers can tell "run me as
// root" from a broken program.
func TestLoadWithoutPrivileges(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		_, err := Load(Options{})
		if errors.Is(err, ErrNotPermitted) && errors.Is(err, os.ErrPermission) {
			fmt.Println("NOT PERMITTED:", err)
			return
		}
		fmt.Println("UNEXPECTED:", err)
		os.Exit(3)
	}
	testutil.RequireRoot(t)
	// The test binary lives in a directory only root may enter: copy it
	// somewhere the child can execute it.
	dir, err := os.MkdirTemp("", "titanlb-xdp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "xdp.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestLoadWithoutPrivileges$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "NOT PERMITTED:") {
		t.Fatalf("unprivileged Load: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "NOT PERMITTED:") {
			t.Log(line)
		}
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
