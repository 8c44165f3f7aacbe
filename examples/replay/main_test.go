package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/sim"
	"golang.org/x/sys/unix"
)

const sample = "../../sim/testdata/trace.pcap"

func TestReplayWritesDecisions(t *testing.T) {
	dir := t.TempDir()
	fwd, drops := filepath.Join(dir, "fwd.pcap"), filepath.Join(dir, "drops.pcapng")
	var out, errb bytes.Buffer
	if rc := run([]string{"-in", sample, "-out", fwd, "-dropped", drops}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	if !strings.Contains(out.String(), "through titan") || !strings.Contains(out.String(), "reliability 1.0000") {
		t.Errorf("titan did not keep the sample's datagrams whole:\n%s", out.String())
	}
	// The forwarded file re-reads as a capture with one frame per packet the
	// summary says reached a backend.
	f, err := os.Open(fwd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := sim.ReadTrace(f)
	if err != nil {
		t.Fatalf("decisions file does not read back: %v", err)
	}
	var delivered int
	for _, line := range strings.Split(out.String(), "\n") {
		var name string
		var n int
		if c, _ := fmt.Sscanf(line, "  backend %s %d packets", &name, &n); c == 2 {
			delivered += n
		}
	}
	if delivered == 0 || len(tr.Packets) != delivered {
		t.Errorf("decisions file has %d frames, summary says %d delivered", len(tr.Packets), delivered)
	}
	if st, err := os.Stat(drops); err != nil || st.Size() == 0 {
		t.Errorf("dropped-packets file missing or empty: %v", err)
	}
}

func TestReplayModelsDiffer(t *testing.T) {
	var titanOut, katranOut, errb bytes.Buffer
	if run([]string{"-in", sample}, &titanOut, &errb) != 0 || run([]string{"-in", sample, "-balancer", "katran"}, &katranOut, &errb) != 0 {
		t.Fatal(errb.String())
	}
	// Katran drops every fragment, so the sample's fragmented datagrams
	// cannot be whole through it.
	if strings.Contains(katranOut.String(), "reliability 1.0000") {
		t.Errorf("katran kept every datagram of a trace with fragments:\n%s", katranOut.String())
	}
}

func TestReplayBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"-balancer", "nginx"},
		{"-backends", "0"},
		{"-in", sample, "extra"},
		{"-nosuchflag"},
	} {
		var out, errb bytes.Buffer
		if rc := run(args, &out, &errb); rc != 2 || !strings.Contains(errb.String(), "usage:") {
			t.Errorf("%v: exit %d, stderr %q; want 2 with usage", args, rc, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"-in", "main.go"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "main.go") {
		t.Errorf("a non-capture file: exit %d, stderr %q; want 1 naming the file", rc, errb.String())
	}
}

// A write that fails half way leaves the old output whole and no
// temporary file behind.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fwd.pcap")
	if err := os.WriteFile(path, []byte("the old capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	full := errors.New("no space left on device")
	err := writeFile(path, sim.Recording{}, func(w io.Writer, _ sim.Recording) error {
		if _, err := w.Write(bytes.Repeat([]byte{0xa1}, 1<<20)); err != nil {
			return err
		}
		return full
	})
	if !errors.Is(err, full) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v: want the writer's, naming %s", err, path)
	}
	assertFile(t, dir, "fwd.pcap", "the old capture")
}

// On a full disk (a 32 kB tmpfs; needs root to mount it) replay -out
// fails, and the capture it was replacing stays whole.
func TestReplayFullDiskKeepsOld(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=32k"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, 0) })
	path := filepath.Join(dir, "fwd.pcap")
	if err := os.WriteFile(path, []byte("the old capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"-in", sample, "-out", path}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "no space left on device") {
		t.Fatalf("exit %d, stderr %q: want 1, no space left on device (the decisions file is larger than the disk)", rc, errb.String())
	}
	assertFile(t, dir, "fwd.pcap", "the old capture")
}

// assertFile checks that dir holds only name, with content want.
func assertFile(t *testing.T, dir, name, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil || string(got) != want {
		t.Errorf("%s holds %d bytes (%v), want the old %q", name, len(got), err, want)
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Name() != name {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s", names, name)
	}
}
