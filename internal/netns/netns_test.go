package netns

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/titanlb/titanlb/internal/testutil"
)

func requireNetns(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	Require(t)
}

func hasInterface(name string) (bool, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return false, err
	}
	for _, i := range ifs {
		if i.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// TestVethUDP builds two namespaces joined by a veth pair and sends a UDP
// datagram across, with sockets opened inside each namespace by Do.
func TestVethUDP(t *testing.T) {
	requireNetns(t)
	tok := Token()
	var paths []string
	t.Run("topology", func(t *testing.T) {
		a, err := New(t, "tlbtest-a-"+tok)
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(t, "tlbtest-b-"+tok)
		if err != nil {
			t.Fatal(err)
		}
		paths = []string{a.Path(), b.Path()}
		ifA, ifB := "va"+tok[:6], "vb"+tok[:6]
		if err := Veth(a, ifA, b, ifB, 9000); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			ns   *NS
			ifc  string
			addr string
		}{{a, ifA, "10.250.0.1/30"}, {b, ifB, "10.250.0.2/30"}} {
			if err := c.ns.IP("addr", "add", c.addr, "dev", c.ifc); err != nil {
				t.Fatal(err)
			}
		}
		// The veth ends exist inside, not in the caller's namespace.
		if ok, err := hasInterface(ifA); err != nil || ok {
			t.Fatalf("%s visible outside its namespace (err %v)", ifA, err)
		}
		err = a.Do(func() error {
			ok, err := hasInterface(ifA)
			if err == nil && !ok {
				t.Errorf("%s missing inside namespace %s", ifA, a.Name())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := a.Exec("cat", "/sys/class/net/"+ifA+"/mtu"); err != nil || string(bytes.TrimSpace(out)) != "9000" {
			t.Fatalf("mtu of %s: %q, %v", ifA, out, err)
		}

		var conn *net.UDPConn
		err = b.Do(func() error {
			var err error
			conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.250.0.2:7777")))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		msg := []byte("across the veth")
		err = a.Do(func() error {
			c, err := net.Dial("udp4", "10.250.0.2:7777")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(msg)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], msg) || from.IP.String() != "10.250.0.1" {
			t.Fatalf("got %q from %v", buf[:n], from)
		}
	})
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after cleanup (stat err %v)", p, err)
		}
	}
	if len(paths) != 2 {
		t.Fatalf("topology created %d namespaces", len(paths))
	}
}

func TestDoUnknownNamespace(t *testing.T) {
	requireNetns(t)
	n := &NS{name: "tlbtest-missing-" + Token()}
	called := false
	err := n.Do(func() error { called = true; return nil })
	if err == nil || called {
		t.Fatalf("Do in a missing namespace: err %v, fn called %v", err, called)
	}
}
