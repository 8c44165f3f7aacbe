package xdp

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/internal/testutil"
)

// reasonCounter returns the counter a frame that balancer.Decode rejects
// with de moves in the kernel: one per DecodeError field and reason, the
// TCP/UDP truncations counted apart for each family.
func reasonCounter(frame []byte, de *balancer.DecodeError) func(Stats) uint64 {
	v6 := len(frame) >= balancer.EthLen && frame[12] == 0x86 && frame[13] == 0xdd
	switch {
	case de.Field == "ethernet.type":
		return func(s Stats) uint64 { return s.PassNotIPv4 }
	case de.Field == "ethernet", de.Field == "ipv4":
		return func(s Stats) uint64 { return s.DropTruncated }
	case de.Field == "ipv4.version":
		return func(s Stats) uint64 { return s.DropBadVersion }
	case de.Field == "ipv4.ihl":
		return func(s Stats) uint64 { return s.DropBadIHL }
	case de.Field == "ipv4.total_length":
		return func(s Stats) uint64 { return s.DropBadLength }
	case de.Field == "ipv4.fragment":
		return func(s Stats) uint64 { return s.DropEmptyFrag }
	case de.Field == "ipv4.fragment_offset":
		return func(s Stats) uint64 { return s.DropFragOverrun }
	case (de.Field == "tcp" || de.Field == "udp") && !v6:
		return func(s Stats) uint64 { return s.DropL4Truncated }
	case de.Field == "tcp" || de.Field == "udp":
		return func(s Stats) uint64 { return s.Drop6L4Truncated }
	case de.Field == "ipv6":
		return func(s Stats) uint64 { return s.Drop6Truncated }
	case de.Field == "ipv6.version":
		return func(s Stats) uint64 { return s.Drop6Version }
	case de.Field == "ipv6.payload_length" && errors.Is(de, balancer.ErrJumbogram):
		return func(s Stats) uint64 { return s.Drop6Jumbogram }
	case de.Field == "ipv6.payload_length":
		return func(s Stats) uint64 { return s.Drop6PayloadLength }
	case de.Field == "ipv6.hop_by_hop":
		return func(s Stats) uint64 { return s.Drop6HopByHop }
	case de.Field == "ipv6.ext" && errors.Is(de, balancer.ErrExtChain):
		return func(s Stats) uint64 { return s.Drop6ExtChain }
	case de.Field == "ipv6.ext":
		return func(s Stats) uint64 { return s.Drop6ExtTruncated }
	case de.Field == "ipv6.fragment" && errors.Is(de, balancer.ErrNestedFragment):
		return func(s Stats) uint64 { return s.Drop6NestedFragment }
	case de.Field == "ipv6.fragment" && errors.Is(de, balancer.ErrIncompleteChain):
		return func(s Stats) uint64 { return s.Drop6IncompleteChain }
	case de.Field == "ipv6.fragment":
		return func(s Stats) uint64 { return s.Drop6EmptyFrag }
	case de.Field == "ipv6.fragment_offset":
		return func(s Stats) uint64 { return s.Drop6FragOverrun }
	}
	return nil
}

// checkVerdict runs frame through p and checks the kernel's verdict
// against balancer.Decode, the second implementation: Decode rejects the
// EtherType ⇔ the kernel passes it as not IP; Decode rejects anything
// else ⇔ the kernel drops it and moves the one malformed counter of that
// DecodeError's field and reason; Decode accepts ⇔ the kernel balances it
// (forward, a counted conflicting-first-fragment drop, or a pass to no
// service). It returns the Decode error's field, or "valid".
func checkVerdict(t *testing.T, p *Program, frame []byte) string {
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
	mal := after.Malformed() - before.Malformed()
	if derr == nil {
		conflict := after.DropFragConflict - before.DropFragConflict
		noService := after.PassNoService - before.PassNoService
		if !(res.Action == balancer.Forward || res.Action == balancer.Drop && conflict == 1 || res.Action == balancer.Pass && noService == 1) || mal != 0 {
			t.Fatalf("frame %x: Decode accepts, kernel %v (malformed counters +%d)", frame, res.Action, mal)
		}
		return "valid"
	}
	var de *balancer.DecodeError
	if !errors.As(derr, &de) {
		t.Fatalf("frame %x: Decode error %v is no DecodeError", frame, derr)
	}
	counter := reasonCounter(frame, de)
	if counter == nil {
		t.Fatalf("frame %x: no kernel counter for %v", frame, derr)
	}
	want := balancer.Drop
	if de.Field == "ethernet.type" {
		want, mal = balancer.Pass, 1 // passed: counted apart from the drops
	}
	if res.Action != want || mal != 1 || counter(after) != counter(before)+1 {
		t.Fatalf("frame %x: Decode says %v, kernel %v (malformed counters +%d, the reason's +%d)",
			frame, derr, res.Action, mal, counter(after)-counter(before))
	}
	return de.Field + ": " + de.Err.Error()
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

// corrupt6 returns a corrupted copy of an IPv6 frame: random bytes of the
// headers, the payload length, the first Next Header set to an extension
// header, an extension header's Next Header or length, a Fragment
// header's offset, the EtherType reset to IPv6, then maybe a truncation.
func corrupt6(rng *rand.Rand, frame []byte) []byte {
	f := append([]byte(nil), frame...)
	ext := []byte{balancer.ProtoHopByHop, balancer.ProtoRouting, balancer.ProtoFragment, balancer.ProtoDestOpts, balancer.ProtoAH}
	for range 1 + rng.IntN(3) {
		i := balancer.EthLen + balancer.IPv6Len + 8*rng.IntN(4) // an extension header's first byte
		switch rng.IntN(8) {
		case 0:
			j := rng.IntN(min(len(f), 110))
			f[j] = byte(rng.Uint32())
		case 1:
			binary.BigEndian.PutUint16(f[18:20], uint16(rng.IntN(len(f))))
		case 2:
			f[20] = ext[rng.IntN(len(ext))]
		case 3:
			if i < len(f) {
				f[i] = ext[rng.IntN(len(ext))]
			}
		case 4:
			if i+1 < len(f) {
				f[i+1] = byte(rng.IntN(4))
			}
		case 5:
			f[12], f[13] = 0x86, 0xdd
		case 6:
			f[14] = byte(rng.IntN(16))<<4 | f[14]&0x0f
		case 7: // a Fragment header's offset near its maximum
			if i+3 < len(f) {
				f[i+2], f[i+3] = 0xff, 0xf0|f[i+3]&0x0f
			}
		}
	}
	if rng.IntN(4) == 0 {
		f = f[:14+rng.IntN(len(f)-14+1)]
	}
	return f
}

// TestVerdictMatchesDecode compares the kernel's verdict on 20,000
// corrupted IPv4 frames (whole packets, first and non-first fragments of
// TCP, UDP and ICMP) and 40,000 corrupted IPv6 ones (the same kinds, with
// 0 to 3 extension headers, atomic fragments) with balancer.Decode's,
// down to the counter of each reason.
func TestVerdictMatchesDecode(t *testing.T) {
	p := mustLoad(t, Options{})
	bs := append(testutil.Backends(3), traceBackends6(2)...)
	if err := p.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var seeds, seeds6 [][]byte
	for _, proto := range []uint8{balancer.ProtoTCP, balancer.ProtoUDP, balancer.ProtoICMP} {
		pk := tcpPacket(1000)
		pk.Proto = proto
		seeds = append(seeds, balancer.Encode(pk, 64))
		pk.MoreFragments = true
		seeds = append(seeds, balancer.Encode(pk, 64))
		pk.FragOffset = 100
		seeds = append(seeds, balancer.Encode(pk, 64))
	}
	for _, proto := range []uint8{balancer.ProtoTCP, balancer.ProtoUDP, balancer.ProtoICMPv6} {
		for ext := range uint8(4) {
			pk := tcpPacket(1000)
			pk.Src, pk.Dst, pk.IPID, pk.Proto, pk.ExtHeaders = netip.MustParseAddr("2001:db8:200::7"), traceVIPs6[0], 0, proto, ext
			if ext > 0 {
				pk.FragID = 0x12345678 // an atomic fragment
			}
			seeds6 = append(seeds6, balancer.Encode(pk, 64))
			pk.ExtHeaders = max(ext, 1)
			pk.MoreFragments = true
			seeds6 = append(seeds6, balancer.Encode(pk, 64))
			pk.FragOffset = 100
			seeds6 = append(seeds6, balancer.Encode(pk, 64))
		}
	}
	kinds := map[string]int{}
	for i := range 20_000 {
		kinds[checkVerdict(t, p, corrupt(rng, seeds[i%len(seeds)]))]++
	}
	kinds6 := map[string]int{}
	for i := range 40_000 {
		kinds6[checkVerdict(t, p, corrupt6(rng, seeds6[i%len(seeds6)]))]++
	}
	t.Logf("IPv4 verdicts by Decode field and reason: %v", kinds)
	t.Logf("IPv6 verdicts by Decode field and reason: %v", kinds6)
	if len(kinds) < 8 {
		t.Errorf("IPv4 corruption reached only %d kinds of verdict: %v", len(kinds), kinds)
	}
	// Every IPv6 reason of decode6 is reached.
	for _, want := range []string{"valid", "ipv6: truncated", "ipv6.version: not ipv6", "ipv6.payload_length: " + balancer.ErrJumbogram.Error(),
		"ipv6.payload_length: " + balancer.ErrPayloadLength.Error(), "ipv6.hop_by_hop: " + balancer.ErrHopByHop.Error(),
		"ipv6.ext: " + balancer.ErrExtChain.Error(), "ipv6.fragment: " + balancer.ErrNestedFragment.Error(), "ipv6.ext: truncated",
		"ipv6.fragment: " + balancer.ErrIncompleteChain.Error(), "ipv6.fragment: " + balancer.ErrEmptyFrag.Error(),
		"ipv6.fragment_offset: " + balancer.ErrFragOverrun.Error(), "tcp: truncated", "udp: truncated"} {
		if kinds6[want] == 0 {
			t.Errorf("IPv6 corruption never reached %q: %v", want, kinds6)
		}
	}
}
