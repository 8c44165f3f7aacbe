package main

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// titanBackendIDs are the backends' ids in Titan's ring and backends map.
var titanBackendIDs = []uint32{101, 102, 103}

// titan is Titan's program (xdp/titan.c) under the same wrapper, with the
// C defaults of its configuration constants, which are the loader's
// defaults (xdp.Options{}); withVIP adds a VIP list of one VIP, so that
// Titan looks the destination up in a VIP table as Katran always does.
type titan struct {
	*wrapped
	label  string
	stats  *ebpf.Map
	fields map[string]uint32 // struct counters: byte offset of each u64 field
	size   int
	ncpu   int
}

func loadTitan(obj string, withVIP bool) (*titan, error) {
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		return nil, err
	}
	label := "titan"
	if withVIP {
		label = "titan-vip"
		v := spec.Variables["cfg_vip_count"]
		if v == nil {
			return nil, fmt.Errorf("%s: no cfg_vip_count", obj)
		}
		if err := v.Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("%s: cfg_vip_count: %w", obj, err)
		}
	}
	sm := spec.Maps["stats"]
	if sm == nil {
		return nil, fmt.Errorf("%s: no stats map", obj)
	}
	fields, err := u64Fields(sm.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: stats: %w", obj, err)
	}
	w, err := loadWrapped(spec, "xdp_titan")
	if err != nil {
		return nil, fmt.Errorf("titan: %w", err)
	}
	t := &titan{wrapped: w, label: label, stats: w.coll.Maps["stats"], fields: fields, size: int(sm.ValueSize)}
	fail := func(format string, args ...any) (*titan, error) {
		t.close()
		return nil, fmt.Errorf("titan: "+format, args...)
	}
	if t.ncpu, err = ebpf.PossibleCPU(); err != nil {
		return fail("%w", err)
	}
	// What the loader does at load (xdp.Program.init and SetBackends):
	// the orphan credit, the backends, the ring, the VIPs.
	if err := w.coll.Maps["credit"].Put(uint32(0), int64(1024)); err != nil {
		return fail("credit: %w", err)
	}
	// struct backend: the IPv4 address, the flags (BACKEND_USABLE), then
	// (since services) the membership bits: bit 0, the index of the
	// IPv4 catch-all the C defaults of svc_family name.
	for i, b := range backends {
		a := b.As4()
		v := make([]byte, w.coll.Maps["backends"].ValueSize())
		binary.LittleEndian.PutUint32(v[0:], binary.LittleEndian.Uint32(a[:]))
		binary.LittleEndian.PutUint32(v[4:], 1)
		if len(v) > 8 {
			v[8] = 1
		}
		if err := w.coll.Maps["backends"].Put(titanBackendIDs[i], v); err != nil {
			return fail("backends: %w", err)
		}
	}
	keys := make([]uint32, ringSize)
	vals := make([]uint32, ringSize)
	for s := range keys {
		keys[s], vals[s] = uint32(s), titanBackendIDs[s%len(titanBackendIDs)]
	}
	if _, err := w.coll.Maps["ring"].BatchUpdate(keys, vals, nil); err != nil {
		return fail("ring: %w", err)
	}
	if withVIP {
		a := vip.As4()
		if err := w.coll.Maps["vips"].Put(binary.LittleEndian.Uint32(a[:]), uint32(1)); err != nil {
			return fail("vips: %w", err)
		}
	}
	return t, nil
}

// u64Fields returns the byte offset of each field of a struct of u64s.
func u64Fields(t btf.Type) (map[string]uint32, error) {
	st, ok := btf.UnderlyingType(t).(*btf.Struct)
	if !ok {
		return nil, fmt.Errorf("value type %v is not a struct", t)
	}
	f := map[string]uint32{}
	for _, m := range st.Members {
		f[m.Name] = m.Offset.Bytes()
	}
	for _, need := range []string{"packets", "forwarded", "conn_hits", "conn_misses", "frag_hits", "frag_misses"} {
		if _, ok := f[need]; !ok {
			return nil, fmt.Errorf("struct counters has no field %s", need)
		}
	}
	return f, nil
}

func (t *titan) name() string { return t.label }
func (t *titan) w() *wrapped  { return t.wrapped }
func (t *titan) close()       { t.coll.Close() }

func (t *titan) prepare(p path) (counts, error) {
	if err := t.prime(p); err != nil {
		return nil, err
	}
	return t.counters()
}

// counters returns every field of Titan's struct counters, summed over
// the CPUs.
func (t *titan) counters() (counts, error) {
	per := make([][]byte, t.ncpu)
	for i := range per {
		per[i] = make([]byte, t.size)
	}
	if err := t.stats.Lookup(uint32(0), per); err != nil {
		return nil, err
	}
	c := counts{}
	for _, b := range per {
		for name, off := range t.fields {
			c[name] += binary.LittleEndian.Uint64(b[off:])
		}
	}
	return c, nil
}

func (t *titan) verify(p path, d counts, n int, ret uint32) error {
	pk := d["packets"]
	ok := ret == xdpTX && pk >= uint64(n) && d["forwarded"] == pk
	switch p.name {
	case "established-tcp", "established-udp":
		ok = ok && near(d["conn_hits"], pk)
	case "new-flow-tcp":
		ok = ok && near(d["conn_misses"], pk)
	case "first-fragment":
		ok = ok && near(d["frag_misses"], pk) && near(d["conn_hits"], pk)
	case "non-first-fragment":
		ok = ok && near(d["frag_hits"], pk)
	}
	if !ok {
		return fmt.Errorf("ret %d, %d packets: forwarded %d, conn hits %d misses %d, frag hits %d misses %d",
			ret, pk, d["forwarded"], d["conn_hits"], d["conn_misses"], d["frag_hits"], d["frag_misses"])
	}
	return nil
}
