package submission

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/smtpserver"
	"multimail.dev/multimail/throttle"
)

// ServerOptions configures the SMTP submission listeners. Zero values take the defaults.
type ServerOptions struct {
	Hostname  string      // greeting and EHLO name; default "localhost"
	TLSConfig *tls.Config // required: STARTTLS on submission, implicit TLS on submissions
	// TrustedNetworks may submit without AUTH, in plain text too, as any local mailbox
	// (docs/configuration.md, [submission] trusted_networks).
	TrustedNetworks []netip.Prefix
	MaxMessageBytes int64         // default 25 MiB (SIZE)
	MaxRecipients   int           // default 100 per transaction
	MaxLineLength   int           // default 2000 (go-smtp's: twice RFC 5321 §4.5.3.1.6)
	ReadTimeout     time.Duration // idle limit per command and between data reads; default 5 min (RFC 5321 §4.5.3.2.7)
	WriteTimeout    time.Duration // default 1 min
	// MaxCommands bounds the transaction commands (MAIL, RCPT, DATA, RSET, EHLO, AUTH) of
	// one connection; default 1000. Over it: 421 4.7.0 and the connection is closed.
	MaxCommands int
	// MaxSessionTime bounds a connection's life whatever it does (NOOP loops included);
	// default 30 min. At the limit the next read fails and the client gets 421.
	MaxSessionTime time.Duration
	// MaxAuthFailures closes the connection after this many failed AUTH; default 3.
	MaxAuthFailures int
	// Admit, when set, is asked at MAIL FROM and before DATA whether mail may be taken now
	// (a free-space floor); an error is 452 4.3.1 Insufficient system storage. nil: always.
	Admit func() error
	// Throttle refuses AUTH from clients and to accounts with too many failed logins (421
	// 4.7.0, connection closed) before the secret is checked; nil throttles nothing. One
	// Limiter is shared with the other doors.
	Throttle *throttle.Limiter
	Logger   *slog.Logger
}

// Server runs the submission (STARTTLS) and submissions (implicit TLS) listeners.
type Server struct {
	sub    *Submitter
	opts   ServerOptions
	log    *slog.Logger
	core   *smtpserver.Server // both listeners
	connID atomic.Uint64
}

// NewServer makes the submission listeners' server; call ServeSubmission and ServeSubmissions.
func NewServer(sub *Submitter, opts ServerOptions) *Server {
	opts = serverDefaults(opts)
	s := &Server{sub: sub, opts: opts, log: opts.Logger}
	s.core = smtpserver.New(smtp.BackendFunc(s.newSession), smtpserver.Options{
		Hostname: opts.Hostname, TLSConfig: opts.TLSConfig,
		MaxMessageBytes: opts.MaxMessageBytes, MaxRecipients: opts.MaxRecipients,
		MaxLineLength: opts.MaxLineLength, ReadTimeout: opts.ReadTimeout,
		WriteTimeout: opts.WriteTimeout, MaxSessionTime: opts.MaxSessionTime,
		Admit: opts.Admit, Logger: opts.Logger,
		RequireTLS: true, // REQUIRETLS (RFC 8689): opt-in per message by the client
	})
	return s
}

// serverDefaults fills the zero values of o that the core does not.
func serverDefaults(o ServerOptions) ServerOptions {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = DefaultMaxRecipients
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

// ServeSubmission serves the submission port (587) with STARTTLS until Shutdown. It returns nil
// after Shutdown. AUTH is neither offered nor accepted before TLS (523 5.7.10), RFC 4954 §4.
func (s *Server) ServeSubmission(l net.Listener) error { return s.core.Serve(l) }

// ServeSubmissions serves the submissions port (465) with implicit TLS (RFC 8314 §3.3).
func (s *Server) ServeSubmissions(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("submission: submissions needs a TLS config")
	}
	return s.core.ServeTLS(l)
}

// Shutdown stops accepting and waits for the sessions to end until ctx is done. Then it cancels
// every session's context and closes every connection left (idle ones included), and waits up
// to smtpserver.ShutdownGrace for their goroutines to finish, so that the queue may be closed
// after it. It returns ctx's error when sessions were still open at its end.
func (s *Server) Shutdown(ctx context.Context) error { return s.core.Shutdown(ctx) }

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
