package strictjson

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type backend struct {
	ID   *int64 `json:"id"`
	Port uint16 `json:"port"`
}

type config struct {
	Name     string    `json:"name"`
	Rate     float64   `json:"rate"`
	VIPs     []string  `json:"vips"`
	Backends []backend `json:"backends"`
	On       bool      `json:"on"`
	Extra    map[string]int
}

func TestUnmarshalAccepts(t *testing.T) {
	var c config
	err := Unmarshal([]byte(` {"name": "a", "rate": 0.5, "vips": ["x"], "backends": [{"id": 7, "port": 80}], "on": true} `+"\n\t"), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "a" || c.Rate != 0.5 || len(c.VIPs) != 1 || *c.Backends[0].ID != 7 || c.Backends[0].Port != 80 || !c.On {
		t.Errorf("decoded %+v", c)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "  \n", "line 1: empty"},
		{"key case", `{"Name": "a"}`, "Name: unknown field (line 1)"},
		{"unknown nested", "{\"backends\": [{\"id\": 1},\n {\"ID\": 2}]}", "backends[1].ID: unknown field (line 2)"},
		{"duplicate", `{"rate": 0.1, "rate": 0.9}`, "rate: duplicate field (line 1)"},
		{"trailing object", `{"rate": 0.1} {"rate": 0.9}`, "line 1: data after the top-level value"},
		{"trailing garbage", `{"rate": 0.1}` + strings.Repeat(" ", 5000) + `GARBAGE{{{`, "line 1: data after the top-level value"},
		{"array body", `[]`, "line 1: array where an object is expected"},
		{"string for number", `{"rate": "half"}`, "rate: string where a number is expected (line 1)"},
		{"string for list", `{"vips": "x"}`, "vips: string where a list of strings is expected (line 1)"},
		{"array for object", `{"backends": [[]]}`, "backends[0]: array where an object is expected (line 1)"},
		{"fraction for integer", `{"backends": [{"id": 1.5}]}`, "backends[0].id: number 1.5 where an integer from -9223372036854775808 to 9223372036854775807 is expected (line 1)"},
		{"out of range", `{"backends": [{"port": 70000}]}`, "backends[0].port: number 70000 where an integer from 0 to 65535 is expected (line 1)"},
		{"boolean for string", `{"name": true}`, "name: boolean where a string is expected (line 1)"},
		{"syntax", "{\n\"vips\": [1,,]}", "vips[1]: invalid character ',' at start of value (line 2)"},
		{"unterminated", `{"name": "a"`, "line 1: unexpected end of input"},
		{"numeric key", `{"1": 2}`, `["1"]: unknown field (line 1)`},
		{"invalid utf-8", "{\"name\": \"\xff\"}", "name: invalid UTF-8 (line 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c config
			err := Unmarshal([]byte(tc.in), &c)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want an *Error", err, err)
			}
			if got := err.Error(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("error %q, want it to begin %q", got, tc.want)
			}
			for _, goName := range []string{"float64", "int64", "uint16", "strictjson", "struct", "Go ", "jsontext"} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("error %q names Go's %q", err, goName)
				}
			}
		})
	}
}

func ExampleUnmarshal() {
	var cfg struct {
		Backends []struct {
			ID int `json:"id"`
		} `json:"backends"`
	}
	err := Unmarshal([]byte("{\"backends\": [\n  {\"id\": 1},\n  {\"Id\": 2}\n]}"), &cfg)
	fmt.Println(err)
	// Output: backends[1].Id: unknown field (line 3)
}
