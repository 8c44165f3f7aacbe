// Package browsertest starts a headless Chromium for tests that drive a web
// page with [chromedp]. It touches nothing but the browser process it starts
// and the temporary directories of the test that asked for it.
//
// # Skipping and requiring
//
// When no Chromium binary is found, [New] skips the test and says why. When
// the environment variable TITANLB_REQUIRE_BROWSER is "1" (set in CI, which
// installs Debian's chromium), it fails the test instead, so that a browser
// test cannot silently stop running.
//
// # Flags
//
// The browser runs headless with a fresh profile under the test's temporary
// directory, without sandbox (tests run as root in CI), GPU, background
// networking, component updates, sync or QUIC: it talks only to the pages
// the test opens.
package browsertest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// RequireEnv is the environment variable that turns a missing browser from a
// skip into a failure when set to "1".
const RequireEnv = "TITANLB_REQUIRE_BROWSER"

// Candidates returns the Chromium binaries [Find] looks for, in order:
// absolute paths first (Debian's /usr/bin/chromium), then names on $PATH.
func Candidates() []string {
	return []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium", "chromium-browser", "google-chrome"}
}

// ErrNoBrowser is returned by [Find] when none of [Candidates] exists.
var ErrNoBrowser = errors.New("browsertest: no chromium binary (install Debian's chromium package)")

// Find returns the path of the first Chromium binary among [Candidates].
func Find() (string, error) { return find(Candidates()) }

func find(candidates []string) (string, error) {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// New starts a headless Chromium for tb and returns a chromedp context bound
// to a fresh tab, with a deadline of timeout (0: two minutes). The browser
// is stopped by tb.Cleanup. Without a browser, New skips tb, or fails it
// when [RequireEnv] is "1".
func New(tb testing.TB, timeout time.Duration) context.Context {
	tb.Helper()
	path, err := Find()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("%v; %s=1 requires it", err, RequireEnv)
		}
		tb.Skipf("%v; set %s=1 to fail instead of skipping", err, RequireEnv)
	}
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(tb.Logf))
	tb.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	// Start the browser now, so that a browser that cannot start fails here
	// with its own error rather than in the test's first action.
	if err := chromedp.Do(bctx); err != nil {
		tb.Fatalf("browsertest: start %s: %v", path, err)
	}
	return bctx
}
