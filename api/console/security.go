package console

import (
	"net"
	"net/http"
	"strings"
)

// Content-Security-Policy of the console's pages: nothing but its own script, style and frames.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// htmlCSP is the policy of a held message's HTML, served from its own endpoint into a sandboxed
// iframe: no script, no remote anything; inline styles and embedded (data:, cid:) images only.
const htmlCSP = "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"

// pageHeaders sets the headers every console response carries.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// hostAllowed reports whether the request's Host names this console: a loopback address,
// "localhost", or one of the configured names. Anything else is refused, so a page on an
// attacker's domain that resolves to 127.0.0.1 (DNS rebinding) never reaches the console.
func (c *Console) hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range c.opts.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether a state-changing request comes from the console's own pages. A
// browser says so in Sec-Fetch-Site; without it (an older browser), Origin must name this
// host when present. (With Referrer-Policy: no-referrer a browser sends "Origin: null" even on
// same-origin posts, which is why Sec-Fetch-Site comes first.) The CSRF token is checked too.
func (c *Console) sameOrigin(r *http.Request) bool {
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" {
		return sfs == "same-origin"
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	return strings.EqualFold(o, c.scheme(r)+"://"+r.Host)
}

// scheme is "https" when the request came over TLS (or Options.Secure says a TLS proxy is in
// front), else "http".
func (c *Console) scheme(r *http.Request) string {
	if c.secure(r) {
		return "https"
	}
	return "http"
}

func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.opts.Secure }
