package testutil

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/internal/atomicfile"
)

// CheckQuoted holds a document to the outputs it quotes. It finds every
// code block of the file at path whose first line is "$ " followed by
// command and its arguments, such as
//
//	```
//	$ go run ./examples/compare -frag 100
//	...the output...
//	```
//
// runs run with those arguments, and fails tb where a block holds other
// than the output. Text that mask matches (a wall time) is left out of the
// comparison; mask may be nil. With update it rewrites the blocks with the
// fresh outputs instead, atomically. It returns the number of blocks, so
// that a caller can require some.
func CheckQuoted(tb testing.TB, path, command string, run func(args []string) string, mask *regexp.Regexp, update bool) int {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	text := string(data)
	prompt := "```\n$ " + command
	var fresh strings.Builder
	last, n := 0, 0
	for off := 0; ; {
		i := strings.Index(text[off:], prompt)
		if i < 0 {
			break
		}
		i += off + len("```\n")
		nl := strings.IndexByte(text[i:], '\n')
		end := strings.Index(text[i:], "```\n")
		if nl < 0 || end < nl {
			tb.Fatalf("%s: unterminated block at byte %d", path, i)
		}
		line := text[i+len("$ ") : i+nl]
		if rest, ok := strings.CutPrefix(line, command); !ok || (rest != "" && rest[0] != ' ') {
			off = i + nl // another command that begins alike
			continue
		}
		if strings.ContainsAny(line, `"'\$`) {
			tb.Fatalf("%s: quoted command %q: only plain arguments are run", path, line)
		}
		args := strings.Fields(strings.TrimPrefix(line, command))
		start, stop := i+nl+1, i+end
		out := run(args)
		got, want := out, text[start:stop]
		if mask != nil {
			got, want = mask.ReplaceAllString(got, ""), mask.ReplaceAllString(want, "")
		}
		if !update && got != want {
			tb.Errorf("%s: the output quoted for %q is stale; refresh it with -update.\nquoted:\n%s\nnow:\n%s", path, line, text[start:stop], out)
		}
		fresh.WriteString(text[last:start] + out)
		last, off, n = stop, stop, n+1
	}
	fresh.WriteString(text[last:])
	if update && fresh.String() != text {
		if err := atomicfile.WriteFile(path, []byte(fresh.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("%s: outputs rewritten", path)
	}
	return n
}

// Command adapts a program's run function (arguments, stdout, stderr, exit
// status: the shape of every example's run) to [CheckQuoted]: it returns
// stdout, and fails tb when the status is not 0.
func Command(tb testing.TB, run func(args []string, stdout, stderr io.Writer) int) func(args []string) string {
	return func(args []string) string {
		tb.Helper()
		var stdout, stderr strings.Builder
		if code := run(args, &stdout, &stderr); code != 0 {
			tb.Fatalf("run(%q) = %d: %s", args, code, stderr.String())
		}
		return stdout.String()
	}
}
