package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Defaults of Options.
const (
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxRecipients   = 100
	DefaultMaxLineLength   = 2000 // go-smtp's: twice RFC 5321 §4.5.3.1.6
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = time.Minute
	DefaultMaxSessionTime  = 30 * time.Minute
)

// ShutdownGrace bounds Shutdown's wait for session goroutines once their connections are closed
// (one may be finishing a commit).
const ShutdownGrace = 5 * time.Second

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Hostname  string      // greeting and EHLO name; default "localhost"
	TLSConfig *tls.Config // STARTTLS is offered when set; ServeTLS needs it
	// MaxMessageBytes is SIZE and the bound of one message; default 25 MiB (552 5.3.4 over it).
	MaxMessageBytes int64
	MaxRecipients   int // per transaction; default 100 (452 4.5.3 beyond)
	MaxLineLength   int // default 2000 (500 beyond)
	// ReadTimeout is the idle limit for a command, and between reads of a message's bytes
	// (so a large, slow but steady DATA is not cut); default 5 min (RFC 5321 §4.5.3.2.7).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration // default 1 min
	// MaxSessionTime bounds a connection's life whatever it does (NOOP loops, a slow DATA);
	// default 30 min. At the limit the next read fails and the client gets 421.
	MaxSessionTime time.Duration
	// Admit, when set, is asked at MAIL FROM and before DATA (and BDAT) whether a message may
	// be taken now; an error refuses it with 452 4.3.1 Insufficient system storage (the
	// message of a DATA is read and dropped first). nil admits everything.
	Admit func() error
	// RequireTLS advertises REQUIRETLS (RFC 8689) on TLS sessions and accepts the MAIL FROM
	// parameter (go-smtp offers it only after TLS; the session must still check).
	RequireTLS bool
	Logger     *slog.Logger
	// Now tells the time (session deadlines); nil means time.Now.
	Now func() time.Time
}

// withDefaults fills the zero values.
func (o Options) withDefaults() Options {
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
		o.MaxLineLength = DefaultMaxLineLength
	}
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{{&o.ReadTimeout, DefaultReadTimeout}, {&o.WriteTimeout, DefaultWriteTimeout}, {&o.MaxSessionTime, DefaultMaxSessionTime}} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Server is one go-smtp server with this package's connections, limits and DATA reading; it
// may serve several listeners (plain or STARTTLS with Serve, implicit TLS with ServeTLS). It is
// safe for concurrent use.
type Server struct {
	opts   Options
	log    *slog.Logger
	srv    *smtp.Server
	conns  *connSet
	base   context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool           // Shutdown has begun
	listeners []net.Listener // every listener served: Shutdown closes them itself

	beforeServe func() // tests: runs between registering a listener and go-smtp's Serve
}

// New makes a server whose sessions come from backend. go-smtp then always offers SIZE,
// 8BITMIME, PIPELINING, ENHANCEDSTATUSCODES and CHUNKING; SMTPUTF8 is on, STARTTLS is offered
// when TLSConfig is set, and AUTH only under TLS (AllowInsecureAuth stays false: 523 5.7.10
// before TLS, RFC 4954 §4) and only when the session implements smtp.AuthSession.
func New(backend smtp.Backend, opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{opts: opts, log: opts.Logger, conns: newConnSet()}
	s.base, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		sess, err := backend.NewSession(c)
		if err != nil || sess == nil {
			return sess, err
		}
		return s.admitting(c, sess), nil
	}))
	srv.Domain = opts.Hostname
	srv.TLSConfig = opts.TLSConfig
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = opts.MaxRecipients
	srv.MaxLineLength = opts.MaxLineLength
	srv.ReadTimeout = opts.ReadTimeout
	srv.WriteTimeout = opts.WriteTimeout
	srv.AllowInsecureAuth = false
	srv.EnableSMTPUTF8 = true
	srv.EnableREQUIRETLS = opts.RequireTLS
	srv.ErrorLog = slogAdapter{s.log}
	s.srv = srv
	return s
}

// Context is the parent of every session's context: it is cancelled when Shutdown's context
// ends, before the connections left are closed.
func (s *Server) Context() context.Context { return s.base }

// Serve serves l (plain, with STARTTLS when TLSConfig is set) until Shutdown; it returns nil
// after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(&listener{Listener: l, srv: s})
}

// ServeTLS serves l with implicit TLS (RFC 8314 §3.3) until Shutdown.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("smtpserver: implicit TLS needs a TLS config")
	}
	return s.serve(tls.NewListener(&listener{Listener: l, srv: s}, s.opts.TLSConfig))
}

func (s *Server) serve(l net.Listener) error {
	// go-smtp registers a listener inside Serve, so a Shutdown that runs between our start and
	// that registration would never close it and Serve would accept forever. The listener is
	// registered here under the same lock as closed: either Shutdown closes it, or Shutdown
	// ran first and it is closed now.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	if s.beforeServe != nil {
		s.beforeServe()
	}
	err := s.srv.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for the sessions to end until ctx is done. Then it cancels
// every session's context, closes every connection left (idle ones included), and waits up to
// ShutdownGrace for their goroutines to finish, so that the stores may be closed after it. It
// returns ctx's error when sessions were still open at its end; a second call returns nil.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		_ = l.Close() // go-smtp closes those it registered; a late Serve's Accept ends here
	}
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
		err = nil // already shut down; a listener we closed above; or ctx's error, returned below
	}
	s.cancel()
	n, empty := s.conns.closeAll()
	if n > 0 {
		s.log.Info("shutdown: closing open sessions", "sessions", n)
	}
	select {
	case <-empty:
	case <-time.After(ShutdownGrace):
		s.log.Warn("shutdown: sessions still running after their connections were closed")
	}
	if ctx.Err() != nil && n > 0 {
		return ctx.Err()
	}
	return err
}

// OpenConns is the number of session connections open now.
func (s *Server) OpenConns() int { return s.conns.len() }

// now is the injected clock.
func (s *Server) now() time.Time { return s.opts.Now() }

// Expire ends c's connection after the reply to the current command: its next read is the end
// of the stream. A connection not accepted by a Server (a test's) is closed at once.
func Expire(c *smtp.Conn) {
	if sc := sessionConnOf(c.Conn()); sc != nil {
		sc.expire()
		return
	}
	_ = c.Close()
}

// slogAdapter gives go-smtp's ErrorLog a slog logger.
type slogAdapter struct{ log *slog.Logger }

// Printf implements smtp.Logger.
func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Warn("smtp server", "detail", fmt.Sprintf(format, v...))
}

// Println implements smtp.Logger.
func (a slogAdapter) Println(v ...any) { a.log.Warn("smtp server", "detail", fmt.Sprintln(v...)) }
