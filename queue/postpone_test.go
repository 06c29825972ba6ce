package queue

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPostponeCountsNoAttempt: a postponed lease comes back at the time asked, with the same
// attempt number, no event, and its recipient still queued; a restart keeps the postponement;
// a stale lease is refused.
func TestPostponeCountsNoAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.enqueue(&Message{From: "a@example.com", Mailbox: "a@example.com", To: []string{"x@p.example"}, Lane: LaneLow}).ID
	l := h.next()
	if l.Mailbox != "a@example.com" {
		t.Errorf("lease mailbox %q", l.Mailbox)
	}
	if err := h.q.Postpone(context.Background(), l, h.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := h.q.Postpone(context.Background(), l, h.clock.Now().Add(time.Minute)); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("postponing a returned lease: %v", err)
	}
	r := rcptStatus(h.status(id), "x@p.example")
	if r.Status != RcptQueued || r.Attempts != 0 || !r.NextAttempt.Equal(h.clock.Now().Add(time.Minute)) {
		t.Fatalf("after postpone: %+v", r)
	}
	h.none()
	h.restart()
	h.advance(59 * time.Second)
	h.none()
	h.advance(time.Second)
	l = h.next()
	if l.Attempt != 1 {
		t.Fatalf("attempt %d after a postponement, want 1", l.Attempt)
	}
	if evs := h.eventTypes(id); len(evs) != 1 {
		t.Fatalf("events %v, want only queued", evs)
	}
}
