package xdp

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// percpuReader reads the per-CPU stats element with a raw
// BPF_MAP_LOOKUP_ELEM into buffers it owns, so that reading the counters
// after every packet ([Balancer.Process] with a meter) does not allocate;
// ebpf.Map.Lookup allocates for per-CPU values.
type percpuReader struct {
	m    *ebpf.Map
	key  uint32
	vals []titanCounters // one per possible CPU, 8-byte aligned as the kernel writes them
}

func newPercpuReader(m *ebpf.Map) (*percpuReader, error) {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	if size := unsafe.Sizeof(titanCounters{}); size%8 != 0 || uint32(size) != m.ValueSize() {
		return nil, fmt.Errorf("xdp: stats value size %d, Go %d", m.ValueSize(), size)
	}
	return &percpuReader{m: m, vals: make([]titanCounters, n)}, nil
}

// mapLookupAttr is union bpf_attr for BPF_MAP_LOOKUP_ELEM.
type mapLookupAttr struct {
	fd    uint32
	_     uint32
	key   uint64
	value uint64
	flags uint64
}

// read fills r.vals and returns their ops and drop counters summed.
func (r *percpuReader) read() (Stats, error) {
	attr := mapLookupAttr{
		fd:    uint32(r.m.FD()),
		key:   uint64(uintptr(unsafe.Pointer(&r.key))),
		value: uint64(uintptr(unsafe.Pointer(&r.vals[0]))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_LOOKUP_ELEM, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(r)
	if errno != 0 {
		return Stats{}, fmt.Errorf("xdp: read stats: %w", errno)
	}
	var s Stats
	for i := range r.vals {
		c := &r.vals[i]
		s.DropTruncated += c.DropTruncated
		s.DropBadVersion += c.DropBadVersion
		s.DropBadIHL += c.DropBadIhl
		s.DropBadLength += c.DropBadLength
		s.DropFragOverrun += c.DropFragOverrun
		s.DropEmptyFrag += c.DropEmptyFrag
		s.DropL4Truncated += c.DropL4Truncated
		s.DropNoBackend += c.DropNoBackend
		s.DropFragConflict += c.DropFragConflict
		s.DropFragment += c.DropFragment
		s.DropEncap += c.DropEncap
		s.DropUnknownOrphan += c.DropUnknownOrphan
		s.OpHash += c.OpHash
		s.OpMapRead += c.OpMapRead
		s.OpMapWrite += c.OpMapWrite
		s.OpEncap += c.OpEncap
		s.OpArrayRead += c.OpArrayRead
		s.OpStore += c.OpStore
		s.OpRingRead += c.OpRingRead
	}
	return s, nil
}
