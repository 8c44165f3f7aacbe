package titanlb_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/internal/atomicfile"
	"github.com/titanlb/titanlb/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the README snippet's quoted output from a fresh run")

// block returns the byte range of the body of the first code block in
// text, after offset from, that opens with fence ("```go").
func block(t *testing.T, text, fence string, from int) (start, end int) {
	t.Helper()
	i := strings.Index(text[from:], "\n"+fence+"\n")
	if i < 0 {
		t.Fatalf("README.md: no %s block after byte %d", fence, from)
	}
	start = from + i + len(fence) + 2
	j := strings.Index(text[start:], "```\n")
	if j < 0 {
		t.Fatalf("README.md: the %s block at byte %d is not closed", fence, start)
	}
	return start, start + j
}

// TestREADMESnippet builds the README's Go snippet exactly as written, in
// a module of its own outside this repository (as a reader who copies it
// would), runs it, and requires the output the README quotes after it, in
// which Titan keeps every datagram whole and Katran does not. After a
// change to a model, refresh the quoted output with
//
//	go test . -run TestREADMESnippet -update
func TestREADMESnippet(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start, end := block(t, text, "```go", 0)
	snippet := text[start:end]
	bin := testutil.GoBuild(t, testutil.OutsideModule(t, map[string][]byte{"main.go": []byte(snippet)}))
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("the snippet: %v", err)
	}
	got := string(out)

	rel := map[string]float64{}
	for line := range strings.Lines(got) {
		// "titan  reliability 1.0000, 124.9 STU per packet"
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "reliability" {
			t.Fatalf("unexpected line %q", line)
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[2], ","), 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rel[f[0]] = v
	}
	if rel["titan"] < 0.999 || rel["katran"] >= rel["titan"]/2 {
		t.Errorf("reliability: titan %v, katran %v; want titan whole and katran far below", rel["titan"], rel["katran"])
	}

	qs, qe := block(t, text, "```text", end)
	if *update {
		if err := atomicfile.WriteFile("README.md", []byte(text[:qs]+got+text[qe:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if quoted := text[qs:qe]; quoted != got {
		t.Errorf("README.md quotes\n%s\nbut the snippet prints\n%s\nrefresh it with -update", quoted, got)
	}
}

// TestDocsIndex requires docs/README.md to list every page of docs/, so
// that a page cannot be added where no one finds it.
func TestDocsIndex(t *testing.T) {
	index, err := os.ReadFile("docs/README.md")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob("docs/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		name := filepath.Base(p)
		if name == "README.md" {
			continue
		}
		if !strings.Contains(string(index), "]("+name+")") {
			t.Errorf("docs/README.md does not list %s: add a row [%s](%s) with what it holds", name, name, name)
		}
	}
}

// TestTestingDocListsEnv requires docs/testing.md to explain every
// TITANLB_ environment variable the code reads.
func TestTestingDocListsEnv(t *testing.T) {
	doc, err := os.ReadFile("docs/testing.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`TITANLB_[A-Z_]*[A-Z]`)
	seen := map[string]string{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir // .git, .ci
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		for _, v := range name.FindAllString(string(src), -1) {
			seen[v] = path
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 3 {
		t.Fatalf("found %d variables in the code, want TITANLB_REQUIRE_BPF among them: %v", len(seen), seen)
	}
	for v, path := range seen {
		if !bytes.Contains(doc, []byte("`"+v)) && !bytes.Contains(doc, []byte(v+"`")) {
			t.Errorf("%s (read in %s) is not in docs/testing.md", v, path)
		}
	}
}
