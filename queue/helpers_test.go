package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a queue over its own database with a fake clock.
type harness struct {
	t     *testing.T
	db    *pebble.DB
	opts  Options
	clock *fakeClock
	q     *Queue
}

func openDB(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("pebble.Open: %v", err)
	}
	return db
}

// memDB opens an in-memory database (for tests that never restart the process).
func memDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("pebble.Open: %v", err)
	}
	return db
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, db: openDB(t, t.TempDir()), clock: newFakeClock()}
	opts.Clock = h.clock
	h.opts = opts
	h.q = h.open()
	t.Cleanup(func() {
		h.q.Close()
		h.db.Close()
	})
	return h
}

func (h *harness) open() *Queue {
	h.t.Helper()
	q, err := Open(h.db, h.opts)
	if err != nil {
		h.t.Fatalf("Open: %v", err)
	}
	return q
}

// restart closes the queue (not the database, as after a crash the process is gone) and
// opens a new one on the same database.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.q.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.q = h.open()
}

// advance moves the fake clock and makes the queue notice.
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.q.Poke()
}

func (h *harness) enqueue(m *Message) Receipt {
	h.t.Helper()
	if m.Body == nil {
		m.Body = []byte("Subject: test\r\n\r\nhello\r\n")
	}
	r, err := h.q.Enqueue(context.Background(), m)
	if err != nil {
		h.t.Fatalf("Enqueue: %v", err)
	}
	return r
}

func (h *harness) send(lane Lane, to ...string) string {
	h.t.Helper()
	return h.enqueue(&Message{From: "a@example.com", To: to, Lane: lane}).ID
}

// tryNext returns a lease if one is available now, without waiting.
func (q *Queue) tryNext(lanes ...Lane) (*Lease, error) {
	if len(lanes) == 0 {
		lanes = allLanes
	}
	for {
		p, ok, _, err := q.pickOrWait(lanes)
		if err != nil || !ok {
			return nil, err
		}
		if l, err := q.lease(context.Background(), p); err != nil || l != nil {
			return l, err
		}
	}
}

// next waits (bounded) for a lease.
func (h *harness) next(lanes ...Lane) *Lease {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := h.q.Next(ctx, lanes...)
	if err != nil {
		h.t.Fatalf("Next(%v): %v", lanes, err)
	}
	return l
}

// none asserts that nothing is available in lanes now.
func (h *harness) none(lanes ...Lane) {
	h.t.Helper()
	l, err := h.q.tryNext(lanes...)
	if err != nil {
		h.t.Fatalf("tryNext: %v", err)
	}
	if l != nil {
		h.t.Fatalf("tryNext(%v) = lease of %s to %s, want none", lanes, l.MsgID, l.Domain)
	}
}

func (h *harness) complete(l *Lease, backoff bool, results ...Result) []Final {
	h.t.Helper()
	f, err := h.q.Complete(context.Background(), l, results, backoff)
	if err != nil {
		h.t.Fatalf("Complete: %v", err)
	}
	return f
}

func (h *harness) status(id string) *Status {
	h.t.Helper()
	st, err := h.q.Status(context.Background(), id)
	if err != nil {
		h.t.Fatalf("Status(%s): %v", id, err)
	}
	return st
}

func (h *harness) eventTypes(id string) []EventType {
	h.t.Helper()
	evs, err := h.q.Events(context.Background(), id)
	if err != nil {
		h.t.Fatalf("Events(%s): %v", id, err)
	}
	var out []EventType
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			h.t.Fatalf("event %d of %s has seq %d", i, id, ev.Seq)
		}
		out = append(out, ev.Type)
	}
	return out
}

func delivered(addrs ...string) []Result {
	var out []Result
	for _, a := range addrs {
		out = append(out, Result{Recipient: a, Outcome: Delivered, SMTPCode: 250, MXHost: "mx.test"})
	}
	return out
}

func deferred(addrs ...string) []Result {
	var out []Result
	for _, a := range addrs {
		out = append(out, Result{Recipient: a, Outcome: Deferred, SMTPCode: 451, EnhancedCode: "4.3.0", Detail: "try later"})
	}
	return out
}

func rcptStatus(st *Status, addr string) RecipientStatus {
	for _, r := range st.Recipients {
		if r.Address == addr {
			return r
		}
	}
	return RecipientStatus{}
}

func isErr(err, target error) bool { return errors.Is(err, target) }
