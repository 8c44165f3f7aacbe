package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// modulePath is this repository's module.
const modulePath = "github.com/titanlb/titanlb"

// OutsideModule writes files (name to content) into a new Go module in a
// temporary directory outside this repository, as a user's module that
// depends on TitanLB: module example.com/outside, requiring
// github.com/titanlb/titanlb, replaced by this checkout, with the
// checkout's go.sum. It returns the directory. Building there proves that
// the files use only the public API: an import of an internal package
// fails ("use of internal package ... not allowed").
func OutsideModule(tb testing.TB, files map[string][]byte) string {
	tb.Helper()
	root, err := checkoutRoot()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	gomod := fmt.Sprintf("module example.com/outside\n\ngo 1.26\n\nrequire %s v0.0.0\n\nreplace %s => %s\n", modulePath, modulePath, root)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		tb.Fatal(err)
	}
	write := map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum}
	for name, data := range files {
		write[name] = data
	}
	for name, data := range write {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// GoBuild builds the main package of the module in dir with the go
// command that runs the tests (go test puts it first on PATH) and returns
// the binary's path. It uses the module cache only as needed (-mod=mod
// fills in the indirect requirements) and no workspace; a failed build
// fails tb with the compiler's output.
func GoBuild(tb testing.TB, dir string) string {
	tb.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("needs the go command on PATH")
	}
	bin, out, err := goBuild(gocmd, dir)
	if err != nil {
		tb.Fatalf("go build in a module outside the repository: %v\n%s", err, out)
	}
	return bin
}

func goBuild(gocmd, dir string) (bin string, out []byte, err error) {
	bin = filepath.Join(dir, "prog")
	cmd := exec.Command(gocmd, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	out, err = cmd.CombinedOutput()
	return bin, out, err
}

// checkoutRoot returns the directory of this module's go.mod, found from
// the working directory (a test runs in its package's directory) upwards.
func checkoutRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testutil: no go.mod of %s above the working directory", modulePath)
		}
		dir = parent
	}
}
