// Package httpserver is the HTTP server the project's daemons (the agent's
// metrics, the dashboard) run: every phase of a connection is bounded in
// time and the connections served at once are bounded in number, so that
// clients that never finish a request cannot exhaust the process's file
// descriptors or memory.
package httpserver

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Bounds of a connection.
const (
	ReadHeaderTimeout = 5 * time.Second  // the request line and headers
	ReadTimeout       = 10 * time.Second // the whole request, body included (bodies are small)
	WriteTimeout      = 30 * time.Second // the answer
	IdleTimeout       = 60 * time.Second // a keep-alive connection between requests
	MaxHeaderBytes    = 16 << 10
	// MaxConns bounds the connections served at once; more wait in the
	// kernel's accept queue, holding no file descriptor of the process.
	MaxConns = 256
)

// New returns a server for h with the bounds above.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Limit returns ln accepting at most [MaxConns] connections at once.
func Limit(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, MaxConns)
}
