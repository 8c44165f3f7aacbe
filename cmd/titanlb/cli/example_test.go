package cli_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/titanlb/titanlb/cmd/titanlb/cli"
)

// Main is the titanlb command: here it checks a study, read from standard
// input ("-"), and counts its jobs without running them.
func ExampleMain() {
	studyFile := `{
	  "base": {"Backends": [{"ID": 101, "Name": "101", "Addr": "10.0.0.101", "Weight": 1, "Up": true}]},
	  "axes": [{"path": "traffic.fragmentRate", "values": [0, 0.5, 1]}],
	  "balancers": ["titan", "katran", "cilium"],
	  "seeds": 10
	}`
	cfg := cli.Config{Stdin: strings.NewReader(studyFile)}
	code := cli.Main(context.Background(), []string{"study", "-check", "-"}, os.Stdout, os.Stderr, cfg)
	fmt.Println("exit", code)
	// Output:
	// -: 90 jobs: 3 balancers (titan, katran, cilium), 1 axes (traffic.fragmentRate)
	// exit 0
}
