package xdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/maglev"
)

// OrphanPolicy says where a non-first fragment that has no usable fragment
// table entry (an orphan: it arrived before its first fragment, or its entry
// expired, was evicted or points at a backend that is gone) is sent. The
// values are those of titan.OrphanPolicy.
type OrphanPolicy uint8

// The orphan policies.
const (
	// OrphanDefault resolves to [DefaultOrphanPolicy].
	OrphanDefault OrphanPolicy = iota
	// OrphanHash3 picks the ring slot of the 3-tuple hash
	// ([balancer.Hash3]) of source, destination and protocol.
	OrphanHash3
	// OrphanHostHint looks up the host-pair hint table (source,
	// destination, protocol → the backend of the latest new flow between
	// them) and falls back to OrphanHash3 when it misses or the hinted
	// backend is unusable.
	OrphanHostHint
)

// DefaultOrphanPolicy is what [OrphanDefault] resolves to. It is the same
// policy titan.Config resolves its zero value to, so that zero Options and
// a zero titan.Config are in parity.
const DefaultOrphanPolicy = OrphanHostHint

// String returns "default", "hash3" or "hosthint", as titan.OrphanPolicy does.
func (o OrphanPolicy) String() string {
	switch o {
	case OrphanDefault:
		return "default"
	case OrphanHash3:
		return "hash3"
	case OrphanHostHint:
		return "hosthint"
	}
	return "orphan-policy(" + strconv.Itoa(int(o)) + ")"
}

// OrphanAdmission says which orphans the program admits (places, records,
// forwards); the others are dropped. The values are those of
// titan.OrphanAdmission, whose documentation has the figures behind the
// default.
type OrphanAdmission uint8

// The orphan admission policies.
const (
	// AdmitDefault resolves to [DefaultOrphanAdmission].
	AdmitDefault OrphanAdmission = iota
	// AdmitAll admits every orphan.
	AdmitAll
	// AdmitEarned admits an orphan of a known host pair (it has a
	// host-pair hint) always, and one of an unknown host pair by spending
	// a credit that every new flow earns back, up to
	// [Options.OrphanCredits].
	AdmitEarned
)

// DefaultOrphanAdmission is what [AdmitDefault] resolves to, as in
// titan.Config.
const DefaultOrphanAdmission = AdmitEarned

// DefaultOrphanCredits bounds the orphan credit when
// Options.OrphanCredits is 0, as in titan.Config.
const DefaultOrphanCredits = 1024

// String returns "default", "all" or "earned", as titan.OrphanAdmission
// does.
func (a OrphanAdmission) String() string {
	switch a {
	case AdmitDefault:
		return "default"
	case AdmitAll:
		return "all"
	case AdmitEarned:
		return "earned"
	}
	return "admission(" + strconv.Itoa(int(a)) + ")"
}

// Defaults of [Options]; the first six are those of titan.Config.
const (
	DefaultRingSize      = maglev.DefaultSize // 65537
	DefaultConnTableSize = 65536
	DefaultFragTableSize = 16384
	DefaultFragTimeout   = 30 * time.Second // Linux ipfrag_time
	DefaultHintTableSize = 65536
	DefaultMaxBackends   = 4096
	// MaxTableSize bounds the table sizes, as titan's (frag.MaxCapacity).
	// The kernel preallocates every entry: whether a large table fits is
	// the kernel's call at Load.
	MaxTableSize = 1 << 28
)

// Options configure [Load]. The zero value is valid; every zero field takes
// its default. The first ten fields have the names, meanings and defaults
// of titan.Config's, so that Options{} and titan.Config{} (and any pair
// with equal fields) decide alike.
type Options struct {
	// Seed of the murmur3 flow hash; 0 means [balancer.DefaultSeed].
	Seed uint32
	// RingSize is the Maglev ring size M, a prime; 0 means 65537.
	RingSize uint64
	// ConnTableSize bounds the connection table (a global LRU); 0 means
	// 65536.
	ConnTableSize int
	// FragTableSize is the number of fragment table entries; 0 means
	// 16384. The table is global and set-associative, as titan's
	// ([github.com/titanlb/titanlb/frag.SetTable]): an ARRAY of
	// ceil(FragTableSize/4) sets of 4 entries, so the size is rounded up
	// to a multiple of 4.
	FragTableSize int
	// FragTimeout is the age after which a fragment table entry is a
	// miss; 0 means 30s. The kernel measures it in ticks (jiffies): [Load]
	// measures the tick rate and rounds FragTimeout up to whole ticks (4
	// ms at HZ 250).
	FragTimeout time.Duration
	// HintTableSize bounds the host-pair hint table (a global LRU); 0
	// means 65536. Used by OrphanHostHint only.
	HintTableSize int
	// OrphanPolicy chooses where orphan non-first fragments go.
	OrphanPolicy OrphanPolicy
	// OrphanAdmission says which orphans are admitted.
	OrphanAdmission OrphanAdmission
	// OrphanCredits bounds the orphan credit of AdmitEarned, which starts
	// full; 0 means [DefaultOrphanCredits].
	OrphanCredits int
	// VIPs are the virtual IPv4 addresses balanced; empty means every IPv4
	// destination. A packet to any other destination is passed (XDP_PASS).
	VIPs []netip.Addr

	// MaxBackends bounds backend IDs: every ID given to
	// [Program.SetBackends] must be below it. 0 means 4096.
	MaxBackends int
	// SourceAddr is the outer source address of encapsulated packets. The
	// zero value means the packet's own destination (the VIP it was sent
	// to), so a backend sees an IPIP packet from the VIP.
	SourceAddr netip.Addr
	// Stateless loads the calibration variant instead: no connection,
	// fragment or hint table; every fragment is dropped; every other
	// packet goes to the ring slot of its 5-tuple hash.
	Stateless bool
	// AttachMode is the XDP mode [Program.Attach] uses.
	AttachMode AttachMode
}

// Errors from [Options] validation, wrapped with the field's name.
var (
	ErrNegative   = errors.New("must not be negative")
	ErrTooLarge   = errors.New("too large")
	ErrNotIPv4    = errors.New("not an IPv4 address")
	ErrBadPolicy  = errors.New("unknown policy")
	ErrBadBackend = errors.New("backend id not below Options.MaxBackends")
)

// resolved returns o with defaults filled in, or an error naming the first
// bad field.
func (o Options) resolved() (Options, error) {
	if o.Seed == 0 {
		o.Seed = balancer.DefaultSeed
	}
	if o.RingSize == 0 {
		o.RingSize = DefaultRingSize
	}
	if o.RingSize > maglev.MaxSize {
		return o, fmt.Errorf("xdp: options.RingSize %d: %w (max %d)", o.RingSize, ErrTooLarge, maglev.MaxSize)
	}
	if !maglev.IsPrime(o.RingSize) {
		return o, fmt.Errorf("xdp: options.RingSize %d: %w", o.RingSize, maglev.ErrSizeNotPrime)
	}
	for _, f := range []struct {
		name     string
		v        *int
		def, max int
	}{
		{"ConnTableSize", &o.ConnTableSize, DefaultConnTableSize, MaxTableSize},
		{"FragTableSize", &o.FragTableSize, DefaultFragTableSize, MaxTableSize},
		{"HintTableSize", &o.HintTableSize, DefaultHintTableSize, MaxTableSize},
		{"OrphanCredits", &o.OrphanCredits, DefaultOrphanCredits, MaxTableSize},
		{"MaxBackends", &o.MaxBackends, DefaultMaxBackends, 1 << 24},
	} {
		switch {
		case *f.v < 0:
			return o, fmt.Errorf("xdp: options.%s %d: %w", f.name, *f.v, ErrNegative)
		case *f.v > f.max:
			return o, fmt.Errorf("xdp: options.%s %d: %w (max %d)", f.name, *f.v, ErrTooLarge, f.max)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	switch {
	case o.FragTimeout < 0:
		return o, fmt.Errorf("xdp: options.FragTimeout %v: %w", o.FragTimeout, ErrNegative)
	case o.FragTimeout == 0:
		o.FragTimeout = DefaultFragTimeout
	}
	switch o.OrphanPolicy {
	case OrphanDefault:
		o.OrphanPolicy = DefaultOrphanPolicy
	case OrphanHash3, OrphanHostHint:
	default:
		return o, fmt.Errorf("xdp: options.OrphanPolicy %d: %w", o.OrphanPolicy, ErrBadPolicy)
	}
	switch o.OrphanAdmission {
	case AdmitDefault:
		o.OrphanAdmission = DefaultOrphanAdmission
	case AdmitAll, AdmitEarned:
	default:
		return o, fmt.Errorf("xdp: options.OrphanAdmission %d: %w", o.OrphanAdmission, ErrBadPolicy)
	}
	for i, v := range o.VIPs {
		if !v.Is4() {
			return o, fmt.Errorf("xdp: options.VIPs[%d] %v: %w", i, v, ErrNotIPv4)
		}
	}
	if o.AttachMode > AttachNative {
		return o, fmt.Errorf("xdp: options.AttachMode %d: %w", o.AttachMode, ErrBadPolicy)
	}
	if o.SourceAddr.IsValid() && !o.SourceAddr.Is4() {
		return o, fmt.Errorf("xdp: options.SourceAddr %v: %w", o.SourceAddr, ErrNotIPv4)
	}
	o.VIPs = append([]netip.Addr(nil), o.VIPs...)
	return o, nil
}

// be32 returns the network-order bytes of a as the native little-endian
// word the kernel stores in a __u32 field.
func be32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
