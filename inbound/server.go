package inbound

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/smtpserver"
)

// Server is the inbound (port 25) SMTP server. It is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	core    *smtpserver.Server
	metrics *metrics
	connID  atomic.Uint64
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
	// No AUTH is offered: the session does not implement smtp.AuthSession.
	s.core = smtpserver.New(smtp.BackendFunc(s.newSession), smtpserver.Options{
		Hostname: opts.Hostname, TLSConfig: opts.TLSConfig,
		MaxMessageBytes: opts.MaxMessageBytes, MaxRecipients: opts.MaxRecipients,
		MaxLineLength: opts.MaxLineLength, ReadTimeout: opts.ReadTimeout,
		WriteTimeout: opts.WriteTimeout, MaxSessionTime: opts.MaxSessionTime,
		Admit: opts.Admit, Logger: opts.Logger, Now: opts.Clock.Now,
	})
	return s, nil
}

// Serve accepts connections on l until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.core.Serve(l) }

// Shutdown stops accepting, waits for the sessions to end until ctx is done, then cancels
// every session's context (a delivery in flight is abandoned before its 250, so the client
// retries) and closes what is left, waiting for those sessions to finish.
func (s *Server) Shutdown(ctx context.Context) error { return s.core.Shutdown(ctx) }

// now is the injected clock.
func (s *Server) now() time.Time { return s.opts.Clock.Now() }
