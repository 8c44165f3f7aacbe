package xdp

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/testutil"
)

// fuzzFrames splits a fuzz input into Ethernet frames: each is a length
// byte followed by that many bytes. Frames shorter than an Ethernet header
// are skipped: BPF_PROG_TEST_RUN refuses them.
func fuzzFrames(in []byte) [][]byte {
	var fs [][]byte
	for len(in) > 0 {
		n := int(in[0])
		in = in[1:]
		n = min(n, len(in))
		if n >= balancer.EthLen {
			fs = append(fs, in[:n])
		}
		in = in[n:]
	}
	return fs
}

// fuzzSeed joins frames into a fuzzFrames input.
func fuzzSeed(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	return b
}

// clearMap empties a table: zeroes every set of an ARRAY (the
// connection, fragment and hint tables), deletes every key of a hash map.
func clearMap(tb testing.TB, m *ebpf.Map) {
	tb.Helper()
	if m.Type() == ebpf.Array {
		// One batch of zero values of the map's value size.
		zero := reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(int(m.ValueSize()), reflect.TypeFor[byte]())), int(m.MaxEntries()), int(m.MaxEntries()))
		keys := make([]uint32, m.MaxEntries())
		for i := range keys {
			keys[i] = uint32(i)
		}
		if _, err := m.BatchUpdate(keys, zero.Interface(), nil); err != nil {
			tb.Fatalf("%v: zero: %v", m, err)
		}
		return
	}
	k := make([]byte, m.KeySize())
	for {
		if err := m.NextKey(nil, k); errors.Is(err, ebpf.ErrKeyNotExist) {
			return
		} else if err != nil {
			tb.Fatalf("%v: next key: %v", m, err)
		}
		if err := m.Delete(k); err != nil {
			tb.Fatalf("%v: delete: %v", m, err)
		}
	}
}

// FuzzDifferential runs the same random frames through the kernel program
// (BPF_PROG_TEST_RUN) and through balancer.Decode and the Go model
// (balancer/titan), both starting from empty tables for every input, and
// checks that they agree frame by frame: a frame Decode rejects is never
// forwarded by the kernel (passed when it is not IPv4, dropped otherwise);
// a frame Decode accepts gets the same action from both and, when
// forwarded, the same backend. The fuzzer mutates real frames (whole
// packets, first and non-first fragments, reordered datagrams) so that it
// explores the stateful paths, not only the parser.
func FuzzDifferential(f *testing.F) {
	opts := Options{Config: titan.Config{RingSize: 13, ConnTableSize: 4096, FragTableSize: 4096, HintTableSize: 4096, OrphanCredits: 3}}
	p := mustLoad(f, opts)
	bs := append(testutil.Backends(3), traceBackends6(2)...)
	if err := p.SetBackends(bs); err != nil {
		f.Fatal(err)
	}
	udp := func(sport, ipid uint16, off uint16, mf bool, payload int) []byte {
		pk := tcpPacket(sport)
		pk.Proto, pk.DstPort, pk.TCPFlags, pk.IPID = balancer.ProtoUDP, 53, 0, ipid
		pk.FragOffset, pk.MoreFragments = off, mf
		return balancer.Encode(pk, payload)
	}
	f.Add(fuzzSeed(balancer.Encode(tcpPacket(1000), 10), balancer.Encode(tcpPacket(1001), 0)))
	f.Add(fuzzSeed(udp(2000, 7, 0, true, 16), udp(0, 7, 3, true, 24), udp(0, 7, 6, false, 8)))
	f.Add(fuzzSeed(udp(0, 9, 6, false, 8), udp(2001, 9, 0, true, 16), udp(0, 9, 3, true, 24)))
	f.Add(fuzzSeed(udp(2002, 5, 0, true, 16), udp(2003, 5, 0, true, 16), udp(0, 5, 2, false, 8)))
	f.Add(fuzzSeed(func() []byte { b := balancer.Encode(tcpPacket(3), 4); b[14] = 0x46; return b }()))
	// Orphans of unknown hosts beyond the credit of 3: refused.
	orphan := func(src byte, ipid uint16) []byte {
		pk := tcpPacket(0)
		pk.Src = netip.AddrFrom4([4]byte{203, 0, 113, src})
		pk.Proto, pk.SrcPort, pk.DstPort, pk.TCPFlags, pk.IPID, pk.FragOffset = balancer.ProtoUDP, 0, 0, 0, ipid, 4
		return balancer.Encode(pk, 16)
	}
	f.Add(fuzzSeed(orphan(1, 1), orphan(2, 2), orphan(3, 3), orphan(4, 4), udp(2004, 6, 0, false, 8), orphan(5, 5)))
	// IPv6: a datagram in reverse order behind Destination Options, an
	// atomic fragment, a TCP packet.
	udp6 := func(sport uint16, id uint32, off uint16, mf bool, ext uint8, payload int) []byte {
		pk := tcpPacket(sport)
		pk.Src, pk.Dst, pk.IPID = netip.MustParseAddr("2001:db8:200::7"), traceVIPs6[0], 0
		pk.Proto, pk.DstPort, pk.TCPFlags, pk.FragID, pk.ExtHeaders = balancer.ProtoUDP, 53, 0, id, ext
		pk.FragOffset, pk.MoreFragments = off, mf
		if off != 0 {
			pk.SrcPort, pk.DstPort = 0, 0
		}
		return balancer.Encode(pk, payload)
	}
	f.Add(fuzzSeed(udp6(0, 70000, 6, false, 2, 8), udp6(0, 70000, 3, true, 2, 24), udp6(2100, 70000, 0, true, 2, 16)))
	f.Add(fuzzSeed(udp6(2101, 9, 0, false, 1, 16), udp6(2102, 0, 0, false, 0, 16)))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, m := range []*ebpf.Map{p.objs.Conns, p.objs.Frags, p.objs.Hints, p.objs.Conns6, p.objs.Frags6, p.objs.Hints6} {
			clearMap(t, m)
		}
		if err := p.objs.Credit.Put(uint32(0), int64(opts.OrphanCredits)); err != nil {
			t.Fatal(err)
		}
		g, err := titan.New(titan.Config{RingSize: opts.RingSize, ConnTableSize: opts.ConnTableSize, FragTableSize: opts.FragTableSize,
			HintTableSize: opts.HintTableSize, OrphanCredits: opts.OrphanCredits})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.SetBackends(bs); err != nil {
			t.Fatal(err)
		}
		for i, frame := range fuzzFrames(in) {
			res, err := p.Run(frame)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			pk, derr := balancer.Decode(frame)
			if derr != nil {
				var de *balancer.DecodeError
				wantPass := errors.As(derr, &de) && de.Field == "ethernet.type"
				if res.Action == balancer.Forward || (res.Action == balancer.Pass) != wantPass {
					t.Fatalf("frame %d %x: Decode says %v, kernel %v", i, frame, derr, res.Action)
				}
				continue
			}
			d := g.Process(&balancer.Env{}, &pk)
			if d.Action != res.Action || (d.Action == balancer.Forward && d.Backend != res.Backend) {
				t.Fatalf("frame %d %+v: Go %v %d, kernel %v %d", i, pk, d.Action, d.Backend, res.Action, res.Backend)
			}
		}
	})
}
