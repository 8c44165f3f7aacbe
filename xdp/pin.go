package xdp

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/titanlb/titanlb/balancer"
)

// Errors of pinning and adoption.
var (
	// ErrNotPinned is wrapped by [Adopt] when nothing is pinned in the
	// directory (it also matches [fs.ErrNotExist]).
	ErrNotPinned = errors.New("no pinned datapath")
	// ErrPinMismatch is wrapped by [Adopt] when the pinned datapath cannot
	// serve the options: maps of other sizes or layouts (another
	// ConnTableSize, another version of the program), other VIPs, or a
	// pinned link that is no XDP link.
	ErrPinMismatch = errors.New("pinned datapath does not match the options")
	// ErrNotBPFFS is wrapped when a pin directory is not on a BPF file
	// system.
	ErrNotBPFFS = errors.New("not on a BPF file system (mount -t bpf bpf DIR)")
)

// pinLink is the name of the link's pin in a pin directory; every map is
// pinned under its own name (conns, frags, ring, backends, ...), the
// globals' map (".data") as "data": bpffs refuses names with dots.
const pinLink = "link"

// pinName is the file a map named name is pinned as.
func pinName(name string) string { return strings.TrimPrefix(name, ".") }

// Pinned is a Titan program attached to an interface with its link and
// maps pinned in a directory of a BPF file system (bpffs): when the
// process that holds it exits, even by SIGKILL, the program stays attached
// and its tables (connections, fragments, hints, counters, the ring, the
// backends) keep every entry. [Adopt] takes it back in a new process;
// [Pinned.Unpin] detaches it and removes the pins.
//
// Its [Program] methods work as for a program [Load] returns; its Close
// releases this process's hold only.
type Pinned struct {
	*Program
	dir     string
	link    link.Link
	ifindex int
}

// AttachPinned attaches p to the interface ifindex in mode (see
// [Program.Attach]) and pins the link and every map in dir, which must not
// exist, on a BPF file system. The pins appear at once: they are made in a
// temporary directory beside dir and renamed to dir. On success p belongs
// to the returned Pinned (close that, not p); on failure nothing stays
// attached or pinned, and p is still the caller's.
func (p *Program) AttachPinned(ifindex int, dir string, mode ...AttachMode) (*Pinned, error) {
	if p.closed {
		return nil, fmt.Errorf("xdp: attach pinned: %w", ErrClosed)
	}
	if err := onBPFFS(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("xdp: pin dir %s: %w (adopt it, or unpin it first)", dir, fs.ErrExist)
	}
	c, err := attach("titan", p.prog, ifindex, mode)
	if err != nil {
		return nil, err
	}
	l, ok := c.(link.Link)
	if !ok { // link.AttachXDP returns a link.Link: cannot happen
		c.Close()
		return nil, fmt.Errorf("xdp: attach pinned: %T is no link", c)
	}
	// bpffs refuses names with dots; the suffix makes the name longer
	// than any interface's (15 characters).
	tmp := dir + "_pinning_" + strconv.Itoa(os.Getpid())
	err = pinAll(tmp, p.objs.replacements(), l)
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp) // unlinking a pin unpins it
		l.Close()         // the last reference: detaches
		return nil, fmt.Errorf("xdp: pin in %s: %w", dir, err)
	}
	return &Pinned{Program: p, dir: dir, link: l, ifindex: ifindex}, nil
}

// pinAll pins maps and l in the new directory dir.
func pinAll(dir string, maps map[string]*ebpf.Map, l link.Link) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	for name, m := range maps {
		if err := m.Pin(filepath.Join(dir, pinName(name))); err != nil {
			return fmt.Errorf("map %s: %w", name, err)
		}
	}
	return l.Pin(filepath.Join(dir, pinLink))
}

// onBPFFS reports whether dir is on a BPF file system.
func onBPFFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("xdp: pin dir %s: %w", dir, err)
	}
	if uint32(st.Type) != unix.BPF_FS_MAGIC {
		return fmt.Errorf("xdp: pin dir %s: %w", dir, ErrNotBPFFS)
	}
	return nil
}

// Adopt takes back the datapath pinned in dir by [Program.AttachPinned]
// in another process. It loads the program again with opts on the pinned
// maps, whose entries are kept (connections, fragments, hints, counters,
// the ring, the backends), and swaps it into the pinned link in one step,
// so that no packet meets the interface without a program. The maps must
// match opts (same sizes and layouts) and hold opts.VIPs, else the error
// wraps [ErrPinMismatch] and nothing changes; the datapath then runs on as
// it was. The backend set is the pinned one until the next
// [Program.SetBackends]: [Pinned.Backends] reads it.
func Adopt(dir string, opts Options) (*Pinned, error) {
	if _, err := os.Stat(filepath.Join(dir, pinLink)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("xdp: adopt %s: %w: %w", dir, ErrNotPinned, err)
		}
		return nil, fmt.Errorf("xdp: adopt: %w", err)
	}
	if err := onBPFFS(dir); err != nil {
		return nil, err
	}
	o, spec, hz, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	l, err := link.LoadPinnedLink(filepath.Join(dir, pinLink), nil)
	if err != nil {
		return nil, fmt.Errorf("xdp: adopt %s: link: %w", dir, err)
	}
	pp, err := adopt(dir, o, spec, hz, l)
	if err != nil {
		l.Close() // the pin keeps the link: nothing changes
		return nil, err
	}
	return pp, nil
}

// adopt is Adopt once the link is loaded; on error the caller closes l.
func adopt(dir string, o Options, spec *ebpf.CollectionSpec, hz float64, l link.Link) (*Pinned, error) {
	info, err := l.Info()
	if err != nil {
		return nil, fmt.Errorf("xdp: adopt %s: link info: %w", dir, err)
	}
	xi := info.XDP()
	if xi == nil {
		return nil, fmt.Errorf("xdp: adopt %s: link of type %v: %w", dir, info.Type, ErrPinMismatch)
	}
	repl := map[string]*ebpf.Map{}
	defer func() {
		for _, m := range repl {
			m.Close() // the load cloned them
		}
	}()
	for name := range (&datapathObjects{}).replacements() {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinName(name)), nil)
		if err != nil {
			return nil, fmt.Errorf("xdp: adopt %s: map %s: %w: %w", dir, name, ErrPinMismatch, err)
		}
		repl[name] = m
	}
	p := &Program{opts: o, ids: map[netip.Addr]balancer.BackendID{}, hz: hz}
	if p.objs, p.prog, err = loadDatapath(spec, o, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("xdp: adopt %s: %w: %w", dir, ErrPinMismatch, err)
		}
		return nil, err
	}
	if err := p.readPinned(); err != nil {
		p.close()
		return nil, fmt.Errorf("xdp: adopt %s: %w", dir, err)
	}
	if err := l.Update(p.prog); err != nil {
		p.close()
		return nil, fmt.Errorf("xdp: adopt %s: swap the program into the link: %w", dir, err)
	}
	return &Pinned{Program: p, dir: dir, link: l, ifindex: int(xi.Ifindex)}, nil
}

// readPinned checks the pinned VIPs against the options and reads the
// backends array back, as SetBackends would have left it.
func (p *Program) readPinned() error {
	var got []uint32
	var k, v uint32
	it := p.objs.Vips.Iterate()
	for it.Next(&k, &v) {
		got = append(got, k)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read vips: %w", err)
	}
	want := make([]uint32, len(p.opts.VIPs))
	for i, a := range p.opts.VIPs {
		want[i] = be32(a)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		have := make([]netip.Addr, len(got))
		for i, a := range got {
			have[i] = addrOf(a)
		}
		return fmt.Errorf("options.VIPs %v: %w (pinned: %v)", p.opts.VIPs, ErrPinMismatch, have)
	}
	arr := make([]titanBackend, p.opts.MaxBackends)
	for i := range arr {
		if err := p.objs.Backends.Lookup(uint32(i), &arr[i]); err != nil {
			return fmt.Errorf("read backends[%d]: %w", i, err)
		}
		if a := backendAddr(arr[i]); a.IsValid() {
			p.ids[a] = balancer.BackendID(i)
		}
	}
	p.arr = arr
	return p.readServices()
}

// readServices reads back which ring and membership half the pinned set
// uses, and the services map's keys, as install left them.
func (p *Program) readServices() error {
	var fam [2]uint64
	if err := p.objs.SvcFamily.Get(&fam); err != nil {
		return fmt.Errorf("read svc_family: %w", err)
	}
	var k titanSvcKey
	var v titanSvc
	it := p.objs.Services.Iterate()
	for it.Next(&k, &v) {
		p.keys = append(p.keys, k)
		p.half = int(v.RingOff) / p.opts.MaxRingSlots
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read services: %w", err)
	}
	for _, d := range fam {
		if d != 0 && d != svcLookup {
			p.half = int(d&(1<<svcOffBits-1)) / p.opts.MaxRingSlots
		}
	}
	p.half = min(max(p.half, 0), 1)
	return nil
}

// addrOf is the inverse of be32.
func addrOf(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
}

// Dir returns the pin directory.
func (pp *Pinned) Dir() string { return pp.dir }

// Ifindex returns the index of the interface the program is attached to.
func (pp *Pinned) Ifindex() int { return pp.ifindex }

// Backends returns the backend set the datapath holds, by ID, as its
// backends array says: every backend with an address, Up when it is
// usable. The kernel keeps neither names nor weights (a backend of weight
// 0 is usable but owns no slot), and a backend removed by the last
// [Program.SetBackends] keeps its address, not usable.
func (pp *Pinned) Backends() []balancer.Backend {
	var out []balancer.Backend
	for i, e := range pp.arr {
		if a := backendAddr(e); a.IsValid() {
			out = append(out, balancer.Backend{ID: balancer.BackendID(i), Addr: a, Up: e.Flags&backendUsable != 0})
		}
	}
	return out
}

// Close releases this process's hold on the program, its maps and its
// link. The program stays attached and the pins stay: [Adopt] takes them
// back. It is safe to call more than once.
func (pp *Pinned) Close() error {
	if pp.Program.closed {
		return nil
	}
	return errors.Join(pp.link.Close(), pp.Program.Close())
}

// Unpin detaches the program from its interface, removes the pins and the
// directory, and closes pp.
func (pp *Pinned) Unpin() error {
	err := pp.link.Detach()
	if errors.Is(err, ebpf.ErrNotSupported) {
		err = nil // closing the last reference below detaches it
	}
	err = errors.Join(err, os.RemoveAll(pp.dir))
	return errors.Join(err, pp.Close())
}

// UnpinDir detaches the program pinned in dir and removes the pins and
// the directory, whether or not a process holds it (a running agent is
// left with a detached program). Nothing pinned is no error.
func UnpinDir(dir string) error {
	l, err := link.LoadPinnedLink(filepath.Join(dir, pinLink), nil)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("xdp: unpin %s: link: %w", dir, err)
	default:
		derr := l.Detach()
		l.Close()
		if derr != nil && !errors.Is(derr, ebpf.ErrNotSupported) {
			return fmt.Errorf("xdp: unpin %s: detach: %w", dir, derr)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("xdp: unpin %s: %w", dir, err)
	}
	return nil
}
