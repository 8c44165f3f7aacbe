package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// bpfSources are the wrapper header and the two files that include each
// program's unmodified source under it.
//
//go:embed bpf/bench_wrapper.h bpf/bench_katran.c bpf/bench_titan.c
var bpfSources embed.FS

// objects are the BPF objects a run loads.
type objects struct {
	katran      string // Katran's balancer with the wrapper
	katranPlain string // Katran's balancer as Katran builds it (instruction counts)
	titan       string // Titan's program with the wrapper
	titanPlain  string // the project's committed xdp/titan_bpfel.o (instruction counts)
	katranMain  string // Katran's main source, relative to its checkout
	titanFlags  []string
}

// katranMains are the names Katran's balancer source has had, newest first.
var katranMains = []string{"katran/lib/bpf/balancer.bpf.c", "katran/lib/bpf/balancer_kern.c"}

// defaultTitanFlags are the project's bpf2go flags, used when they cannot
// be read from xdp/program.go's go:generate line.
var defaultTitanFlags = []string{"-O2", "-g", "-Wall", "-Werror", "-mcpu=v3"}

// build compiles the objects into dir: Katran as its Makefile-bpf does
// (clang -O2 -emit-llvm, then llc -march=bpf), Titan with the project's
// bpf2go flags.
func build(c config, dir string) (objects, error) {
	o, err := buildTitan(c.project, dir)
	if err != nil {
		return o, err
	}
	for _, f := range katranMains {
		if _, err := os.Stat(filepath.Join(c.katran, f)); err == nil {
			o.katranMain = f
			break
		}
	}
	if o.katranMain == "" {
		return o, fmt.Errorf("-katran %s: no Katran balancer source (%s)", c.katran, strings.Join(katranMains, " or "))
	}
	src := filepath.Join(dir, "bpf")
	kflags := []string{"-I" + c.katran, "-I" + filepath.Join(c.katran, "katran/lib/linux_includes"), "-I" + src,
		"-DDEBUG", "-D__KERNEL__", "-Wno-unused-value", "-Wno-pointer-sign",
		"-Wno-compare-distinct-pointer-types", "-O2", "-emit-llvm", "-c", "-g"}
	o.katranPlain = filepath.Join(dir, "balancer.bpf.o")
	if err := clangLLC(kflags, filepath.Join(c.katran, o.katranMain), o.katranPlain); err != nil {
		return o, fmt.Errorf("Katran: %w", err)
	}
	o.katran = filepath.Join(dir, "bench_katran.o")
	if err := clangLLC(append(kflags, `-DKATRAN_MAIN="`+o.katranMain+`"`), filepath.Join(src, "bench_katran.c"), o.katran); err != nil {
		return o, fmt.Errorf("Katran with the wrapper: %w", err)
	}
	return o, nil
}

// buildTitan writes the wrapper sources into dir/bpf and compiles the
// project's xdp/titan.c with the wrapper into dir.
func buildTitan(project, dir string) (objects, error) {
	var o objects
	if _, err := os.Stat(filepath.Join(project, "xdp", "titan.c")); err != nil {
		return o, fmt.Errorf("-project %s: %w", project, err)
	}
	o.titanPlain = filepath.Join(project, "xdp", "titan_bpfel.o")
	if _, err := os.Stat(o.titanPlain); err != nil {
		return o, fmt.Errorf("-project %s: %w", project, err)
	}
	src := filepath.Join(dir, "bpf")
	if err := writeSources(src); err != nil {
		return o, err
	}
	o.titanFlags = titanFlags(filepath.Join(project, "xdp", "program.go"))
	o.titan = filepath.Join(dir, "bench_titan.o")
	args := append(append([]string{}, o.titanFlags...), "-target", "bpf", "-I"+src, "-I"+filepath.Join(project, "xdp"),
		"-c", filepath.Join(src, "bench_titan.c"), "-o", o.titan)
	if err := command("clang", args...); err != nil {
		return o, fmt.Errorf("Titan with the wrapper: %w", err)
	}
	return o, nil
}

// writeSources writes the embedded BPF sources into dir.
func writeSources(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := bpfSources.ReadDir("bpf")
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := bpfSources.ReadFile("bpf/" + e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// clangLLC compiles src to LLVM bitcode with clang and flags, and the
// bitcode to a BPF object with llc, as Katran's Makefile-bpf does.
func clangLLC(flags []string, src, out string) error {
	bc := strings.TrimSuffix(out, ".o") + ".bc"
	if err := command("clang", append(append([]string{}, flags...), src, "-o", bc)...); err != nil {
		return err
	}
	return command("llc", "-march=bpf", "-filetype=obj", bc, "-o", out)
}

// command runs name with args and returns its output in the error.
func command(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return fmt.Errorf("%s not found (Debian: apt-get install clang llvm libbpf-dev): %w", name, err)
		}
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

var cflagsRE = regexp.MustCompile(`go:generate .*bpf2go .*-cflags "([^"]*)".* titan titan\.c`)

// titanFlags returns the clang flags of the project's bpf2go line in
// program.go, with the architecture's include directory, or the defaults.
func titanFlags(programGo string) []string {
	flags := defaultTitanFlags
	if b, err := os.ReadFile(programGo); err == nil {
		if m := cflagsRE.FindSubmatch(b); m != nil {
			flags = strings.Fields(string(m[1]))
		}
	}
	out := make([]string, 0, len(flags)+1)
	hasArch := false
	for _, f := range flags {
		hasArch = hasArch || strings.HasSuffix(f, "-linux-gnu")
		out = append(out, f)
	}
	if !hasArch {
		out = append(out, "-I/usr/include/"+gnuArch()+"-linux-gnu")
	}
	return out
}

// gnuArch is the GNU name of the machine's architecture, as in
// /usr/include/<arch>-linux-gnu.
func gnuArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}
