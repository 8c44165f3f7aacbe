package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/titanlb/titanlb/sim"
)

const runAbout = `Runs one scenario (sim.Scenario as JSON: Backends, Traffic, Node, Events,
...; durations in nanoseconds) through one balancer and prints its
sim.Result as JSON. An unknown field or a bad value is an error naming it.

  titanlb run scenario.json
  titanlb run -balancer cilium -config '{"Mode": 1}' scenario.json
  titanlb run -seed 7 - < scenario.json
`

func cmdRun(args []string, stdout, stderr io.Writer, cfg Config) int {
	c := newCommand("run", "[flags] scenario.json", runAbout, stderr)
	kind := c.fs.String("balancer", "titan", "balancer `kind`: "+strings.Join(cfg.Registry.Kinds(), ", "))
	config := c.fs.String("config", "", "the balancer's configuration as `JSON` (its Config type's JSON form), or @file")
	seed := c.fs.Int64("seed", 0, "replace the scenario's seed (0: keep it)")
	pos, _, status := c.parse(args)
	if status >= 0 {
		return status
	}
	if len(pos) != 1 {
		return c.fail("want one scenario file (or - for standard input), got %d arguments", len(pos))
	}
	data, err := readArg(pos[0], cfg.stdin())
	if err != nil {
		fmt.Fprintf(stderr, "titanlb run: %v\n", err)
		return 1
	}
	var sc sim.Scenario
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return c.fail("%s: %v", pos[0], err)
	}
	if *seed != 0 {
		sc.Seed = *seed
	}
	if err := sc.Validate(); err != nil {
		return c.fail("%s: %v", pos[0], err)
	}
	var cfgJSON []byte
	if *config != "" {
		if cfgJSON, err = readConfig(*config); err != nil {
			return c.fail("-config: %v", err)
		}
	}
	newLB, err := cfg.Registry.New(*kind, cfgJSON)
	if err != nil {
		return c.fail("-balancer %s: %v", *kind, err)
	}
	res, err := sim.Run(sc, newLB)
	if err != nil {
		fmt.Fprintf(stderr, "titanlb run: %v\n", err)
		return 1
	}
	return printJSON(stdout, stderr, "run", res)
}

// printJSON writes v as indented JSON and returns the exit status.
func printJSON(stdout, stderr io.Writer, cmd string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "titanlb %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func (cfg Config) stdin() io.Reader {
	if cfg.Stdin == nil {
		return os.Stdin
	}
	return cfg.Stdin
}

// readArg reads the file name, or stdin for "-".
func readArg(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// readConfig reads -config: inline JSON, or @file.
func readConfig(s string) ([]byte, error) {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		return os.ReadFile(name)
	}
	if !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("%q is not JSON (give an object, or @file)", s)
	}
	return []byte(s), nil
}
