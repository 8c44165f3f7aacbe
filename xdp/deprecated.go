package xdp

import "github.com/titanlb/titanlb/balancer/titan"

// Deprecated: xdp's own copies of balancer/titan's names until [Options]
// embedded [titan.Config]; aliases now, kept for one release. Use
// titan's.
type (
	OrphanPolicy    = titan.OrphanPolicy    // Deprecated: use titan.OrphanPolicy.
	OrphanAdmission = titan.OrphanAdmission // Deprecated: use titan.OrphanAdmission.
)

// Deprecated: xdp's own copies of balancer/titan's names until [Options]
// embedded [titan.Config]; aliases now, kept for one release. Use
// titan's.
const (
	OrphanDefault          = titan.OrphanDefault                  // Deprecated: use titan.OrphanDefault.
	OrphanHash3            = titan.OrphanHash3                    // Deprecated: use titan.OrphanHash3.
	OrphanHostHint         = titan.OrphanHostHint                 // Deprecated: use titan.OrphanHostHint.
	DefaultOrphanPolicy    = titan.DefaultOrphanPolicy            // Deprecated: use titan.DefaultOrphanPolicy.
	AdmitDefault           = titan.AdmitDefault                   // Deprecated: use titan.AdmitDefault.
	AdmitAll               = titan.AdmitAll                       // Deprecated: use titan.AdmitAll.
	AdmitEarned            = titan.AdmitEarned                    // Deprecated: use titan.AdmitEarned.
	DefaultOrphanAdmission = titan.DefaultOrphanAdmission         // Deprecated: use titan.DefaultOrphanAdmission.
	DefaultOrphanCredits   = titan.DefaultOrphanCredits           // Deprecated: use titan.DefaultOrphanCredits.
	DefaultRingSize        = titan.DefaultRingSize                // Deprecated: use titan.DefaultRingSize.
	DefaultConnTableSize   = titan.DefaultConnTableSize           // Deprecated: use titan.DefaultConnTableSize.
	DefaultFragTableSize   = titan.DefaultFragTableSize           // Deprecated: use titan.DefaultFragTableSize.
	DefaultFragTimeout     = titan.DefaultFragTimeout             // Deprecated: use titan.DefaultFragTimeout.
	DefaultHintTableSize   = titan.DefaultHintTableSize           // Deprecated: use titan.DefaultHintTableSize.
	MaxTableSize           = titan.MaxTableSize                   // Deprecated: use titan.MaxTableSize.
	ReasonFragConflict     = titan.ReasonConflictingFirstFragment // Deprecated: use titan.ReasonConflictingFirstFragment.
	ReasonUnknownOrphan    = titan.ReasonUnknownOrphan            // Deprecated: use titan.ReasonUnknownOrphan.
)

// Deprecated: xdp's own copies of balancer/titan's errors until [Options]
// embedded [titan.Config]; aliases now, kept for one release. Use
// titan's. ErrBadPolicy is titan.ErrUnknownPolicy: an unknown
// OrphanAdmission now wraps titan.ErrUnknownAdmission, and an unknown
// attach mode [ErrUnknownAttachMode].
var (
	ErrNegative  = titan.ErrNegative      // Deprecated: use titan.ErrNegative.
	ErrTooLarge  = titan.ErrTooLarge      // Deprecated: use titan.ErrTooLarge.
	ErrNotIPv4   = titan.ErrNotIPv4       // Deprecated: use titan.ErrNotIPv4.
	ErrBadPolicy = titan.ErrUnknownPolicy // Deprecated: use titan.ErrUnknownPolicy.
)
