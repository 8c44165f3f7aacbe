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
// about 3 ns, a hash-map lookup 9, an LRU lookup 23; a store of a new
// entry into a set at a random place 85 (its cache miss), an LRU insert
// 495. Three operations neither program performs keep Default's ratios:
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
		NsPerSTU:  0.1,
	}
}

// The fitted prices in tenths of a nanosecond: kbench.FitRatios
// (internal/kbench) of the medians docs/calibration.md lists, the store
// price the median of five later fits on a quiet machine (a store's cache
// miss moves with the machine's load; that doc has the figures).
const (
	calibratedHash      STU = 97
	calibratedMapRead   STU = 88
	calibratedEncap     STU = 129
	calibratedArrayRead STU = 26
	calibratedLRURead   STU = 232
	calibratedLRUInsert STU = 4950
	calibratedStore     STU = 845
	calibratedClock     STU = 353
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
