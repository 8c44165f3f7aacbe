package cost

// Calibrated returns the model fitted to kernel measurements of both XDP
// programs on the development machine, Titan's (package xdp) and
// Katran's unmodified balancer.bpf.c (through the side-by-side harness,
// internal/cmd/katranbench): prices in STU of a tenth of a nanosecond
// (NsPerSTU 0.1), so that a packet's STU times NsPerSTU predicts its
// nanoseconds in that kernel, for either program's model.
// docs/calibration.md has the machine, the method, the measurements and
// the predictions against them.
//
// Unlike [Default], which prices each kind of read and of write as its
// family, it prices them as the kernel does: an inlined ARRAY lookup
// about 2 ns, a hash-map lookup 10, an LRU lookup 21, a new flow's ring
// slot 37 (a cache miss); a store of a new entry into a set at a random
// place 65 (its cache miss), an LRU insert 338. The machine was quiet:
// under other work the writes slow by up to 1.5x where the reads hardly
// move, which one speed factor does not capture (docs/calibration.md).
// Three operations neither program performs keep Default's ratios:
// TailCall a map read, Rewrite half of one, MapWrite (a hash map's
// update) an LRU insert.
func Calibrated() Model {
	return Model{
		Hash:      calibratedHash,
		MapRead:   calibratedMapRead,
		MapWrite:  calibratedLRUInsert,
		Encap:     calibratedEncap,
		TailCall:  calibratedMapRead,
		Rewrite:   calibratedMapRead / 2,
		ArrayRead: calibratedArrayRead,
		LRURead:   calibratedLRURead,
		LRUInsert: calibratedLRUInsert,
		Store:     calibratedStore,
		Clock:     calibratedClock,
		RingRead:  calibratedRingRead,
		NsPerSTU:  0.1,
	}
}

// The fitted prices in tenths of a nanosecond: kbench.FitRatios
// (internal/kbench) of the measurements docs/calibration.md lists.
const (
	calibratedHash      STU = 59
	calibratedMapRead   STU = 98
	calibratedEncap     STU = 156
	calibratedArrayRead STU = 20
	calibratedLRURead   STU = 213
	calibratedLRUInsert STU = 3384
	calibratedStore     STU = 649
	calibratedClock     STU = 253
	calibratedRingRead  STU = 365
)

// Nanoseconds converts a (fractional) number of STU to nanoseconds with
// NsPerSTU (0 means 1): what a mean cost such as sim's AvgCost predicts
// per packet. Unlike [Model.Duration] it does not round.
func (m Model) Nanoseconds(stu float64) float64 {
	if m.NsPerSTU == 0 {
		return stu
	}
	return stu * m.NsPerSTU
}
