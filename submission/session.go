package submission

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/smtpserver"
	"multimail.dev/multimail/throttle"
)

// session is one SMTP submission session. go-smtp calls it from the connection's goroutine
// only, so it needs no lock. Mail and Rcpt only check and collect; Data reads, checks and makes
// the one SubmitRaw call whose enqueue commits before the 250.
type session struct {
	srv       *Server
	conn      *smtp.Conn
	ctx       context.Context
	cancel    context.CancelFunc
	log       *slog.Logger
	principal *Principal // nil until AUTH (or from the start for trusted networks)
	from      string
	rcpts     []string
	sizeHint  int64
	commands  int
	authFails int
	addr      netip.Addr // the client's, for the login throttle
	// requireTLS: MAIL FROM carried REQUIRETLS (RFC 8689), only accepted over TLS.
	requireTLS bool
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// newSession is go-smtp's Backend: one session per connection (and a new one after STARTTLS),
// its context a child of the server's.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	ctx, cancel := context.WithCancel(s.core.Context())
	_, tls := c.TLSConnectionState()
	ss := &session{
		srv: s, conn: c, ctx: ctx, cancel: cancel, addr: throttle.AddrOf(c.Conn().RemoteAddr()),
		log: s.log.With("conn_id", s.connID.Add(1), "remote", c.Conn().RemoteAddr().String(), "tls", tls),
	}
	if s.trusted(c.Conn().RemoteAddr()) {
		ss.principal = &Principal{Mailbox: "*", Scopes: []string{"send"}, Source: "smtp"}
	}
	return ss, nil
}

// AuthMechanisms implements smtp.AuthSession; go-smtp offers them only under TLS.
func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

// submitScopes are what an API key used as the SMTP AUTH password must hold: submission
// sends, so an operator key (approve, admin, never send) cannot send through SMTP either.
var submitScopes = []string{mailbox.ScopeSend}

// Auth implements smtp.AuthSession: PLAIN (RFC 4616) and LOGIN, checked against the mailbox
// password or one of its API keys (mailbox.Store.Authenticate).
func (s *session) Auth(mech string) (sasl.Server, error) {
	if err := s.tick(); err != nil {
		return nil, err
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return s.authFailed(user) // no proxy authorization
			}
			return s.authenticate(user, pass)
		}), nil
	case sasl.Login:
		return newLoginServer(s.authenticate), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// authenticate checks one username and secret. The reply goes through go-smtp's AUTH handler,
// which writes a returned *smtp.SMTPError as is. A client or account over the login throttle's
// limits is refused, and the connection closed, before the secret is checked.
func (s *session) authenticate(user, pass string) error {
	th := s.srv.opts.Throttle
	if err := th.Check(throttle.SMTP, s.addr, user); err != nil {
		s.log.Info("authentication throttled", "user", user, "err", err)
		s.expire()
		return reply(err)
	}
	mb, err := s.srv.sub.opts.Store.Authenticate(s.ctx, strings.ToLower(user), pass, submitScopes)
	if errors.Is(err, mailbox.ErrBadCredentials) {
		th.Failure(throttle.SMTP, s.addr, user)
		return s.authFailed(user)
	}
	if err != nil {
		s.log.Error("authenticate", "err", err)
		return smtpserver.Reply(454, 4, 7, 0, "Temporary authentication failure")
	}
	th.Success(throttle.SMTP, s.addr, user)
	s.principal = s.principalFor(mb.Address, pass)
	s.log = s.log.With("mailbox", mb.Address, "key_id", s.principal.KeyID)
	s.log.Info("authenticated")
	return nil
}

// principalFor is the principal of a successful login: a password may send; an API key used as
// the password carries its own id and scopes, so a key without "send" cannot submit.
func (s *session) principalFor(addr, secret string) *Principal {
	p := &Principal{Mailbox: addr, Scopes: []string{"send"}, Source: "smtp"}
	if !mailbox.IsAPIKeySecret(secret) {
		return p
	}
	k, err := s.srv.sub.opts.Store.APIKeyByHash(s.ctx, mailbox.HashAPIKey(secret))
	if err != nil { // Authenticate just accepted it; a vanished key gets no scopes
		s.log.Warn("api key lookup after login", "err", err)
		p.Scopes = nil
		return p
	}
	p.KeyID, p.Scopes, p.Test = k.ID, mailbox.UsableScopes(k.Scopes), k.Test
	return p
}

// authFailed counts a failed AUTH: 535, or 421 and the end of the connection at the limit.
func (s *session) authFailed(user string) error {
	s.authFails++
	s.log.Info("authentication failed", "user", user, "failures", s.authFails)
	if s.authFails >= s.srv.opts.MaxAuthFailures {
		s.expire()
		return reply(ErrTooManyAuthFailures)
	}
	return reply(mailbox.ErrBadCredentials)
}

// Mail implements smtp.Session: the sender must be the authenticated mailbox (553 5.7.1), or
// a local mailbox for a trusted network; nobody else gets past 530 5.7.0.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if err := s.tick(); err != nil {
		return err
	}
	if s.principal == nil {
		return reply(ErrAuthRequired)
	}
	snd, err := s.srv.sub.rawSender(s.ctx, from, *s.principal)
	if err != nil {
		s.log.Info("sender refused", "from", from, "err", err)
		return reply(err)
	}
	if snd.mbox.Oversight == mailbox.ReadOnly { // refused at once rather than after DATA
		return reply(ErrForbidden)
	}
	s.requireTLS = false
	if opts != nil && opts.RequireTLS {
		if _, tls := s.conn.TLSConnectionState(); !tls {
			return smtpserver.Reply(530, 5, 7, 10, "REQUIRETLS needs a TLS session")
		}
		s.requireTLS = true
	}
	s.from = snd.mbox.Address
	if opts != nil {
		s.sizeHint = opts.Size
	}
	return nil
}

// Rcpt implements smtp.Session: any syntactically clean recipient (we are the user's relay);
// go-smtp enforces the recipient limit (452 4.5.3).
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.tick(); err != nil {
		return err
	}
	addr, msg := checkAddress(to)
	if msg != "" {
		s.log.Info("recipient refused", "rcpt", to, "why", msg)
		return reply(fieldErr("to", msg))
	}
	if s.from != "" {
		if err := s.srv.sub.CheckRcptSuppressed(s.ctx, s.from, fmt.Sprintf("to[%d]", len(s.rcpts)), addr); err != nil {
			s.log.Info("recipient refused", "rcpt", addr, "err", err)
			return reply(err)
		}
	}
	s.rcpts = append(s.rcpts, addr)
	return nil
}

// Data implements smtp.Session: the body is read whole (bounded by SIZE), refused on a bare CR
// or LF, and submitted. The 250 carries the queue id.
func (s *session) Data(r io.Reader) error {
	if err := s.tick(); err != nil {
		return err
	}
	body, err := s.readData(r)
	if err != nil {
		s.log.Info("data refused", "err", err)
		return reply(err)
	}
	body = append([]byte(s.received()), body...)
	rc, err := s.srv.sub.SubmitRawWith(s.ctx, s.from, s.rcpts, body, *s.principal, RawOptions{RequireTLS: s.requireTLS})
	if err != nil {
		s.log.Info("submission refused", "err", err)
		return reply(err)
	}
	return dataReply(rc)
}

// received is the trace field this hop adds (RFC 5321 §4.4; "with" per RFC 3848). The HELO
// name is client input: only host-name characters of it are kept.
func (s *session) received() string {
	proto := "ESMTP"
	if _, tls := s.conn.TLSConnectionState(); tls {
		proto += "S"
	}
	if s.principal != nil && s.principal.Mailbox != "*" {
		proto += "A"
	}
	ip := "unknown"
	if ap, err := netip.ParseAddrPort(s.conn.Conn().RemoteAddr().String()); err == nil {
		ip = ap.Addr().Unmap().String()
	}
	return fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s with %s;\r\n\t%s\r\n",
		traceName(s.conn.Hostname()), ip, s.srv.opts.Hostname, proto,
		s.srv.sub.clock.Now().Format(time.RFC1123Z))
}

// traceName keeps the letters, digits, '-', '.', ':', '[' and ']' of a HELO name.
func traceName(helo string) string {
	clean := strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-.:[]", r)) {
			return r
		}
		return -1
	}, helo)
	if clean == "" || len(clean) > 255 {
		return "unknown"
	}
	return clean
}

// dataReply is the final reply to DATA for an accepted message.
func dataReply(rc queue.Receipt) error {
	switch rc.Status {
	case queue.StatusRejected:
		return reply(ErrRejected)
	case queue.StatusPendingApproval:
		return smtpserver.Reply(250, 2, 0, 0, "OK: held for approval as "+rc.ID)
	}
	return smtpserver.Reply(250, 2, 0, 0, "OK: queued as "+rc.ID)
}

// readData reads the message through the core (smtpserver.ReadData): bounded by SIZE, the idle
// timeout refreshed between reads, and refused on a bare CR or LF anywhere (RFC 5321 §2.3.8;
// SMTP smuggling), including the ".\r" lines go-smtp's own reader would hide.
func (s *session) readData(r io.Reader) ([]byte, error) {
	return s.srv.core.ReadData(s.conn, r, s.sizeHint)
}

// Reset implements smtp.Session (RSET, EHLO again, the end of each DATA).
func (s *session) Reset() {
	s.from, s.rcpts, s.sizeHint = "", nil, 0
}

// Logout implements smtp.Session: the session's context ends.
func (s *session) Logout() error {
	s.cancel()
	return nil
}

// tick counts a command; over MaxCommands the reply is 421 and the connection ends.
func (s *session) tick() error {
	s.commands++
	if s.commands <= s.srv.opts.MaxCommands {
		return nil
	}
	s.log.Info("too many commands", "commands", s.commands)
	s.expire()
	return reply(ErrTooManyCommands)
}

// expire ends the connection after the current reply.
func (s *session) expire() { smtpserver.Expire(s.conn) }
