package study_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/study"
)

const exampleStudy = `{
  "base": {
    "Duration": 20000000,
    "Backends": [
      {"ID": 101, "Name": "101", "Addr": "10.0.0.101", "Weight": 1, "Up": true},
      {"ID": 102, "Name": "102", "Addr": "10.0.0.102", "Weight": 1, "Up": true},
      {"ID": 103, "Name": "103", "Addr": "10.0.0.103", "Weight": 1, "Up": true}
    ],
    "Traffic": {"Flows": 200, "Rate": 20000}
  },
  "axes": [{"path": "traffic.fragmentRate", "values": [0, 0.5, 1]}],
  "balancers": ["titan", "katran"],
  "seeds": 3
}`

// A study file expands into jobs: every axis value, for every balancer,
// for every seed.
func ExampleParse() {
	st, err := study.Parse([]byte(exampleStudy), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Len(), "jobs; axes", st.Axes(), "balancers", st.Balancers())
	j, _ := st.Job(4)
	fmt.Println(j.Balancer, string(j.Params["traffic.fragmentRate"]), "seed", j.Seed)
	// Output:
	// 18 jobs; axes [traffic.fragmentRate] balancers [titan katran]
	// katran 0.5 seed 1
}

// Mistakes are found before anything runs, and named.
func ExampleParse_error() {
	_, err := study.Parse([]byte(`{
	  "base": {"Backends": [{"ID": 101, "Name": "101", "Addr": "10.0.0.101", "Weight": 1, "Up": true}]},
	  "axes": [{"path": "traffic.reorder", "values": [0, "some"]}],
	  "balancers": ["titan"]
	}`), nil)
	fmt.Println(err)
	// Output:
	// study: axes[0].values[1] "some": traffic.reorder is a float64: json: cannot unmarshal string into Go value of type float64: invalid study
}

// Execute runs the jobs into a rows file (rerun it to resume); Summarize
// gives each group's mean and 95% confidence interval over the seeds.
func ExampleExecute() {
	st, err := study.Parse([]byte(exampleStudy), nil)
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "study")
	defer os.RemoveAll(dir)
	rows := filepath.Join(dir, "rows.jsonl")
	rep, err := study.Execute(context.Background(), st, rows, study.Local{}, study.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Ran, "jobs run")
	s, err := study.SummarizeFile(rows)
	if err != nil {
		log.Fatal(err)
	}
	s.WriteTable(os.Stdout, []string{"Reliability", "AvgCost"})
	// Output:
	// 18 jobs run
	// traffic.fragmentRate  balancer  n   Reliability     AvgCost
	//                    0    katran  3          1 ±0     305 ±10
	//                    0     titan  3          1 ±0  140.1 ±4.8
	//                  0.5    katran  3  0.730 ±0.016  177.0 ±8.1
	//                  0.5     titan  3          1 ±0  135.0 ±2.0
	//                    1    katran  3  0.434 ±0.041  111.4 ±9.7
	//                    1     titan  3          1 ±0  132.2 ±1.7
}

// A custom balancer joins studies under a name of its own, configured by
// its own Config type; its fields can be axes like any balancer's.
func ExampleRegister() {
	reg := study.NewRegistry()
	type Config struct{ Tables int }
	err := study.Register(reg, "tiny-titan", Config{Tables: 64}, func(c Config) (balancer.Balancer, error) {
		return titan.New(titan.Config{FragTableSize: c.Tables, ConnTableSize: c.Tables})
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := study.Parse([]byte(`{
	  "base": {"Backends": [{"ID": 101, "Name": "101", "Addr": "10.0.0.101", "Weight": 1, "Up": true}]},
	  "axes": [{"path": "balancer.tiny-titan.tables", "values": [16, 64, 256]}],
	  "balancers": ["titan", "tiny-titan"]
	}`), reg)
	if err != nil {
		log.Fatal(err)
	}
	for j := range st.Jobs() {
		if v, ok := j.Params["balancer.tiny-titan.tables"]; ok {
			fmt.Println(j.Balancer, "tables", string(v))
		} else {
			fmt.Println(j.Balancer)
		}
	}
	// Output:
	// titan
	// tiny-titan tables 16
	// tiny-titan tables 64
	// tiny-titan tables 256
}
