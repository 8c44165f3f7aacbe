package main

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// tokenCookie is the cookie a visit to /?token=... sets, so that the page's
// own requests carry the token.
const tokenCookie = "titanlb_dashboard_token"

// guard puts h behind the server's access checks, in this order:
//
//  1. Host: the Host header must name this server (a loopback name or one
//     of [Config.Hosts]); otherwise 403. This defeats DNS rebinding, where
//     a foreign page's name is pointed at this server to read it.
//  2. Cross-origin writes: a POST a browser sends from another origin
//     (Sec-Fetch-Site, or an Origin that is not the Host) is refused with
//     403 by [http.CrossOriginProtection]; POSTs also have to be
//     application/json (see decode), which no form or no-cors fetch can
//     send.
//  3. Token: when [Config.Token] is set, every request carries it (a
//     Bearer header or the cookie), or gets 401. GET /?token=<token> sets
//     the cookie and redirects to /.
func (s *Server) guard(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		badRequest(w, http.StatusForbidden, "", "%s %s: cross-origin request refused (origin %q)", r.Method, r.URL.Path, r.Header.Get("Origin"))
	}))
	inner := cop.Handler(s.withToken(h))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			badRequest(w, http.StatusForbidden, "", "host %q: not a name of this server (start it with -allow-host %s to accept it)", r.Host, hostOnly(r.Host))
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a Host header names this server.
func (s *Server) hostAllowed(host string) bool {
	h := hostOnly(host)
	if h == "" {
		return false
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Unmap().IsLoopback() {
		return true
	}
	for _, ok := range s.cfg.Hosts {
		if strings.EqualFold(strings.TrimSuffix(ok, "."), h) {
			return true
		}
	}
	return false
}

// hostOnly returns the host of a Host header, without port, brackets or
// trailing dot, in lower case.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// withToken requires [Config.Token], when set, on every request.
func (s *Server) withToken(h http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet && r.URL.Path == "/" {
			if !s.tokenOK(q) {
				s.unauthorized(w)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.tokenOK(bearer) {
			h.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(tokenCookie); err == nil && s.tokenOK(c.Value) {
			h.ServeHTTP(w, r)
			return
		}
		s.unauthorized(w)
	})
}

func (s *Server) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.cfg.Token)) == 1
}

func (s *Server) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="titanlb dashboard"`)
	badRequest(w, http.StatusUnauthorized, "", "unauthorized: send \"Authorization: Bearer <token>\", or open /?token=<token> once in the browser")
}

// checkToken says what is wrong with a token given on the command line.
func checkToken(t string) string {
	if len(t) < 16 {
		return "must be at least 16 characters"
	}
	for _, r := range t {
		if r <= ' ' || r > '~' || r == '"' || r == ';' || r == ',' || r == '\\' {
			return "printable ASCII only, without space, quote, comma, semicolon or backslash"
		}
	}
	return ""
}
