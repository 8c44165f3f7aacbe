package cli

import (
	"io"
	"os"
)

// ProgressTo returns f for [Config.Progress] when f is a terminal, and
// nil otherwise: the bar redraws one line in place, which a log file or
// a pipe would keep as clutter, so a command whose standard error is
// redirected draws none.
func ProgressTo(f *os.File) io.Writer {
	if f == nil || !IsTerminal(f) {
		return nil // not a nil *os.File in a non-nil io.Writer
	}
	return f
}
