package api

// unsubscribe.go: the one-click unsubscribe endpoint (RFC 8058) that List-Unsubscribe URLs
// point at (submission adds them on "unsubscribe": true). No key, no cookie: the token in the
// path is an HMAC over the sending domain, the recipient and the message (queue
// UnsubscribeToken), so it can only ever suppress that recipient for that domain.
//
//	GET  /u/{token}  a confirmation page with a button; it never unsubscribes (mail scanners
//	                 and link previews fetch URLs)
//	POST /u/{token}  with the body List-Unsubscribe=One-Click: the recipient goes on the
//	                 domain's suppression list (reason unsubscribe); 200, idempotent

import (
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"multimail.dev/multimail/queue"
)

// maxUnsubscribeBody bounds the POST body (the one-click body is 26 bytes).
const maxUnsubscribeBody = 4096

var unsubscribePage = template.Must(template.New("u").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{if .Done}}Unsubscribed{{else}}Unsubscribe{{end}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1rem}</style>
</head><body>
{{if .Done}}<h1>Unsubscribed</h1>
<p><b>{{.Rcpt}}</b> will no longer receive mail from <b>{{.Domain}}</b> sent through this server.</p>
{{else}}<h1>Unsubscribe?</h1>
<p>Stop mail from <b>{{.Domain}}</b> to <b>{{.Rcpt}}</b>?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>
{{end}}</body></html>
`))

// unsubscribeHeaders are the security headers of both answers: no script, no embedding, no
// referrer carrying the token elsewhere, no caching.
func unsubscribeHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// unsubscribeGet is GET /u/{token}: the confirmation page (404 for a token that does not
// verify). It changes nothing.
func (s *Server) unsubscribeGet(w http.ResponseWriter, r *http.Request) {
	if s.opts.Queue == nil {
		s.writeError(w, r, errNotFound("unsubscribe link"))
		return
	}
	d, rcpt, _, ok := s.opts.Queue.ParseUnsubscribeToken(r.PathValue("token"))
	if !ok {
		s.writeError(w, r, errNotFound("unsubscribe link"))
		return
	}
	unsubscribeHeaders(w)
	_ = unsubscribePage.Execute(w, map[string]any{"Domain": d, "Rcpt": rcpt})
}

// unsubscribePost is POST /u/{token} with List-Unsubscribe=One-Click (form-urlencoded or
// multipart, as RFC 8058 §3.1 allows): the suppression, then 200.
func (s *Server) unsubscribePost(w http.ResponseWriter, r *http.Request) {
	if s.opts.Queue == nil {
		s.writeError(w, r, errNotFound("unsubscribe link"))
		return
	}
	tok := r.PathValue("token")
	if _, _, _, ok := s.opts.Queue.ParseUnsubscribeToken(tok); !ok {
		s.writeError(w, r, errNotFound("unsubscribe link"))
		return
	}
	form, err := oneClickForm(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if form.Get("List-Unsubscribe") != "One-Click" {
		s.writeError(w, r, errField("List-Unsubscribe", "the body must be List-Unsubscribe=One-Click (RFC 8058)"))
		return
	}
	sup, err := s.opts.Queue.Unsubscribe(detached(r.Context()), tok, "one-click unsubscribe (RFC 8058)")
	if errors.Is(err, queue.ErrNotFound) {
		s.writeError(w, r, errNotFound("unsubscribe link"))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	unsubscribeHeaders(w)
	_ = unsubscribePage.Execute(w, map[string]any{"Done": true, "Domain": sup.Domain, "Rcpt": sup.Address})
}

// oneClickForm reads the POST body (bounded) as application/x-www-form-urlencoded or
// multipart/form-data.
func oneClickForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUnsubscribeBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		if err := r.ParseMultipartForm(maxUnsubscribeBody); err != nil {
			return nil, errField("body", "not a readable multipart form")
		}
		return r.MultipartForm.Value, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, errTooLarge(maxUnsubscribeBody)
	}
	v, err := url.ParseQuery(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, errField("body", "not a form (List-Unsubscribe=One-Click)")
	}
	return v, nil
}
