// lifecycle.go: how listeners and background workers start and stop. Shutdown has two phases
// (STYLE.md §8): drain — listeners stop accepting and finish their sessions, workers take no new
// leases — then, after the grace period, hard stop — every context is cancelled so in-flight
// deliveries return their leases — and only then is Pebble closed.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// listenerService is a protocol server bound to one listener.
type listenerService struct {
	name     string // "http", "smtp", "submission", ...
	network  string // "tcp" (default) or "unix"
	addr     string
	serve    func(l net.Listener) error      // blocks until shut down
	shutdown func(ctx context.Context) error // stops accepting and waits for sessions
	ln       net.Listener
}

// worker is a background loop that runs until its context ends.
type worker struct {
	name string
	run  func(ctx context.Context) error
}

// supervisor owns every goroutine of a running server and waits for all of them.
type supervisor struct {
	log       *slog.Logger
	listeners []*listenerService
	workers   []worker
	wg        sync.WaitGroup
	errc      chan error
}

// bind opens every listener before anything is served, so a port in use fails the start
// cleanly with nothing half-running.
func (s *supervisor) bind() error {
	for _, l := range s.listeners {
		network := l.network
		if network == "" {
			network = "tcp"
		}
		if network == "unix" {
			// A stale socket from a crash; a live server would hold Pebble's lock, so
			// nothing else can be listening on it.
			_ = os.Remove(l.addr)
		}
		ln, err := net.Listen(network, l.addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen %s on %s: %w", l.name, l.addr, err)
		}
		l.ln = ln
		if network == "unix" {
			// The socket is the admin channel's authentication: owner only, whatever the
			// umask (the data dir's 0700 closes the moment before this chmod).
			if err := os.Chmod(l.addr, 0o600); err != nil {
				s.closeListeners()
				return fmt.Errorf("listen %s: chmod %s: %w", l.name, l.addr, err)
			}
		}
	}
	return nil
}

func (s *supervisor) closeListeners() {
	for _, l := range s.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
	}
}

// start serves every bound listener and runs every worker under workCtx.
func (s *supervisor) start(workCtx context.Context) {
	s.errc = make(chan error, len(s.listeners)+len(s.workers))
	for _, l := range s.listeners {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := l.serve(l.ln); err != nil && !isClosedErr(err) {
				s.errc <- fmt.Errorf("%s: %w", l.name, err)
			}
		}()
	}
	for _, w := range s.workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := w.run(workCtx); err != nil && !errors.Is(err, context.Canceled) {
				s.errc <- fmt.Errorf("%s: %w", w.name, err)
			}
		}()
	}
}

// drain shuts every listener down, waiting up to the grace period for open sessions.
func (s *supervisor) drain(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.shutdown(ctx); err != nil && !isClosedErr(err) {
				s.log.Warn("listener shutdown", "listener", l.name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// wait blocks until every goroutine has returned.
func (s *supervisor) wait() { s.wg.Wait() }

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) ||
		errors.Is(err, smtp.ErrServerClosed)
}
