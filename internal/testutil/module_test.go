package testutil

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOutsideModuleRefusesInternal holds OutsideModule to its promise: a
// program that imports one of this repository's internal packages does
// not build there, and the same program without that import does.
func TestOutsideModuleRefusesInternal(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command on PATH")
	}
	const internal = "package main\n\nimport \"github.com/titanlb/titanlb/internal/murmur\"\n\nfunc main() { println(murmur.Fmix64(1)) }\n"
	dir := OutsideModule(t, map[string][]byte{"main.go": []byte(internal)})
	if _, out, err := goBuild(gocmd, dir); err == nil || !strings.Contains(string(out), "use of internal package") {
		t.Errorf("a program importing internal/murmur built outside the repository: %v\n%s", err, out)
	}
	const public = "package main\n\nimport \"github.com/titanlb/titanlb/lru\"\n\nfunc main() { _ = lru.New[int, int] }\n"
	dir = OutsideModule(t, map[string][]byte{"main.go": []byte(public)})
	if _, out, err := goBuild(gocmd, dir); err != nil {
		t.Errorf("a program importing lru did not build outside the repository: %v\n%s", err, out)
	}
}
