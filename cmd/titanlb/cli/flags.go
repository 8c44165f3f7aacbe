package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// command is a subcommand's flag set with its usage text.
type command struct {
	fs     *flag.FlagSet
	stderr io.Writer
	name   string
}

func newCommand(name, synopsis, about string, stderr io.Writer) *command {
	fs := flag.NewFlagSet("titanlb "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &command{fs: fs, stderr: stderr, name: name}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: titanlb %s %s\n\n%s\nflags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return c
}

// parse parses args, flags and arguments in any order ("study.json -o
// rows.jsonl" as well as "-o rows.jsonl study.json"); "--" ends the flags
// and what follows it is returned as rest. It returns the status to exit
// with when parsing ends the command (0 for -h, 2 for a bad flag), or -1.
func (c *command) parse(args []string) (positional, rest []string, status int) {
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, 0
			}
			return nil, nil, 2
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return positional, rest, -1
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// fail prints "titanlb <name>: msg" and the usage, and returns 2.
func (c *command) fail(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "titanlb %s: %s\n\n", c.name, fmt.Sprintf(format, a...))
	c.fs.Usage()
	return 2
}
