//go:build !linux

package cli

import "os"

// IsTerminal reports whether f is a terminal, as the progress bar needs.
// Outside Linux it answers for character devices, which /dev/null also is.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}
