package xdp

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"

	"github.com/titanlb/titanlb/frag"
)

// dataMap is the name of the map that holds titan.c's writable globals
// (svc_family): cilium/ebpf names it after its ELF section.
const dataMap = ".data"

// replacements returns the maps by name, for a second load that shares
// them (the benchmark wrappers', an adopting program's), the globals'
// map included.
func (o *datapathObjects) replacements() map[string]*ebpf.Map {
	m := &o.titanMaps
	return map[string]*ebpf.Map{
		titanMapBackends: m.Backends, titanMapBenchCfg: m.BenchCfg, titanMapConns: m.Conns, titanMapConns6: m.Conns6,
		titanMapCredit: m.Credit, titanMapFrags: m.Frags, titanMapFrags6: m.Frags6, titanMapHints: m.Hints,
		titanMapHints6: m.Hints6, titanMapRing: m.Ring, titanMapServices: m.Services, titanMapStats: m.Stats,
		titanMapVips: m.Vips, dataMap: o.Data,
	}
}

// datapathObjects are what [Load] loads besides the program itself (one
// variant, [Program].prog): the maps (bench_cfg, the wrappers' one-entry
// array, included), the configuration variables, and the map of the
// writable globals, which the loader writes while the program runs. Not
// the benchmark wrappers.
type datapathObjects struct {
	titanMaps
	titanVariables
	Data *ebpf.Map `ebpf:".data"`
}

// Close closes the maps, the globals' included.
func (o *datapathObjects) Close() error {
	return errors.Join(o.titanMaps.Close(), o.Data.Close())
}

// prepare resolves opts and returns the program's spec configured with
// them, and the kernel's tick rate, which it measures first: the fragment
// table ages entries in ticks (see clock.go). The stateless variant keeps
// no fragment table, and measures nothing.
func prepare(opts Options) (Options, *ebpf.CollectionSpec, float64, error) {
	o, err := opts.resolved()
	if err != nil {
		return o, nil, 0, err
	}
	spec, err := loadTitan()
	if err != nil {
		return o, nil, 0, fmt.Errorf("xdp: %w", err)
	}
	var hz float64
	if !o.Stateless {
		if hz, err = tickRate(spec); err != nil {
			return o, nil, 0, fmt.Errorf("xdp: tick rate: %w", err)
		}
	}
	if err := configure(spec, o, hz); err != nil {
		return o, nil, 0, err
	}
	return o, spec, hz, nil
}

// configure sets o's configuration on spec: the variables, with the
// fragment timeout in ticks of hz (the tick rate Load measured; 0 for the
// stateless variant), and the map sizes.
func configure(spec *ebpf.CollectionSpec, o Options, hz float64) error {
	timeout := uint64(1)
	if !o.Stateless {
		timeout = ticks(o.FragTimeout, hz)
	}
	vars := map[string]any{
		titanVarCfgSeed:            o.Seed,
		titanVarCfgRingSize:        uint32(o.RingSize),
		titanVarCfgFragTimeout:     timeout,
		titanVarCfgOrphanPolicy:    uint32(o.OrphanPolicy),
		titanVarCfgVipCount:        uint32(len(o.VIPs)),
		titanVarCfgSrcAddr:         uint32(0),
		titanVarCfgOrphanAdmission: uint32(o.OrphanAdmission),
		titanVarCfgOrphanCredits:   int64(o.OrphanCredits),
		titanVarCfgFragSets:        uint32(frag.SetCount(o.FragTableSize)),
		titanVarCfgConnSets:        uint32(frag.SetCount(o.ConnTableSize)),
		titanVarCfgHintSets:        uint32(frag.SetCount(o.HintTableSize)),
	}
	if o.SourceAddr.IsValid() {
		vars[titanVarCfgSrcAddr] = be32(o.SourceAddr)
	}
	if o.SourceAddr6.IsValid() {
		vars[titanVarCfgSrcAddr6] = words6(o.SourceAddr6)
	} else {
		vars[titanVarCfgSrcAddr6] = [4]uint32{}
	}
	// The IPv4 catch-all on the first RingSize slots, empty until the
	// first backend set (Program.init fills them with no backend).
	vars[titanVarSvcFamily] = [2]uint64{svcDesc(0, int(o.RingSize), 0), 0}
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("xdp: program has no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("xdp: set %s: %w", name, err)
		}
	}
	sizes := map[string]uint32{
		titanMapConns:    uint32(frag.SetCount(o.ConnTableSize)),
		titanMapConns6:   uint32(frag.SetCount(o.ConnTableSize)),
		titanMapFrags:    uint32(frag.SetCount(o.FragTableSize)),
		titanMapFrags6:   uint32(frag.SetCount(o.FragTableSize)),
		titanMapHints:    uint32(frag.SetCount(o.HintTableSize)),
		titanMapHints6:   uint32(frag.SetCount(o.HintTableSize)),
		titanMapRing:     uint32(2 * o.MaxRingSlots),
		titanMapBackends: uint32(o.MaxBackends),
		titanMapVips:     uint32(max(1, len(o.VIPs))),
		titanMapServices: servicesEntries,
	}
	for name, n := range sizes {
		spec.Maps[name].MaxEntries = n
	}
	return nil
}

// loadDatapath loads the datapath's maps and variables and the program
// of o's variant, and nothing else: not the benchmark wrappers. copts may
// be nil; [Adopt] gives the pinned maps as replacements.
func loadDatapath(spec *ebpf.CollectionSpec, o Options, copts *ebpf.CollectionOptions) (datapathObjects, *ebpf.Program, error) {
	var (
		objs datapathObjects
		prog *ebpf.Program
		err  error
	)
	if o.Stateless {
		var s struct {
			datapathObjects
			Prog *ebpf.Program `ebpf:"xdp_titan_stateless"`
		}
		err = spec.LoadAndAssign(&s, copts)
		objs, prog = s.datapathObjects, s.Prog
	} else {
		var s struct {
			datapathObjects
			Prog *ebpf.Program `ebpf:"xdp_titan"`
		}
		err = spec.LoadAndAssign(&s, copts)
		objs, prog = s.datapathObjects, s.Prog
	}
	return objs, prog, loadError("titan", err)
}

// loadError wraps a load failure of what, and ErrNotPermitted where the
// kernel refused for lack of privileges.
func loadError(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("xdp: load %s: %w: %w", what, ErrNotPermitted, err)
	}
	return fmt.Errorf("xdp: load %s: %w", what, err)
}
