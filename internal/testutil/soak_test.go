package testutil

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	n := 0
	w := Watch(ctx, t, 50*time.Millisecond, func() error {
		n++
		if n%2 == 0 {
			return errors.New("even")
		}
		return nil
	}, os.Getpid(), "test", func() string { return "" })
	// The last probe may fail after ctx ended, which Watch does not count.
	fails := len(w.Failures)
	if n%2 == 0 && fails == n/2-1 {
		fails++
	}
	if n < 10 || len(w.Latencies) != (n+1)/2 || fails != n/2 {
		t.Errorf("%d probes: %d latencies and %d failures, want every odd one to succeed and every even one to fail", n, len(w.Latencies), len(w.Failures))
	}
	if len(w.Samples) < 2 || w.Elapsed < time.Second {
		t.Errorf("%d samples over %v, want one every 500 ms over 1.2 s", len(w.Samples), w.Elapsed)
	}
	if rss, fds := w.Peak(); rss <= 0 || fds <= 0 {
		t.Errorf("peak RSS %d, fds %d: want this process's, above 0", rss, fds)
	}
}

func TestGetOK(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("body"))
	}))
	defer hs.Close()
	if b, err := GetOK(hs.Client(), hs.URL+"/"); err != nil || string(b) != "body" {
		t.Errorf("GetOK(/) = %q, %v; want the body", b, err)
	}
	if _, err := GetOK(hs.Client(), hs.URL+"/missing"); err == nil || err.Error() != "status 404" {
		t.Errorf("GetOK(/missing): %v, want status 404", err)
	}
}
