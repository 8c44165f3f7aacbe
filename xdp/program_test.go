package xdp

import (
	"testing"

	"github.com/titanlb/titanlb/balancer"
)

func TestLoadRun(t *testing.T) {
	p := mustLoad(t, Options{})
	pkt := balancer.Encode(tcpPacket(1000), 100)
	res, err := p.Run(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != balancer.Drop {
		t.Errorf("without backends: action %v, want drop", res.Action)
	}
	if err := p.SetBackends(testBackends(3)); err != nil {
		t.Fatal(err)
	}
	res, err = p.Run(pkt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v %v %d", res.Action, res.Backend, len(res.Out))
}
