package main

import (
	"io"
	"testing"
	"time"

	"github.com/titanlb/titanlb/balancer"
)

type ringDP struct{ fakeDP }

func (r *ringDP) SetBackends(bs []balancer.Backend) error {
	_, err := balancer.NewRing(bs, 65537)
	return err
}

func BenchmarkZZGather(b *testing.B) {
	a := NewAgent(manyBackends(4096, time.Second, time.Second), &fakeDP{}, AgentOptions{})
	reg := a.Registry()
	for b.Loop() {
		reg.Gather()
	}
}

func BenchmarkZZRing(b *testing.B) {
	cfg := manyBackends(4096, time.Second, time.Second)
	bs := make([]balancer.Backend, len(cfg.Backends))
	for i, c := range cfg.Backends {
		bs[i] = balancer.Backend{ID: c.ID, Name: c.Name, Addr: c.Addr, Weight: 1, Up: true}
	}
	for b.Loop() {
		balancer.NewRing(bs, 65537)
	}
}

func BenchmarkZZParse(b *testing.B) {
	s := soakConfig(time.Second, 500*time.Millisecond, func(int) bool { return true })
	for b.Loop() {
		if _, err := ParseConfig(stringsReader(s)); err != nil {
			b.Fatal(err)
		}
	}
}

func stringsReader(s string) *stringsR { return &stringsR{s: s} }

type stringsR struct {
	s string
	i int
}

func (r *stringsR) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}
