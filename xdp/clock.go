package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/cilium/ebpf"
)

// The tick-rate probe: the fragment table ages its entries in jiffies,
// the kernel's tick count, which the verifier inlines into one load (the
// helper call bpf_ktime_get_coarse_ns, which the program used before,
// costs a few ns more per fragment at the same tick resolution). The
// kernel does not tell a program or its loader how long a tick is
// (CONFIG_HZ: 100, 250, 300 or 1000 on x86 and arm64), so [Load] measures
// it in the kernel: titan.c's xdp_jiffies, loaded alone, reads jiffies and
// the coarse clock (bpf_ktime_get_coarse_ns) together, and the tick
// handler advances both, so between two reads that see different jiffies
// the coarse clock has moved by exactly that many ticks' nanoseconds
// (4,000,000 a tick at HZ 250, to the ns). The loader runs it in a loop
// until it has tickProbeSamples such differences, one per tick, and takes
// their median: the two clocks are not updated in the same instant, and a
// read between the two updates makes one difference a tick too long and
// the next a tick too short (a few in a thousand here, under load). Timing
// in the kernel, the probe does not care when the loading thread runs;
// it takes tickProbeSamples ticks, 20 ms at HZ 250, 50 ms at HZ 100.
const (
	tickProbeSamples = 5
	tickProbeTimeout = 2 * time.Second
)

// configHZs are tick rates Linux configures (CONFIG_HZ), at least 20%
// apart so that 2% snaps to one of them: the measured rate is exact but
// for the clock's NTP adjustment (3,999,999 ns a tick here).
var configHZs = [...]float64{24, 32, 48, 64, 100, 128, 200, 250, 300, 500, 1000, 1200}

// snapHZ returns the rate of configHZs within 2% of hz, else hz rounded.
func snapHZ(hz float64) float64 {
	for _, c := range configHZs {
		if math.Abs(hz-c) <= 0.02*c {
			return c
		}
	}
	return math.Round(hz)
}

// errTickProbe is returned when jiffies does not move within
// tickProbeTimeout.
var errTickProbe = errors.New("jiffies did not advance")

// tickRate measures the kernel's tick rate in Hz with the xdp_jiffies
// program of spec, loaded on its own and closed before returning.
func tickRate(spec *ebpf.CollectionSpec) (float64, error) {
	ps, ok := spec.Programs[titanProgXdpJiffies]
	if !ok {
		return 0, fmt.Errorf("program %s missing", titanProgXdpJiffies)
	}
	prog, err := ebpf.NewProgram(ps)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return 0, fmt.Errorf("load %s: %w: %w", titanProgXdpJiffies, ErrNotPermitted, err)
		}
		return 0, fmt.Errorf("load %s: %w", titanProgXdpJiffies, err)
	}
	defer prog.Close()
	in := make([]byte, 64) // at least an Ethernet header, for the test run
	out := make([]byte, len(in))
	read := func() (jiffies, coarse uint64, err error) {
		ret, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out})
		if err != nil {
			return 0, 0, fmt.Errorf("run %s: %w", titanProgXdpJiffies, err)
		}
		if ret != xdpPass {
			return 0, 0, fmt.Errorf("run %s: XDP action %d", titanProgXdpJiffies, ret)
		}
		return binary.LittleEndian.Uint64(out), binary.LittleEndian.Uint64(out[8:]), nil
	}
	j0, c0, err := read()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	var perTick []float64 // coarse ns per tick between reads with different jiffies
	for len(perTick) < tickProbeSamples {
		j, c, err := read()
		if err != nil {
			return 0, err
		}
		if j != j0 {
			perTick = append(perTick, float64(c-c0)/float64(j-j0))
			j0, c0 = j, c
		}
		if time.Since(start) > tickProbeTimeout {
			return 0, fmt.Errorf("%w %d times in %v", errTickProbe, tickProbeSamples, tickProbeTimeout)
		}
	}
	slices.Sort(perTick)
	return snapHZ(float64(time.Second) / perTick[len(perTick)/2]), nil
}

// ticks converts d to whole ticks at hz, rounding up, at least 1.
func ticks(d time.Duration, hz float64) uint64 {
	return uint64(max(1, math.Ceil(d.Seconds()*hz)))
}
