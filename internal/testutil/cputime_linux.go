package testutil

import (
	"time"

	"golang.org/x/sys/unix"
)

// ThreadCPU returns the CPU time the calling OS thread has used. Unlike
// the wall clock it leaves out the time other work on a shared machine
// held the CPU, so a benchmark that compares two pieces of code run in
// turn on one thread can compare their ThreadCPU differences. The caller
// locks its goroutine to the thread (runtime.LockOSThread).
func ThreadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return time.Duration(time.Now().UnixNano())
	}
	return time.Duration(ts.Nano())
}
