package inbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/smtpserver"
)

// session is one inbound SMTP session. go-smtp calls it from the connection's goroutine only
// (BDAT's Data runs on another goroutine while this one waits), so it needs no lock. Mail and
// Rcpt only check and collect; Data reads, verifies and delivers, each delivery committed
// before the 250.
type session struct {
	srv    *Server
	conn   *smtp.Conn
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	id     string // trace id for Received:, per session
	seq    int    // messages in this session

	env      envelope
	utf8     bool
	sizeHint int64
	rcpts    []mailbox.Mailbox // local recipients, deduplicated
	bounces  []bounceRcpt      // VERP bounce recipients
	abuse    bool              // a recipient is abuse@ of a local domain: an ARF report there is a complaint
	badRcpts int
}

// bounceRcpt is a RCPT to a VERP bounce address.
type bounceRcpt struct {
	address, msgID string
}

var _ smtp.Session = (*session)(nil)

// newSession is go-smtp's Backend, called at EHLO/HELO (again after STARTTLS): one session
// per connection, its context a child of the server's, cancelled at Logout.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	ctx, cancel := context.WithCancel(s.core.Context())
	_, tls := c.TLSConnectionState()
	n := s.connID.Add(1)
	ss := &session{
		srv: s, conn: c, ctx: ctx, cancel: cancel, id: traceID(),
		log: s.log.With("conn_id", n, "remote", c.Conn().RemoteAddr().String(), "tls", tls),
		env: envelope{ip: remoteIP(c.Conn().RemoteAddr())},
	}
	s.metrics.sessions.Inc()
	return ss, nil
}

// traceID is a random id naming the session in Received: fields and logs.
func traceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Mail implements smtp.Session: any reverse-path is accepted here (SPF judges it later).
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.Reset()
	s.env.helo = s.conn.Hostname()
	s.env.mailFrom = from
	if opts != nil {
		s.utf8 = opts.UTF8
		s.sizeHint = opts.Size
	}
	return nil
}

// Rcpt implements smtp.Session: an existing local mailbox, or a VERP bounce address of a
// local domain; 550 5.1.1 for an unknown user, 554 5.7.1 for another domain (we never relay).
// go-smtp enforces the recipient limit (452 4.5.3).
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	r, err := s.srv.classify(s.ctx, to)
	if err != nil {
		s.srv.metrics.recipients.WithLabelValues(rcptOutcome(err)).Inc()
		s.log.Info("recipient refused", "rcpt", to, "err", err)
		return s.refused(err)
	}
	switch {
	case r.bounceID != "":
		s.srv.metrics.recipients.WithLabelValues("bounce").Inc()
		s.bounces = append(s.bounces, bounceRcpt{address: to, msgID: r.bounceID})
	case !s.hasRcpt(r.mbox.Address):
		if err := s.srv.roomFor(s.ctx, r.mbox.Address, s.sizeHint); err != nil {
			s.srv.metrics.recipients.WithLabelValues(rcptOutcome(err)).Inc()
			s.log.Info("recipient refused", "rcpt", to, "err", err)
			return reply(err)
		}
		s.srv.metrics.recipients.WithLabelValues("local").Inc()
		s.rcpts = append(s.rcpts, r.mbox)
	}
	s.abuse = s.abuse || r.abuse
	return nil
}

// refused counts a refused recipient; at the limit the connection is closed after a 421.
func (s *session) refused(err error) error {
	if reply(err).Code/100 != 5 {
		return reply(err)
	}
	s.badRcpts++
	if s.badRcpts >= s.srv.opts.MaxBadRecipients {
		s.log.Warn("too many refused recipients, closing", "count", s.badRcpts)
		smtpserver.Expire(s.conn)
		return reply(ErrTooManyBadRecipients)
	}
	return reply(err)
}

// hasRcpt reports whether address is already a recipient of this transaction.
func (s *session) hasRcpt(address string) bool {
	for _, m := range s.rcpts {
		if m.Address == address {
			return true
		}
	}
	return false
}

// Data implements smtp.Session: the body is read whole (bounded by SIZE), refused on a bare CR
// or LF, reported to the queue when it is a DSN to a bounce address, and delivered to every
// local recipient. The 250 comes only after every delivery has been committed.
func (s *session) Data(r io.Reader) error {
	s.seq++
	raw, err := s.readData(r)
	if err != nil {
		s.log.Info("data refused", "err", err)
		s.srv.metrics.messages.WithLabelValues("rejected").Inc()
		return reply(err)
	}
	if err := s.handleAbuseReport(raw); err != nil {
		s.log.Error("recording complaint", "err", err)
		s.srv.metrics.messages.WithLabelValues("error").Inc()
		return reply(err)
	}
	if err := s.handleBounces(raw); err != nil {
		s.log.Error("recording bounce", "err", err)
		s.srv.metrics.messages.WithLabelValues("error").Inc()
		return reply(err)
	}
	if len(s.rcpts) == 0 {
		return smtpserver.Reply(250, 2, 0, 0, "OK: report processed")
	}
	ids, err := s.deliver(raw)
	if err != nil {
		return reply(err)
	}
	return smtpserver.Reply(250, 2, 0, 0, "OK: stored as "+strings.Join(ids, " "))
}

// readData reads the message through the core (smtpserver.ReadData): bounded by SIZE, the idle
// timeout refreshed between reads, and refused on a bare CR or LF anywhere (RFC 5321 §2.3.8;
// SMTP smuggling), including the ".\r" lines go-smtp's own reader would hide. With BDAT the
// same check applies to the chunks.
func (s *session) readData(r io.Reader) ([]byte, error) {
	return s.srv.core.ReadData(s.conn, r, s.sizeHint)
}

// Reset implements smtp.Session: it drops the transaction's envelope.
func (s *session) Reset() {
	s.env.mailFrom, s.utf8, s.sizeHint = "", false, 0
	s.rcpts, s.bounces, s.abuse = nil, nil, false
}

// Logout implements smtp.Session: it cancels the session's context.
func (s *session) Logout() error {
	s.cancel()
	s.srv.metrics.sessions.Dec()
	return nil
}
