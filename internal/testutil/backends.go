package testutil

import (
	"net/netip"

	"github.com/titanlb/titanlb/balancer"
)

// Backends returns n backends with IDs 101.. at 10.1.0.1.., all up,
// weight 1: the backend set the balancers' and the kernel program's tests
// share.
func Backends(n int) []balancer.Backend {
	bs := make([]balancer.Backend, n)
	for i := range bs {
		id := balancer.BackendID(101 + i)
		bs[i] = balancer.Backend{ID: id, Name: id.String(), Addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(1 + i)}), Weight: 1, Up: true}
	}
	return bs
}
