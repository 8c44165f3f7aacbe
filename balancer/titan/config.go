package titan

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/enum"
	"github.com/titanlb/titanlb/maglev"
)

// Defaults of [Config]: the values a zero field stands for. The kernel
// program's xdp.Options embed Config, so they are its defaults too.
const (
	DefaultRingSize      = 65537            // Maglev ring M, a prime
	DefaultConnTableSize = 131072           // connection table entries
	DefaultFragTableSize = 16384            // fragment table entries
	DefaultFragTimeout   = 30 * time.Second // like Linux net.ipv4.ipfrag_time
	DefaultHintTableSize = 131072           // host-pair hint table entries
	// DefaultOrphanPolicy is what OrphanDefault resolves to, chosen from
	// the simulation figures in docs/design.md (Orphan policies).
	DefaultOrphanPolicy = OrphanHostHint
	// DefaultOrphanAdmission is what AdmitDefault resolves to, chosen from
	// the simulation figures in docs/design.md (Orphan admission).
	DefaultOrphanAdmission = AdmitEarned
	// DefaultOrphanCredits bounds the orphan credit (AdmitEarned).
	DefaultOrphanCredits = 1024
	// MaxTableSize bounds ConnTableSize, FragTableSize, HintTableSize and
	// OrphanCredits ([frag.MaxCapacity]).
	MaxTableSize = frag.MaxCapacity
)

// OrphanPolicy is how a non-first fragment that finds no usable fragment
// table entry (an orphan: it overtook its first fragment, or its entry
// expired, was evicted or points at a dead backend) picks its backend.
type OrphanPolicy uint8

// The orphan policies.
const (
	// OrphanDefault resolves to [DefaultOrphanPolicy].
	OrphanDefault OrphanPolicy = iota
	// OrphanHash3 takes the Maglev ring slot of the 3-tuple hash
	// (source, destination, protocol): the only fields an orphan carries.
	OrphanHash3
	// OrphanHostHint takes the backend of the latest new flow between the
	// same hosts with the same protocol, from the host-pair hint table,
	// when it is usable; else it falls back to [OrphanHash3].
	OrphanHostHint
	numPolicies
)

var policyNames = [numPolicies]string{"default", "hash3", "hosthint"}

// String returns "default", "hash3" or "hosthint".
func (p OrphanPolicy) String() string { return enum.String(policyNames[:], p, "policy") }

// OrphanAdmission is which orphans (non-first fragments with no usable
// fragment table entry) Titan admits: places by the [OrphanPolicy],
// records and forwards. An orphan it does not admit is dropped, reason
// [ReasonUnknownOrphan], and writes nothing.
type OrphanAdmission uint8

// The orphan admission policies.
const (
	// AdmitDefault resolves to [DefaultOrphanAdmission].
	AdmitDefault OrphanAdmission = iota
	// AdmitAll admits every orphan: a flood of orphans with random IP IDs
	// fills the fragment table and is forwarded to the backends, whose
	// reassembly queues it fills for their timeout.
	AdmitAll
	// AdmitEarned admits an orphan from a known host pair (its (source,
	// destination, protocol) has a host-pair hint: a flow between them
	// was placed) always, and one from an unknown host pair only by
	// spending a credit: the credit starts at [Config.OrphanCredits],
	// every new flow placed by the ring earns one back, up to that bound.
	// Legitimate orphans come from hosts that have, or soon will have, a
	// flow; spoofed ones do not, so a flood drains the credit and is then
	// dropped, while legitimate orphans of known hosts still pass.
	AdmitEarned
	numAdmissions
)

var admissionNames = [numAdmissions]string{"default", "all", "earned"}

// String returns "default", "all" or "earned".
func (a OrphanAdmission) String() string { return enum.String(admissionNames[:], a, "admission") }

// Config configures a [Balancer]. The zero Config is valid: every zero
// field takes the default named beside it.
type Config struct {
	// Seed of the flow hash (0: [balancer.DefaultSeed]).
	Seed uint32
	// RingSize is the Maglev ring size M, a prime of at most
	// [maglev.MaxSize] (0: [DefaultRingSize]).
	RingSize uint64
	// ConnTableSize is the number of connection table entries (0:
	// [DefaultConnTableSize]): one global set-associative table of
	// ceil(ConnTableSize/[frag.Ways]) sets of frag.Ways entries, each set
	// replacing its keys by CLOCK (second chance: a flow that keeps
	// sending keeps its entry), so the size is rounded up to a multiple
	// of frag.Ways.
	ConnTableSize int
	// FragTableSize is the number of fragment table entries (0:
	// [DefaultFragTableSize]): one global set-associative table
	// ([frag.SetTable]) of ceil(FragTableSize/[frag.Ways]) sets of
	// [frag.Ways] entries, so the size is rounded up to a multiple of
	// frag.Ways.
	FragTableSize int
	// FragTimeout is how long a fragment table entry lives after it was
	// written (0: [DefaultFragTimeout]).
	FragTimeout time.Duration
	// HintTableSize is the number of entries of the host-pair hint table
	// kept for [OrphanHostHint] and [AdmitEarned] (0:
	// [DefaultHintTableSize]), laid out as the connection table: rounded
	// up to a multiple of [frag.Ways].
	HintTableSize int
	// OrphanPolicy places orphan fragments (OrphanDefault:
	// [DefaultOrphanPolicy]).
	OrphanPolicy OrphanPolicy
	// OrphanAdmission says which orphans are admitted (AdmitDefault:
	// [DefaultOrphanAdmission]).
	OrphanAdmission OrphanAdmission
	// OrphanCredits bounds the orphan credit of [AdmitEarned], which starts
	// full (0: [DefaultOrphanCredits]); at most [frag.MaxCapacity].
	OrphanCredits int
	// VIPs are the virtual IPv4 addresses balanced; packets to other
	// destinations, and every IPv6 packet, are passed to the local stack
	// (services name IPv6 VIPs). Empty: every destination of a service
	// (of the catch-all of its family) is balanced.
	VIPs []netip.Addr
}

// Errors from [Config.Resolve] (and so [New] and xdp.Load), each wrapped
// in a [*ConfigError] that names the field.
var (
	ErrNegative      = errors.New("must not be negative")
	ErrTooLarge      = errors.New("too large")
	ErrNotPrime      = errors.New("not prime")
	ErrUnknownPolicy = errors.New("unknown orphan policy")
	// ErrUnknownAdmission: Config.OrphanAdmission is not one of the
	// OrphanAdmission constants.
	ErrUnknownAdmission = errors.New("unknown orphan admission")
	ErrNotIPv4          = errors.New("not an IPv4 address")
)

// A ConfigError is an invalid [Config] field. Its message reads
// "titan: config.RingSize 65536: not prime"; xdp.Load reports the same
// error as "xdp: options.RingSize 65536: not prime", and errors.As finds
// the *ConfigError in either.
type ConfigError struct {
	Field string // the field's name, with an index for a list: "RingSize", "VIPs[1]"
	Value string // the value given, formatted
	Err   error  // what is wrong with it: wraps one of the errors above
}

// Error returns "titan: config." followed by [ConfigError.Detail].
func (e *ConfigError) Error() string { return "titan: config." + e.Detail() }

// Detail returns the field, its value and what is wrong with it, as in
// "RingSize 65536: not prime".
func (e *ConfigError) Detail() string { return e.Field + " " + e.Value + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *ConfigError) Unwrap() error { return e.Err }

// fieldError returns a *ConfigError for field with value v.
func fieldError(field string, v any, err error) error {
	return &ConfigError{Field: field, Value: fmt.Sprint(v), Err: err}
}

// tooLarge wraps ErrTooLarge with the bound.
func tooLarge(max uint64) error { return fmt.Errorf("%w (max %d)", ErrTooLarge, max) }

// Resolve returns c with every zero field replaced by its default, or a
// [*ConfigError] naming the first bad field. [New] resolves its Config
// with it, and so does xdp.Load the Config its Options embed: the Go
// model and the kernel program take one definition of the fields, their
// defaults and their errors.
func (c Config) Resolve() (Config, error) {
	if c.Seed == 0 {
		c.Seed = balancer.DefaultSeed
	}
	switch {
	case c.RingSize == 0:
		c.RingSize = DefaultRingSize
	case c.RingSize > maglev.MaxSize:
		return c, fieldError("RingSize", c.RingSize, tooLarge(maglev.MaxSize))
	case !maglev.IsPrime(c.RingSize):
		return c, fieldError("RingSize", c.RingSize, ErrNotPrime)
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"ConnTableSize", &c.ConnTableSize, DefaultConnTableSize},
		{"FragTableSize", &c.FragTableSize, DefaultFragTableSize},
		{"HintTableSize", &c.HintTableSize, DefaultHintTableSize},
		{"OrphanCredits", &c.OrphanCredits, DefaultOrphanCredits},
	} {
		switch {
		case *f.v < 0:
			return c, fieldError(f.name, *f.v, ErrNegative)
		case *f.v > MaxTableSize:
			return c, fieldError(f.name, *f.v, tooLarge(MaxTableSize))
		case *f.v == 0:
			*f.v = f.def
		}
	}
	switch {
	case c.FragTimeout < 0:
		return c, fieldError("FragTimeout", c.FragTimeout, ErrNegative)
	case c.FragTimeout == 0:
		c.FragTimeout = DefaultFragTimeout
	}
	switch {
	case c.OrphanPolicy >= numPolicies:
		return c, fieldError("OrphanPolicy", uint8(c.OrphanPolicy), ErrUnknownPolicy)
	case c.OrphanPolicy == OrphanDefault:
		c.OrphanPolicy = DefaultOrphanPolicy
	}
	switch {
	case c.OrphanAdmission >= numAdmissions:
		return c, fieldError("OrphanAdmission", uint8(c.OrphanAdmission), ErrUnknownAdmission)
	case c.OrphanAdmission == AdmitDefault:
		c.OrphanAdmission = DefaultOrphanAdmission
	}
	for i, v := range c.VIPs {
		if !v.Is4() {
			return c, fieldError(fmt.Sprintf("VIPs[%d]", i), v, ErrNotIPv4)
		}
	}
	c.VIPs = append([]netip.Addr(nil), c.VIPs...)
	return c, nil
}
