package api

// This file is how the API reads request bodies from clients it cannot trust: a read
// deadline for the whole body (slowloris), no reading at all after a refusal such as a
// failed authentication (answer and close), and an oversize body answered with a 413 the
// client actually receives (read and discard up to a bound, then close) instead of a reset.

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"multimail.dev/multimail/submission"
)

const (
	// DefaultBodyTimeout is Options.BodyTimeout when zero: the time a client has to send a
	// request body, from the end of its header.
	DefaultBodyTimeout = 30 * time.Second
	// lingerTimeout bounds the read-and-discard of an oversize body after the 413.
	lingerTimeout = 10 * time.Second
	// minLinger is the least an oversize body is read for; a 60 MB upload then gets its 413.
	minLinger = 64 << 20
)

// errBodyTimeout answers a body not sent within Options.BodyTimeout.
var errBodyTimeout = &Error{Status: http.StatusRequestTimeout, Code: "request_timeout",
	Message: "the request body was not sent in time"}

// Unwrap lets http.ResponseController reach the connection's ResponseWriter.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bodyGuard watches one request's body on its way through wrap.
type bodyGuard struct {
	s    *Server
	w    http.ResponseWriter
	rc   *http.ResponseController
	orig io.ReadCloser // the server's body, under any MaxBytesReader
	eof  bool          // the handler read the body to its end
}

// guardBody gives r's body a read deadline (cleared once the body is read, so a handler
// that works or streams longer is not cut off) and lets the handler write before the body
// is read (full duplex), so that a refusal does not first wait for a body it will not use.
func (s *Server) guardBody(w http.ResponseWriter, r *http.Request) *bodyGuard {
	g := &bodyGuard{s: s, w: w, rc: http.NewResponseController(w), orig: r.Body}
	if r.Body == nil || r.Body == http.NoBody {
		g.eof = true
		return g
	}
	_ = g.rc.EnableFullDuplex()                                  // HTTP/1 only; HTTP/2 always is
	_ = g.rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout)) // fails only on HTTP/2 without support
	r.Body = &guardedBody{ReadCloser: r.Body, g: g}
	return g
}

// refused prepares the response to a request refused with status: unless the body was read
// to its end, the connection is closed after the answer. A 413 first reads and discards
// what the client still sends, up to a bound, so the client gets to read its answer instead
// of a reset; any other refusal (401 first of all) reads nothing more.
func (g *bodyGuard) refused(status int) (linger bool) {
	if g.eof {
		return false
	}
	g.w.Header().Set("Connection", "close")
	if status != http.StatusRequestEntityTooLarge {
		_ = g.rc.SetReadDeadline(time.Now()) // the server's own discard ends at once
		return false
	}
	return true
}

// linger flushes the answer already written, then reads and discards the rest of the body
// (at most four times the body limit or minLinger, within lingerTimeout) so the close that follows is
// not a reset with the answer unread.
func (g *bodyGuard) linger() {
	_ = g.rc.Flush()
	_ = g.rc.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, g.orig, max(4*g.s.opts.MaxBodyBytes, minLinger))
	_ = g.rc.SetReadDeadline(time.Now())
}

// done clears the body deadline of a request whose body was read.
func (g *bodyGuard) done() {
	if g.eof {
		_ = g.rc.SetReadDeadline(time.Time{})
	}
}

// guardedBody notes the end of the body and clears the deadline there.
type guardedBody struct {
	io.ReadCloser
	g *bodyGuard
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.g.eof {
		b.g.eof = true
		_ = b.g.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

const (
	// smallBody is the size under which a request takes no memory budget.
	smallBody = 256 << 10
	// bodyCostFactor is how many times its size a send holds at its peak: the JSON text in
	// the decoder, the decoded attachments, the composed and the signed message.
	bodyCostFactor = 4
)

// reserveBody takes the memory budget of a large request before its body is read: its
// declared length (the limit when it declares none) times bodyCostFactor. Without budget in
// time, the answer is 503 with Retry-After and the body is not read.
func (s *Server) reserveBody(r *http.Request) (release func(), err error) {
	n := r.ContentLength
	if n < 0 || n > s.opts.MaxBodyBytes {
		n = s.opts.MaxBodyBytes
	}
	if n < smallBody {
		return func() {}, nil
	}
	return s.opts.Budget.Reserve(r.Context(), bodyCostFactor*n)
}

// decodeSendRequest decodes a send_email body as it streams in: the JSON text is held once,
// in the decoder, and each attachment is decoded from base64 into its own slice. Errors of
// the body itself (over the limit, too slow) come back as such, not as bad JSON.
func decodeSendRequest(r *http.Request) (*submission.SendRequest, error) {
	br := &bodyErr{r: r.Body}
	req, err := submission.DecodeSendRequest(br)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(br.err, &mbe):
		return nil, errTooLarge(mbe.Limit)
	case errors.Is(br.err, os.ErrDeadlineExceeded):
		return nil, errBodyTimeout
	case br.err != nil:
		return nil, errField("body", "could not be read: %v", br.err)
	}
	return req, err
}

// bodyErr remembers the first read error of a body other than io.EOF.
type bodyErr struct {
	r   io.Reader
	err error
}

func (b *bodyErr) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}
