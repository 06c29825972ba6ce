// storefault.go: a store that fails must stop the node, never leave it half alive. Pebble's
// Fatalf exits (store.go); here are the two other ways a fault could hide: a panic from inside
// Pebble recovered by net/http (or by go-smtp and go-imap, which recover per connection), and
// a commit pipeline that panicked while holding its lock, so that every later write hangs.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// storePanicGuard recovers panics of h. A panic raised inside Pebble means the store may be
// wedged: it is logged and the process exits with exitStoreFault, so a supervisor restarts a
// healthy node. Any other panic is a bug in a handler: logged with its stack and answered 500,
// and the node goes on. http.ErrAbortHandler keeps its meaning.
func storePanicGuard(h http.Handler, log *slog.Logger, exit func(int)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			stack := debug.Stack() // still the panicking goroutine's frames
			if fromStore(stack) {
				log.Error("store panicked: exiting; a restart replays the log and keeps every acknowledged message",
					"panic", fmt.Sprint(v), "path", r.URL.Path, "exit_status", exitStoreFault, "stack", string(stack))
				exit(exitStoreFault)
				return
			}
			log.Error("handler panicked", "panic", fmt.Sprint(v), "path", r.URL.Path, "stack", string(stack))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"code":"internal_error","message":"internal error"}}` + "\n"))
		}()
		h.ServeHTTP(w, r)
	})
}

// fromStore reports whether a panic's stack runs through Pebble.
func fromStore(stack []byte) bool {
	return strings.Contains(string(stack), "github.com/cockroachdb/pebble")
}

// Watchdog timing: a probe commit every watchdogEvery; one that has not returned after
// watchdogTimeout means the commit pipeline is stuck.
const (
	watchdogEvery   = 5 * time.Second
	watchdogTimeout = 30 * time.Second
)

// storeWatchdog commits a WAL-only record (no key: it belongs to no store's prefix) with
// pebble.Sync every `every`. A probe that panics or does not return within timeout means the
// store is wedged — a panic inside Pebble swallowed by a protocol library — and the node exits
// with exitStoreFault instead of hanging every write while /healthz says ok. A probe that
// returns an error has already exited through Pebble's Fatalf.
type storeWatchdog struct {
	db             *pebble.DB
	log            *slog.Logger
	exit           func(int)
	every, timeout time.Duration
}

func (w storeWatchdog) run(ctx context.Context) error {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := w.probe(ctx); err != nil {
			w.log.Error("store wedged: exiting; a restart replays the log and keeps every acknowledged message",
				"err", err, "exit_status", exitStoreFault)
			w.exit(exitStoreFault)
			return err
		}
	}
}

// probe makes one synced WAL write and waits for it, the timeout, or ctx.
func (w storeWatchdog) probe(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("probe commit panicked: %v", v)
			}
		}()
		done <- w.db.LogData([]byte("multimail watchdog"), pebble.Sync)
	}()
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("probe commit: %w", err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("a probe commit has not returned in %s", w.timeout)
	case <-ctx.Done():
		// Shutdown: wait for the probe, which returns once in-flight commits do, so Pebble is
		// never closed under it.
		select {
		case <-done:
		case <-timer.C:
		}
		return nil
	}
}
