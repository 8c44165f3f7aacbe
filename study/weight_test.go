package study

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Beam stays out of the library: the root module does not require it (so
// no package of the library can import it, and a user importing sim or
// study downloads none of it), and no go.work joins the beam/ module to
// the root's `go test ./...`. docs/studies.md measures what each side
// downloads.
func TestBeamOutOfTheLibrary(t *testing.T) {
	root := filepath.Join("..")
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mod), "github.com/apache/beam") {
		t.Error("go.mod requires Apache Beam: the Beam runner belongs in beam/go.mod")
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err == nil {
		t.Error("a go.work at the root puts the beam/ module into the library's go test ./...")
	}
	beamMod, err := os.ReadFile(filepath.Join(root, "beam", "go.mod"))
	if err != nil || !strings.Contains(string(beamMod), "module github.com/titanlb/titanlb/beam\n") {
		t.Errorf("beam/go.mod: %v: want the Beam runner's own module", err)
	}
}
