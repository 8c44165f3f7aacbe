//go:build !linux

package testutil

import "time"

// ThreadCPU falls back to the wall clock where the thread's CPU time is
// not available (see the Linux version).
func ThreadCPU() time.Duration { return time.Duration(time.Now().UnixNano()) }
