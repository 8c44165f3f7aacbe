package main

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Katran's constants (katran/lib/bpf/balancer_consts.h at commit 19f08fec;
// the stats keys are MAX_VIPS + a counter's number).
const (
	kMaxVips     = 512
	kLruCntrs    = kMaxVips + 0  // LRU_CNTRS: v1 packets that reached the LRU, v2 LRU misses
	kNewConnRate = kMaxVips + 2  // NEW_CONN_RATE_CNTR: v1 new connections this second, v2 its start (ktime ns)
	kFallbackLru = kMaxVips + 3  // FALLBACK_LRU_CNTR: v1 packets that found no per-CPU LRU
	kTotalCntr   = kMaxVips + 16 // XDP_TOTAL_CNTR
	kTxCntr      = kMaxVips + 17 // XDP_TX_CNTR
	kDropCntr    = kMaxVips + 18 // XDP_DROP_CNTR
	kMaxConnRate = 125000        // MAX_CONN_RATE, per CPU per second
)

// katranCounters name the stats keys verify reads.
var katranCounters = map[string]uint32{
	"lru":      kLruCntrs,
	"fallback": kFallbackLru,
	"packets":  kTotalCntr,
	"tx":       kTxCntr,
	"drop":     kDropCntr,
}

// katran is Katran's balancer under the wrapper, configured as its
// userspace (KatranLb) configures it for forwarding cores.
type katran struct {
	*wrapped
	stats *ebpf.Map
	lrus  []*ebpf.Map
	ncpu  int
}

type lbStats struct{ V1, V2 uint64 }

// loadKatran loads obj: one LRU_HASH of lruSize entries per CPU in
// lru_mapping (KatranLb::initLrus), VIP 192.0.2.10:443/TCP (vip_num 0) and
// :4789/UDP (vip_num 1), flags 0, reals 1-3, ch_rings filled with reals
// 1, 2, 3 in turn (65537 slots per VIP), ctl_array[0] the gateway's MAC.
func loadKatran(obj string, lruSize int) (*katran, error) {
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		return nil, err
	}
	lm := spec.Maps["lru_mapping"]
	fk := spec.Maps["fallback_cache"]
	if lm == nil || lm.InnerMap == nil || fk == nil {
		return nil, fmt.Errorf("%s: no lru_mapping or fallback_cache map", obj)
	}
	lm.InnerMap.MaxEntries = uint32(lruSize)
	w, err := loadWrapped(spec, "balancer_ingress")
	if err != nil {
		return nil, fmt.Errorf("katran: %w", err)
	}
	k := &katran{wrapped: w, stats: w.coll.Maps["stats"]}
	fail := func(format string, args ...any) (*katran, error) {
		k.close()
		return nil, fmt.Errorf("katran: "+format, args...)
	}
	if k.ncpu, err = ebpf.PossibleCPU(); err != nil {
		return fail("%w", err)
	}
	for cpu := 0; cpu < k.ncpu; cpu++ {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Name: fmt.Sprintf("katran_lru%d", cpu), Type: ebpf.LRUHash,
			KeySize: fk.KeySize, ValueSize: fk.ValueSize, MaxEntries: uint32(lruSize)})
		if err != nil {
			return fail("lru %d: %w", cpu, err)
		}
		k.lrus = append(k.lrus, m)
		if err := w.coll.Maps["lru_mapping"].Put(uint32(cpu), m); err != nil {
			return fail("lru_mapping[%d]: %w", cpu, err)
		}
	}
	vipKeySize := spec.Maps["vip_map"].KeySize // struct vip_definition
	for num, v := range []struct {
		port  uint16
		proto uint8
	}{{443, 6}, {4789, 17}} {
		key := make([]byte, vipKeySize)
		a := vip.As4()
		copy(key[0:4], a[:])
		binary.BigEndian.PutUint16(key[16:], v.port)
		key[18] = v.proto
		val := make([]byte, 8) // struct vip_meta {flags, vip_num}
		binary.LittleEndian.PutUint32(val[4:], uint32(num))
		if err := w.coll.Maps["vip_map"].Put(key, val); err != nil {
			return fail("vip_map: %w", err)
		}
	}
	for i, b := range backends { // Katran's real ids start at 1
		val := make([]byte, spec.Maps["reals"].ValueSize) // struct real_definition
		a := b.As4()
		copy(val[0:4], a[:])
		if err := w.coll.Maps["reals"].Put(uint32(i+1), val); err != nil {
			return fail("reals: %w", err)
		}
	}
	keys := make([]uint32, 0, 2*ringSize)
	vals := make([]uint32, 0, 2*ringSize)
	for num := 0; num < 2; num++ {
		for s := 0; s < ringSize; s++ {
			keys = append(keys, uint32(num*ringSize+s))
			vals = append(vals, uint32(s%len(backends)+1))
		}
	}
	if _, err := w.coll.Maps["ch_rings"].BatchUpdate(keys, vals, nil); err != nil {
		return fail("ch_rings: %w", err)
	}
	if err := w.coll.Maps["ctl_array"].Put(uint32(0), [8]byte{0x02, 0, 0, 0, 0, 0x03}); err != nil {
		return fail("ctl_array: %w", err)
	}
	return k, nil
}

func (k *katran) name() string { return "katran" }
func (k *katran) w() *wrapped  { return k.wrapped }

func (k *katran) close() {
	k.coll.Close()
	for _, m := range k.lrus {
		m.Close()
	}
}

func (k *katran) stat(key uint32) ([]lbStats, error) {
	per := make([]lbStats, k.ncpu)
	err := k.stats.Lookup(key, &per)
	return per, err
}

// setConnRate sets Katran's new-connection limiter on every CPU.
func (k *katran) setConnRate(v1, v2 uint64) error {
	per := make([]lbStats, k.ncpu)
	for i := range per {
		per[i] = lbStats{v1, v2}
	}
	return k.stats.Put(uint32(kNewConnRate), per)
}

func monoNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// prepare sets the limiter (is_under_flood: at most MAX_CONN_RATE new
// connections per CPU per second get an LRU insert): zeroed, so that a
// call of fewer iterations never trips it, or, for the flood path, tripped
// for the next second.
func (k *katran) prepare(p path) (counts, error) {
	var err error
	if p.flood {
		err = k.setConnRate(1<<40, monoNow())
	} else {
		err = k.setConnRate(0, 0)
	}
	if err != nil {
		return nil, err
	}
	if err := k.prime(p); err != nil {
		return nil, err
	}
	return k.counters()
}

// counters returns v1 of each counter as name and v2 as name+"2", summed
// over the CPUs, and the highest new-connection count of any CPU as
// "conn_rate_max".
func (k *katran) counters() (counts, error) {
	c := counts{}
	for name, key := range katranCounters {
		per, err := k.stat(key)
		if err != nil {
			return nil, err
		}
		for _, v := range per {
			c[name] += v.V1
			c[name+"2"] += v.V2
		}
	}
	per, err := k.stat(kNewConnRate)
	if err != nil {
		return nil, err
	}
	for _, v := range per {
		c["conn_rate_max"] = max(c["conn_rate_max"], v.V1)
	}
	return c, nil
}

func (k *katran) verify(p path, d counts, n int, ret uint32) error {
	pk := d["packets"]
	if pk < uint64(n) {
		return fmt.Errorf("%d packets counted", pk)
	}
	if d["fallback"] != 0 {
		return fmt.Errorf("%d packets used the fallback LRU", d["fallback"])
	}
	switch p.name {
	case "established-tcp", "established-udp":
		if ret != xdpTX || d["tx"] != pk || d["lru2"] != 0 {
			return fmt.Errorf("ret %d, tx %d of %d, LRU misses %d", ret, d["tx"], pk, d["lru2"])
		}
	case "new-flow-tcp", "new-flow-tcp-flood":
		if ret != xdpTX || d["tx"] != pk || d["lru2"] != pk {
			return fmt.Errorf("ret %d, tx %d of %d, LRU misses %d", ret, d["tx"], pk, d["lru2"])
		}
		if flooded := d["conn_rate_max"] > kMaxConnRate; flooded != p.flood {
			return fmt.Errorf("new-connection limiter at %d: flooded %v, want %v", d["conn_rate_max"], flooded, p.flood)
		}
	case "first-fragment", "non-first-fragment":
		if ret != xdpDrop || d["drop"] != pk {
			return fmt.Errorf("ret %d, drops %d of %d (Katran drops fragments)", ret, d["drop"], pk)
		}
	}
	return nil
}
