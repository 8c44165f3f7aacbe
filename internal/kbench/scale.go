package kbench

import "github.com/titanlb/titanlb/cost"

// CalibratedModel returns cost.Default()'s prices with one NsPerSTU
// measured on the development machine (kernel 6.18, 2 vCPUs; see
// docs/calibration.md): the single-scale model. It keeps
// the default's ratio of a map write to a read (3), where the kernel's is
// about 40, so it overprices read-only paths and underprices write
// paths; cost.Calibrated(), fitted per operation by [Calibrate],
// predicts every path (see docs/calibration.md).
func CalibratedModel() cost.Model {
	m := cost.Default()
	m.NsPerSTU = calibratedNsPerSTU
	return m
}

// calibratedNsPerSTU is the single scale of docs/calibration.md.
const calibratedNsPerSTU = 1.12
