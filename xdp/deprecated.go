package xdp

import "github.com/titanlb/titanlb/balancer/titan"

// The names below were xdp's own copies of balancer/titan's until
// [Options] embedded [titan.Config]. They are aliases now, kept for one
// release.

// Deprecated: use [titan.OrphanPolicy].
type OrphanPolicy = titan.OrphanPolicy

// Deprecated: use [titan.OrphanDefault].
const OrphanDefault = titan.OrphanDefault

// Deprecated: use [titan.OrphanHash3].
const OrphanHash3 = titan.OrphanHash3

// Deprecated: use [titan.OrphanHostHint].
const OrphanHostHint = titan.OrphanHostHint

// Deprecated: use [titan.DefaultOrphanPolicy].
const DefaultOrphanPolicy = titan.DefaultOrphanPolicy

// Deprecated: use [titan.OrphanAdmission].
type OrphanAdmission = titan.OrphanAdmission

// Deprecated: use [titan.AdmitDefault].
const AdmitDefault = titan.AdmitDefault

// Deprecated: use [titan.AdmitAll].
const AdmitAll = titan.AdmitAll

// Deprecated: use [titan.AdmitEarned].
const AdmitEarned = titan.AdmitEarned

// Deprecated: use [titan.DefaultOrphanAdmission].
const DefaultOrphanAdmission = titan.DefaultOrphanAdmission

// Deprecated: use [titan.DefaultOrphanCredits].
const DefaultOrphanCredits = titan.DefaultOrphanCredits

// Deprecated: use [titan.DefaultRingSize].
const DefaultRingSize = titan.DefaultRingSize

// Deprecated: use [titan.DefaultConnTableSize].
const DefaultConnTableSize = titan.DefaultConnTableSize

// Deprecated: use [titan.DefaultFragTableSize].
const DefaultFragTableSize = titan.DefaultFragTableSize

// Deprecated: use [titan.DefaultFragTimeout].
const DefaultFragTimeout = titan.DefaultFragTimeout

// Deprecated: use [titan.DefaultHintTableSize].
const DefaultHintTableSize = titan.DefaultHintTableSize

// Deprecated: use [titan.MaxTableSize].
const MaxTableSize = titan.MaxTableSize

// Deprecated: use [titan.ErrNegative].
var ErrNegative = titan.ErrNegative

// Deprecated: use [titan.ErrTooLarge].
var ErrTooLarge = titan.ErrTooLarge

// Deprecated: use [titan.ErrNotIPv4].
var ErrNotIPv4 = titan.ErrNotIPv4

// Deprecated: use [titan.ErrUnknownPolicy]; an unknown
// Options.OrphanAdmission now wraps [titan.ErrUnknownAdmission], and an
// unknown attach mode [ErrUnknownAttachMode].
var ErrBadPolicy = titan.ErrUnknownPolicy

// Deprecated: use [titan.ReasonConflictingFirstFragment].
const ReasonFragConflict = titan.ReasonConflictingFirstFragment

// Deprecated: use [titan.ReasonUnknownOrphan].
const ReasonUnknownOrphan = titan.ReasonUnknownOrphan
