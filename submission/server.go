package submission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/throttle"
)

// ServerOptions configures the SMTP submission listeners. Zero values take the defaults.
type ServerOptions struct {
	Hostname  string      // greeting and EHLO name; default "localhost"
	TLSConfig *tls.Config // required: STARTTLS on submission, implicit TLS on submissions
	// TrustedNetworks may submit without AUTH, in plain text too, as any local mailbox
	// (CONTRACT.md §2 [submission] trusted_networks).
	TrustedNetworks []netip.Prefix
	MaxMessageBytes int64         // default 25 MiB (SIZE)
	MaxRecipients   int           // default 100 per transaction
	MaxLineLength   int           // default 2000 (go-smtp's: twice RFC 5321 §4.5.3.1.6)
	ReadTimeout     time.Duration // idle limit per command or data read; default 5 min (RFC 5321 §4.5.3.2.7)
	WriteTimeout    time.Duration // default 1 min
	// MaxCommands bounds the transaction commands (MAIL, RCPT, DATA, RSET, EHLO, AUTH) of
	// one connection; default 1000. Over it: 421 4.7.0 and the connection is closed.
	MaxCommands int
	// MaxSessionTime bounds a connection's life whatever it does (NOOP loops included);
	// default 30 min. At the limit the next read fails and the client gets 421.
	MaxSessionTime time.Duration
	// MaxAuthFailures closes the connection after this many failed AUTH; default 3.
	MaxAuthFailures int
	// Throttle refuses AUTH from clients and to accounts with too many failed logins (421
	// 4.7.0, connection closed) before the secret is checked; nil throttles nothing. One
	// Limiter is shared with the other doors.
	Throttle *throttle.Limiter
	Logger   *slog.Logger
}

// Server runs the submission (STARTTLS) and submissions (implicit TLS) listeners.
type Server struct {
	sub                *Submitter
	opts               ServerOptions
	log                *slog.Logger
	starttls, implicit *smtp.Server
	base               context.Context // parent of every session's context
	cancel             context.CancelFunc
	connID             atomic.Uint64
	conns              *connSet // every session connection of both listeners
}

// NewServer makes the submission listeners' server; call ServeSubmission and ServeSubmissions.
func NewServer(sub *Submitter, opts ServerOptions) *Server {
	opts = serverDefaults(opts)
	s := &Server{sub: sub, opts: opts, log: opts.Logger, conns: newConnSet()}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.starttls = s.newSMTPServer()
	s.implicit = s.newSMTPServer()
	return s
}

// serverDefaults fills the zero values of o.
func serverDefaults(o ServerOptions) ServerOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadTimeout, 5*time.Minute)
	def(&o.WriteTimeout, time.Minute)
	def(&o.MaxSessionTime, 30*time.Minute)
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = DefaultMaxRecipients
	}
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = 2000
	}
	if o.MaxCommands <= 0 {
		o.MaxCommands = 1000
	}
	if o.MaxAuthFailures <= 0 {
		o.MaxAuthFailures = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// newSMTPServer configures one go-smtp server. AllowInsecureAuth stays false: go-smtp then
// neither advertises nor accepts AUTH before TLS (523 5.7.10), RFC 4954 §4.
func (s *Server) newSMTPServer() *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = s.opts.Hostname
	srv.TLSConfig = s.opts.TLSConfig
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.MaxRecipients = s.opts.MaxRecipients
	srv.MaxLineLength = s.opts.MaxLineLength
	srv.ReadTimeout = s.opts.ReadTimeout
	srv.WriteTimeout = s.opts.WriteTimeout
	srv.AllowInsecureAuth = false
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{s.log}
	return srv
}

// ServeSubmission serves the submission port (587) with STARTTLS until Shutdown. It returns nil
// after Shutdown.
func (s *Server) ServeSubmission(l net.Listener) error {
	return s.serve(s.starttls, s.limit(l))
}

// ServeSubmissions serves the submissions port (465) with implicit TLS (RFC 8314 §3.3).
func (s *Server) ServeSubmissions(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("submission: submissions needs a TLS config")
	}
	return s.serve(s.implicit, tls.NewListener(s.limit(l), s.opts.TLSConfig))
}

// limit wraps l so that its connections have a lifetime and are tracked for Shutdown.
func (s *Server) limit(l net.Listener) net.Listener {
	return &limitListener{Listener: l, maxLife: s.opts.MaxSessionTime, conns: s.conns}
}

// serve runs one go-smtp server; ErrServerClosed after Shutdown is a clean end.
func (s *Server) serve(srv *smtp.Server, l net.Listener) error {
	err := srv.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for the sessions to end until ctx is done. Then it cancels
// every session's context and closes every connection left (idle ones included), and waits up
// to shutdownGrace for their goroutines to finish, so that the queue may be closed after it.
// It returns ctx's error when sessions were still open at its end.
func (s *Server) Shutdown(ctx context.Context) error {
	errs := make(chan error, 2)
	for _, srv := range []*smtp.Server{s.starttls, s.implicit} {
		go func() { errs <- drain(ctx, srv) }()
	}
	err := errors.Join(<-errs, <-errs)
	s.cancel()
	n, empty := s.conns.closeAll()
	if n > 0 {
		s.log.Info("shutdown: closing open sessions", "sessions", n)
	}
	select {
	case <-empty:
	case <-time.After(shutdownGrace):
		s.log.Warn("shutdown: sessions still running after their connections were closed")
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// shutdownGrace bounds the wait for session goroutines once their connections are closed (one
// may be finishing an enqueue).
const shutdownGrace = 5 * time.Second

// drain closes one go-smtp server's listeners and waits for its sessions until ctx ends; the
// sessions still open then are closed by Shutdown.
func drain(ctx context.Context, srv *smtp.Server) error {
	err := srv.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) || ctx.Err() != nil {
		return nil // already shut down; or ctx's error, which Shutdown returns once
	}
	return err
}

// trusted reports whether addr is in TrustedNetworks.
func (s *Server) trusted(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.opts.TrustedNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// slogAdapter gives go-smtp's ErrorLog a slog logger.
type slogAdapter struct{ log *slog.Logger }

// Printf implements smtp.Logger.
func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Warn("smtp server", "detail", fmt.Sprintf(format, v...))
}

// Println implements smtp.Logger.
func (a slogAdapter) Println(v ...any) { a.log.Warn("smtp server", "detail", fmt.Sprintln(v...)) }
