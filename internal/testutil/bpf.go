// Package testutil holds helpers shared by the tests of this module: the
// skip-or-fail rule of tests that need kernel privileges (loading eBPF
// programs, creating network namespaces), [Backends], the backend set
// the balancers' and the kernel program's tests use, and [OutsideModule]
// with [GoBuild], which build code as a user's module outside this
// repository would. It is internal: nothing here is a stable API.
//
// # Skip or fail
//
// A test that needs the kernel calls [RequireBPF] (or [RequireRoot]) first.
// Without the privileges it skips with a reason; when the environment
// variable named by [RequireBPFEnv] is "1" (CI sets it in .ci/run) it fails
// instead, so that a CI machine that lost its privileges cannot turn the
// kernel tests into silent skips.
package testutil

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// RequireBPFEnv is the environment variable that turns skips into failures.
const RequireBPFEnv = "TITANLB_REQUIRE_BPF"

// Linux capability numbers (include/uapi/linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capBPF      = 39
)

// Required reports whether [RequireBPFEnv] is set to "1".
func Required() bool { return os.Getenv(RequireBPFEnv) == "1" }

// SkipOrFail skips tb with reason, or fails it when [Required] is true.
func SkipOrFail(tb testing.TB, reason string) {
	tb.Helper()
	if Required() {
		tb.Fatalf("%s (and %s=1 forbids skipping)", reason, RequireBPFEnv)
		return
	}
	tb.Skip(reason)
}

// RequireBPF skips tb (or fails it, see [SkipOrFail]) unless the process
// can load and attach eBPF programs: effective user root, or the
// capabilities CAP_BPF and CAP_NET_ADMIN (or CAP_SYS_ADMIN).
func RequireBPF(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	caps, err := effectiveCaps()
	if err != nil {
		SkipOrFail(tb, "ebpf: cannot read capabilities: "+err.Error())
		return
	}
	has := func(c uint) bool { return caps&(1<<c) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capNetAdmin)) {
		return
	}
	SkipOrFail(tb, "ebpf: needs root or CAP_BPF+CAP_NET_ADMIN")
}

// RequireRoot skips tb (or fails it, see [SkipOrFail]) unless the process
// runs as root: creating network namespaces and veth pairs with ip(8)
// needs more than CAP_BPF.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(tb, "needs root (network namespaces, veth pairs)")
	}
}

// effectiveCaps reads the CapEff mask from /proc/self/status.
func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, os.ErrNotExist
}
