package xdp

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

// malformedDelta is how many malformed-input counters moved from a to b.
func malformedDelta(a, b Stats) uint64 {
	return (b.DropTruncated - a.DropTruncated) + (b.DropBadVersion - a.DropBadVersion) +
		(b.DropBadIHL - a.DropBadIHL) + (b.DropBadLength - a.DropBadLength) +
		(b.DropFragOverrun - a.DropFragOverrun) + (b.DropEmptyFrag - a.DropEmptyFrag) +
		(b.DropL4Truncated - a.DropL4Truncated)
}

// checkVerdict runs frame through p and checks the kernel's verdict
// against balancer.Decode, the second implementation: Decode rejects the
// EtherType ⇔ the kernel passes it as not IPv4; Decode rejects anything
// else ⇔ the kernel counts it malformed and drops it; Decode accepts ⇔ the
// kernel balances it (forward, or a counted conflicting-first-fragment
// drop).
func checkVerdict(t *testing.T, p *Program, frame []byte) {
	t.Helper()
	before, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Run(frame)
	if err != nil {
		t.Fatalf("run %x: %v", frame, err)
	}
	after, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	_, derr := balancer.Decode(frame)
	var de *balancer.DecodeError
	errors.As(derr, &de)
	mal := malformedDelta(before, after)
	switch {
	case derr == nil:
		conflict := after.DropFragConflict - before.DropFragConflict
		if !(res.Action == balancer.Forward || res.Action == balancer.Drop && conflict == 1) || mal != 0 {
			t.Fatalf("frame %x: Decode accepts, kernel %v (malformed counters +%d)", frame, res.Action, mal)
		}
	case de != nil && de.Field == "ethernet.type":
		if res.Action != balancer.Pass || after.PassNotIPv4 != before.PassNotIPv4+1 {
			t.Fatalf("frame %x: Decode says %v, kernel %v", frame, derr, res.Action)
		}
	default:
		if res.Action != balancer.Drop || mal != 1 {
			t.Fatalf("frame %x: Decode says %v, kernel %v (malformed counters +%d)", frame, derr, res.Action, mal)
		}
	}
}

// corrupt returns a corrupted copy of frame: random header bytes, IHL,
// total length, fragment field, EtherType reset to IPv4, then maybe a
// truncation.
func corrupt(rng *rand.Rand, frame []byte) []byte {
	f := append([]byte(nil), frame...)
	for range 1 + rng.IntN(3) {
		switch rng.IntN(5) {
		case 0:
			i := rng.IntN(min(len(f), 60))
			f[i] = byte(rng.Uint32())
		case 1:
			f[14] = 0x40 | byte(rng.IntN(16))
		case 2:
			binary.BigEndian.PutUint16(f[16:18], uint16(rng.IntN(len(f)+40)))
		case 3:
			binary.BigEndian.PutUint16(f[20:22], uint16(rng.Uint32()))
		case 4:
			f[12], f[13] = 0x08, 0x00
		}
	}
	if rng.IntN(4) == 0 {
		f = f[:14+rng.IntN(len(f)-14+1)]
	}
	return f
}

// TestVerdictMatchesDecode compares the kernel's verdict on 20,000
// corrupted frames (whole packets, first and non-first fragments of TCP,
// UDP and ICMP) with balancer.Decode's.
func TestVerdictMatchesDecode(t *testing.T) {
	p := mustLoad(t, Options{})
	if err := p.SetBackends(testutil.Backends(3)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var seeds [][]byte
	for _, proto := range []uint8{balancer.ProtoTCP, balancer.ProtoUDP, balancer.ProtoICMP} {
		pk := tcpPacket(1000)
		pk.Proto = proto
		seeds = append(seeds, balancer.Encode(pk, 64))
		pk.MoreFragments = true
		seeds = append(seeds, balancer.Encode(pk, 64))
		pk.FragOffset = 100
		seeds = append(seeds, balancer.Encode(pk, 64))
	}
	kinds := map[string]int{}
	for i := range 20_000 {
		f := corrupt(rng, seeds[i%len(seeds)])
		_, err := balancer.Decode(f)
		var de *balancer.DecodeError
		if errors.As(err, &de) {
			kinds[de.Field]++
		} else {
			kinds["valid"]++
		}
		checkVerdict(t, p, f)
	}
	t.Logf("verdicts by Decode field: %v", kinds)
	if len(kinds) < 8 {
		t.Errorf("corruption reached only %d kinds of verdict: %v", len(kinds), kinds)
	}
}
