package xdp

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/balancer/titan"
	"github.com/titanlb/titanlb/internal/netns"
	"github.com/titanlb/titanlb/internal/testutil"
)

// pinNS is a namespace with one veth end, lb0, to attach to.
func pinNS(t *testing.T) (*netns.NS, int) {
	t.Helper()
	netns.Require(t)
	tok := netns.Token()
	a, err := netns.New(t, "tlbpa"+tok)
	if err != nil {
		t.Fatal(err)
	}
	b, err := netns.New(t, "tlbpb"+tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Veth(a, "lb0", b, "peer0", 1500); err != nil {
		t.Fatal(err)
	}
	var idx int
	if err := a.Do(func() error {
		ifc, err := net.InterfaceByName("lb0")
		idx = ifc.Index
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return a, idx
}

// attachedProgram is the name of the XDP program on lb0, or "".
func attachedProgram(t *testing.T, ns *netns.NS) string {
	t.Helper()
	out, err := ns.Exec("ip", "-d", "link", "show", "lb0")
	if err != nil {
		t.Fatal(err)
	}
	if _, after, ok := strings.Cut(string(out), "name "); ok && strings.Contains(string(out), "xdp") {
		name, _, _ := strings.Cut(after, " ")
		return name
	}
	return ""
}

func pinOptions() Options {
	return Options{Config: titan.Config{VIPs: []netip.Addr{testVIP}, ConnTableSize: 4096, FragTableSize: 1024}, MaxBackends: 256}
}

func attachPinned(t *testing.T, ns *netns.NS, idx int, dir string, opts Options) *Pinned {
	t.Helper()
	p := mustLoad(t, opts)
	var pp *Pinned
	if err := ns.Do(func() error {
		var err error
		pp, err = p.AttachPinned(idx, dir, AttachGeneric)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return pp
}

func mustForward(t *testing.T, p *Program, frame []byte) balancer.BackendID {
	t.Helper()
	res, err := p.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != balancer.Forward {
		t.Fatalf("action %v, want forward", res.Action)
	}
	return res.Backend
}

// TestPinnedSurvivesAndIsAdopted: a pinned program keeps running after its
// process lets go (here: Close, as a SIGKILL would), and Adopt takes it back
// with every connection and fragment entry, the counters and the backend
// set. The flows are then checked against a ring that would send some of
// them elsewhere, so that a lost connection entry would show.
func TestPinnedSurvivesAndIsAdopted(t *testing.T) {
	root := testutil.BPFFS(t)
	ns, idx := pinNS(t)
	dir := filepath.Join(root, "lb0")
	opts := pinOptions()
	pp := attachPinned(t, ns, idx, dir, opts)
	bs := testutil.Backends(3)
	if err := pp.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	const flows = 64
	before := map[uint16]balancer.BackendID{}
	for sport := uint16(40000); sport < 40000+flows; sport++ {
		before[sport] = mustForward(t, pp.Program, balancer.Encode(tcpPacket(sport), 0))
	}
	// The first fragment of a datagram whose second comes after adoption.
	first := balancer.Packet{Src: testClient, Dst: testVIP, Proto: balancer.ProtoUDP, SrcPort: 5353, DstPort: 53, IPID: 77, MoreFragments: true}
	second := balancer.Packet{Src: testClient, Dst: testVIP, Proto: balancer.ProtoUDP, IPID: 77, FragOffset: 25}
	fragTo := mustForward(t, pp.Program, balancer.Encode(first, 200))
	st0, err := pp.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if err := pp.Close(); err != nil {
		t.Fatal(err)
	}
	if got := attachedProgram(t, ns); got != "xdp_titan" {
		t.Fatalf("after the process let go, lb0 runs %q, want xdp_titan", got)
	}

	ad, err := Adopt(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ad.Unpin() })
	if ad.Ifindex() != idx {
		t.Errorf("adopted link on ifindex %d, want %d", ad.Ifindex(), idx)
	}
	got := ad.Backends()
	if len(got) != len(bs) {
		t.Fatalf("adopted backends %v, want %v", got, bs)
	}
	for i, b := range got {
		if b.ID != bs[i].ID || b.Addr != bs[i].Addr || !b.Up {
			t.Errorf("adopted backend %+v, want ID %d at %v, up", b, bs[i].ID, bs[i].Addr)
		}
	}
	// A fourth backend: the ring now sends some of the flows elsewhere;
	// their connection entries keep them where they were.
	more := testutil.Backends(4)
	fresh := mustLoad(t, opts)
	if err := fresh.SetBackends(more); err != nil {
		t.Fatal(err)
	}
	if err := ad.SetBackends(more); err != nil {
		t.Fatal(err)
	}
	wouldMove := 0
	for sport, was := range before {
		frame := balancer.Encode(tcpPacket(sport), 0)
		if now := mustForward(t, ad.Program, frame); now != was {
			t.Errorf("flow %d moved from %d to %d across the adoption", sport, was, now)
		}
		if mustForward(t, fresh, frame) != was {
			wouldMove++
		}
	}
	if wouldMove == 0 {
		t.Fatalf("no flow of %d would move without its entry: the test proves nothing", flows)
	}
	if to := mustForward(t, ad.Program, balancer.Encode(second, 100)); to != fragTo {
		t.Errorf("the second fragment went to %d, the first to %d", to, fragTo)
	}
	st1, err := ad.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st1.Forwarded != st0.Forwarded+flows+1 || st1.ConnHits < st0.ConnHits+flows || st1.FragHits != st0.FragHits+1 || st1.Orphans != st0.Orphans {
		t.Errorf("counters across the adoption: before %+v, after %+v", st0, st1)
	}
	t.Logf("%d of %d flows would have moved without their connection entries; none did", wouldMove, flows)
	if got := attachedProgram(t, ns); got != "xdp_titan" {
		t.Errorf("after adoption lb0 runs %q", got)
	}
}

// TestAdoptMismatch: a pinned datapath that cannot serve the options is
// refused and keeps running untouched.
func TestAdoptMismatch(t *testing.T) {
	root := testutil.BPFFS(t)
	ns, idx := pinNS(t)
	dir := filepath.Join(root, "lb0")
	opts := pinOptions()
	pp := attachPinned(t, ns, idx, dir, opts)
	if err := pp.SetBackends(testutil.Backends(3)); err != nil {
		t.Fatal(err)
	}
	pp.Close()
	bigger := opts
	bigger.ConnTableSize *= 2
	otherVIP := opts
	otherVIP.VIPs = []netip.Addr{netip.MustParseAddr("192.0.2.99")}
	for name, o := range map[string]Options{"conn table size": bigger, "VIPs": otherVIP} {
		if _, err := Adopt(dir, o); !errors.Is(err, ErrPinMismatch) {
			t.Errorf("%s: %v, want %v", name, err, ErrPinMismatch)
		}
	}
	ad, err := Adopt(dir, opts)
	if err != nil {
		t.Fatalf("the matching options after refusals: %v", err)
	}
	defer ad.Unpin()
	if len(ad.Backends()) != 3 {
		t.Errorf("backends %v after refused adoptions", ad.Backends())
	}
}

func TestAdoptNothingPinned(t *testing.T) {
	root := testutil.BPFFS(t)
	_, err := Adopt(filepath.Join(root, "none"), pinOptions())
	if !errors.Is(err, ErrNotPinned) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Adopt of nothing: %v, want %v", err, ErrNotPinned)
	}
	if err := UnpinDir(filepath.Join(root, "none")); err != nil {
		t.Errorf("UnpinDir of nothing: %v", err)
	}
}

// TestUnpin: Unpin, and UnpinDir while another holder is alive, detach the
// program and remove the pins.
func TestUnpin(t *testing.T) {
	root := testutil.BPFFS(t)
	ns, idx := pinNS(t)
	dir := filepath.Join(root, "lb0")
	pp := attachPinned(t, ns, idx, dir, pinOptions())
	if err := pp.Unpin(); err != nil {
		t.Fatal(err)
	}
	if got := attachedProgram(t, ns); got != "" {
		t.Errorf("after Unpin lb0 runs %q", got)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pin dir after Unpin: %v", err)
	}

	held := attachPinned(t, ns, idx, dir, pinOptions()) // a running agent
	defer held.Close()
	if err := UnpinDir(dir); err != nil {
		t.Fatal(err)
	}
	if got := attachedProgram(t, ns); got != "" {
		t.Errorf("after UnpinDir lb0 runs %q although a holder is alive", got)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pin dir after UnpinDir: %v", err)
	}
}

// TestAttachPinnedRefuses: a directory that is not on bpffs, or that is
// already pinned, is refused before anything stays attached.
func TestAttachPinnedRefuses(t *testing.T) {
	root := testutil.BPFFS(t)
	ns, idx := pinNS(t)
	p := mustLoad(t, pinOptions())
	taken := filepath.Join(root, "lb0")
	if err := os.Mkdir(taken, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		dir string
		is  error
	}{
		"not bpffs": {filepath.Join(t.TempDir(), "lb0"), ErrNotBPFFS},
		"exists":    {taken, fs.ErrExist},
	} {
		err := ns.Do(func() error {
			_, err := p.AttachPinned(idx, tc.dir, AttachGeneric)
			return err
		})
		if !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want %v", name, err, tc.is)
		}
		if got := attachedProgram(t, ns); got != "" {
			t.Errorf("%s: lb0 runs %q after the refusal", name, got)
		}
	}
}
