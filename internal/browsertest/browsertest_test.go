package browsertest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestNew opens a page served by the test and reads back what its script
// wrote, so the browser is known to run JavaScript and reach the loopback.
func TestNew(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<p id="out">static</p><script>document.getElementById('out').textContent = 'ran ' + (6*7)</script>`))
	}))
	defer hs.Close()
	ctx := New(t, 0)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out")))
	if err != nil {
		t.Fatal(err)
	}
	if got != "ran 42" {
		t.Errorf("page text %q, want %q", got, "ran 42")
	}
}

func TestFindMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := find([]string{"/nonexistent/chromium", "no-such-chromium"}); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("find error %v, want ErrNoBrowser", err)
	}
	if p, err := find([]string{"/nonexistent/chromium", os.Args[0]}); err != nil || p != os.Args[0] {
		t.Errorf("find = %q, %v; want the test binary %q", p, err, os.Args[0])
	}
}
