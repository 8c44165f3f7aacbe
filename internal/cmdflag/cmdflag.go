// Package cmdflag is the flag handling the example commands share: a flag
// set that writes to the command's stderr under a usage text, parsing that
// turns -h, a bad flag and a stray argument into the exit status, and the
// "name: problem" message followed by the usage.
//
// The statuses are the examples' convention: 0 for -h, 2 for bad usage.
// The flag set does not exit the process and keeps no global state.
package cmdflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Set is a command's flag set.
type Set struct {
	*flag.FlagSet
	stderr io.Writer
}

// New returns the flag set of the command name, which writes its errors
// to stderr; its usage is usage (printed as it is) followed by the flags'
// defaults.
func New(name, usage string, stderr io.Writer) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return &Set{FlagSet: fs, stderr: stderr}
}

// ParseArgs parses args, which must hold flags only. It returns ok to go
// on, or else the status to exit with: 0 after -h (the flag package
// printed the usage), 2 after a bad flag (it printed why and the usage)
// or an argument (see [Set.Bad]).
func (s *Set) ParseArgs(args []string) (status int, ok bool) {
	if err := s.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if s.NArg() > 0 {
		return s.Bad("unexpected argument %q", s.Arg(0)), false
	}
	return 0, true
}

// Bad prints "name: " and the message to stderr, then the usage, and
// returns 2, the status of bad usage.
func (s *Set) Bad(format string, a ...any) int {
	fmt.Fprintf(s.stderr, "%s: %s\n", s.Name(), fmt.Sprintf(format, a...))
	s.Usage()
	return 2
}
