package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestSendAtHoldsUntilItsTime: a message with SendAt is queued, recorded as scheduled, not
// leased before its time (also across a restart), then delivered; its lifetime counts from
// SendAt.
func TestSendAtHoldsUntilItsTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{MaxLifetime: 2 * time.Hour})
	at := h.clock.Now().Add(3 * time.Hour) // later than MaxLifetime after QueuedAt
	id := h.enqueue(&Message{From: "a@example.com", To: []string{"b@dest.example"}, SendAt: at}).ID
	if got := h.eventTypes(id); !slices.Equal(got, []EventType{EventQueued, EventScheduled}) {
		t.Fatalf("events %v", got)
	}
	evs, _ := h.q.Events(context.Background(), id)
	if !evs[1].SendAt.Equal(at) {
		t.Fatalf("scheduled event send_at %v, want %v", evs[1].SendAt, at)
	}
	if st := h.status(id); !st.SendAt.Equal(at) || !rcptStatus(st, "b@dest.example").NextAttempt.Equal(at) {
		t.Fatalf("status %+v", st)
	}
	h.none()
	h.advance(time.Hour)
	h.restart()
	h.none()
	h.advance(2*time.Hour - time.Second)
	h.none()
	h.advance(time.Second)
	l := h.next()
	if l.MsgID != id {
		t.Fatalf("leased %s", l.MsgID)
	}
	h.complete(l, false, deferred("b@dest.example")...)
	if st := rcptStatus(h.status(id), "b@dest.example"); st.Status != RcptDeferred {
		t.Fatalf("a deferral right after send_at failed for lifetime: %+v", st)
	}
}

// TestSendAtHeldThenApproved: a held scheduled message approved before its time waits for
// it; the trail is pending_approval, approved, queued, scheduled.
func TestSendAtHeldThenApproved(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	at := h.clock.Now().Add(time.Hour)
	r := h.enqueue(&Message{From: "a@example.com", To: []string{"b@dest.example"}, SendAt: at,
		Approval: &Approval{State: ApprovalPending}})
	if got := h.eventTypes(r.ID); !slices.Equal(got, []EventType{EventPendingApproval}) {
		t.Fatalf("events %v", got)
	}
	st := h.status(r.ID)
	if err := h.q.Approve(context.Background(), st.Approval.ID, "cli", ""); err != nil {
		t.Fatal(err)
	}
	want := []EventType{EventPendingApproval, EventApproved, EventQueued, EventScheduled}
	if got := h.eventTypes(r.ID); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	h.none()
	h.advance(time.Hour)
	if l := h.next(); l.MsgID != r.ID {
		t.Fatalf("leased %s", l.MsgID)
	}
}
