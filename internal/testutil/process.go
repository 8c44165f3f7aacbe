package testutil

import (
	"bytes"
	"os"
	"sync"
	"testing"
)

// MainOrTests is a TestMain for a command's tests that also run the
// command as a process of its own: when the environment variable env is
// "1" (a test started this test binary with it set), it runs main instead
// of the tests; otherwise it runs m's tests and exits with their status.
func MainOrTests(m *testing.M, env string, main func()) {
	if os.Getenv(env) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// SyncBuffer is a bytes.Buffer that a process or server may write to
// while a test reads it: its methods are safe to call concurrently. The
// zero value is an empty buffer ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
