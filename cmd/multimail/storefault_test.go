package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// exitRecorder stands in for os.Exit.
type exitRecorder struct {
	mu    sync.Mutex
	codes []int
}

func (r *exitRecorder) exit(code int) {
	r.mu.Lock()
	r.codes = append(r.codes, code)
	r.mu.Unlock()
}

func (r *exitRecorder) got() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.codes...)
}

func closedDB(t *testing.T) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: pebbleLogger{log: slog.New(slog.DiscardHandler), exit: func(int) {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestPebbleFatalfExits: Pebble calls Fatalf when a commit fails; the node must exit with a
// clear log line, not panic into a recover that keeps a wedged store alive.
func TestPebbleFatalfExits(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var ex exitRecorder
	l := pebbleLogger{log: slog.New(slog.NewTextHandler(&logs, nil)), exit: ex.exit}
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("Fatalf panicked: %v", v)
			}
		}()
		l.Fatalf("pebble: fatal commit error: %v", "write /data/db/000002.log: no space left on device")
	}()
	if got := ex.got(); len(got) != 1 || got[0] != exitStoreFault {
		t.Fatalf("exit codes = %v, want [%d]", got, exitStoreFault)
	}
	if !strings.Contains(logs.String(), "no space left on device") || !strings.Contains(logs.String(), "store failed") {
		t.Fatalf("log = %q", logs.String())
	}
}

// TestStorePanicExits: a panic raised inside Pebble under an HTTP handler ends the process;
// net/http's own recover would keep a wedged store serving.
func TestStorePanicExits(t *testing.T) {
	t.Parallel()
	db := closedDB(t)
	var ex exitRecorder
	h := storePanicGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, _ = db.Get([]byte("k")) // panics inside pebble: closed
	}), slog.New(slog.DiscardHandler), ex.exit)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/send_email", nil))
	if got := ex.got(); len(got) != 1 || got[0] != exitStoreFault {
		t.Fatalf("exit codes = %v, want [%d]", got, exitStoreFault)
	}
}

// TestHandlerPanicIsA500: a panic that is not the store's is a handler bug: 500, no exit.
func TestHandlerPanicIsA500(t *testing.T) {
	t.Parallel()
	var ex exitRecorder
	h := storePanicGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["boom"]++
	}), slog.New(slog.DiscardHandler), ex.exit)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "internal_error") || len(ex.got()) != 0 {
		t.Fatalf("%d %q exits %v", rec.Code, rec.Body, ex.got())
	}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("ErrAbortHandler not re-panicked: %v", v)
		}
	}()
	storePanicGuard(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }),
		slog.New(slog.DiscardHandler), ex.exit).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

// TestWatchdogExitsOnAWedgedStore: a probe commit that panics (the pipeline is gone) exits.
func TestWatchdogExitsOnAWedgedStore(t *testing.T) {
	t.Parallel()
	var ex exitRecorder
	w := storeWatchdog{db: closedDB(t), log: slog.New(slog.DiscardHandler), exit: ex.exit,
		every: time.Millisecond, timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.run(ctx); err == nil {
		t.Fatal("watchdog returned nil on a closed store")
	}
	if got := ex.got(); len(got) != 1 || got[0] != exitStoreFault {
		t.Fatalf("exit codes = %v", got)
	}
}

// TestWatchdogQuietOnAHealthyStore: probes pass and the loop ends with its context.
func TestWatchdogQuietOnAHealthyStore(t *testing.T) {
	t.Parallel()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: pebbleLogger{log: slog.New(slog.DiscardHandler), exit: func(int) { t.Error("pebble Fatalf") }}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ex exitRecorder
	w := storeWatchdog{db: db, log: slog.New(slog.DiscardHandler), exit: ex.exit, every: time.Millisecond, timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for db.Metrics().WAL.BytesIn == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil || len(ex.got()) != 0 {
		t.Fatalf("run = %v, exits %v", err, ex.got())
	}
	if db.Metrics().WAL.BytesIn == 0 {
		t.Fatal("no probe was written")
	}
}
