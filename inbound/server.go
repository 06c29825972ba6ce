package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Server is the inbound (port 25) SMTP server. It is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	srv     *smtp.Server
	metrics *metrics
	base    context.Context // parent of every session's context
	cancel  context.CancelFunc
	connID  atomic.Uint64
	conns   connSet
}

// NewServer checks opts and makes the server; call Serve with a listener.
func NewServer(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("inbound: metrics: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: m}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.srv = s.newSMTPServer()
	return s, nil
}

// newSMTPServer configures go-smtp: SIZE, 8BITMIME, PIPELINING, ENHANCEDSTATUSCODES and
// CHUNKING are always on in go-smtp; we add SMTPUTF8 and STARTTLS (when TLSConfig is set).
// No AUTH is offered: the session does not implement smtp.AuthSession.
func (s *Server) newSMTPServer() *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = s.opts.Hostname
	srv.TLSConfig = s.opts.TLSConfig
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.MaxRecipients = s.opts.MaxRecipients
	srv.MaxLineLength = s.opts.MaxLineLength
	srv.ReadTimeout = s.opts.ReadTimeout
	srv.WriteTimeout = s.opts.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{s.log}
	return srv
}

// Serve accepts connections on l until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	ll := &limitListener{Listener: l, maxLife: s.opts.MaxSessionTime, now: s.opts.Clock.Now, conns: &s.conns}
	err := s.srv.Serve(ll)
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, waits for the sessions to end until ctx is done, then closes what
// is left and cancels every session's context (a delivery in flight is abandoned before its
// 250, so the client retries).
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	if ctx.Err() != nil {
		s.conns.closeAll()
	}
	return err
}

// now is the injected clock.
func (s *Server) now() time.Time { return s.opts.Clock.Now() }

// slogAdapter gives go-smtp's ErrorLog a slog logger.
type slogAdapter struct{ log *slog.Logger }

// Printf implements smtp.Logger.
func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Warn("smtp server", "detail", fmt.Sprintf(format, v...))
}

// Println implements smtp.Logger.
func (a slogAdapter) Println(v ...any) { a.log.Warn("smtp server", "detail", fmt.Sprintln(v...)) }
