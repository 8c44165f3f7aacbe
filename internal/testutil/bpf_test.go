package testutil

import (
	"os"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatalf instead of stopping.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = true
	if len(args) > 0 {
		r.msg, _ = args[0].(string)
	}
}
func (r *recorder) Fatalf(format string, args ...any) { r.failed = true; r.msg = format }

func TestSkipOrFail(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        string
		skip, fail bool
	}{
		{"unset skips", "", true, false},
		{"zero skips", "0", true, false},
		{"one fails", "1", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireBPFEnv, tc.env)
			r := &recorder{TB: t}
			SkipOrFail(r, "needs a thing")
			if r.skipped != tc.skip || r.failed != tc.fail {
				t.Errorf("skipped=%v failed=%v, want %v %v", r.skipped, r.failed, tc.skip, tc.fail)
			}
		})
	}
}

func TestEffectiveCaps(t *testing.T) {
	caps, err := effectiveCaps()
	if err != nil {
		t.Fatal(err)
	}
	// Root holds CAP_BPF, which is above bit 31: a parse that truncated
	// to 32 bits or read another line would miss it.
	if isRoot() && caps&(1<<capBPF) == 0 {
		t.Errorf("root without CAP_BPF in CapEff %#x", caps)
	}
}

func isRoot() bool { return os.Geteuid() == 0 }
