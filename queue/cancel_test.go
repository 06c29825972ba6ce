package queue

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestCancelScheduled: a scheduled message cancelled before its time is never leased; its
// recipients are cancelled with events; a second cancel is ErrNothingToCancel.
func TestCancelScheduled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.enqueue(&Message{From: "a@example.com", To: []string{"b@one.example", "c@two.example"},
		SendAt: h.clock.Now().Add(time.Hour)}).ID
	res, err := h.q.Cancel(context.Background(), id, "api:k1")
	if err != nil || len(res.Cancelled) != 2 || len(res.InFlight) != 0 {
		t.Fatalf("Cancel = %+v, %v", res, err)
	}
	want := []EventType{EventQueued, EventScheduled, EventCancelled, EventCancelled}
	if got := h.eventTypes(id); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	h.advance(2 * time.Hour)
	h.none()
	h.restart()
	h.none()
	if st := h.status(id); st.State != RcptCancelled {
		t.Fatalf("state %s", st.State)
	}
	if _, err := h.q.Cancel(context.Background(), id, "api:k1"); !errors.Is(err, ErrNothingToCancel) {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := h.q.Cancel(context.Background(), "msg_01JZZZZZZZZZZZZZZZZZZZZZZZ", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

// TestCancelRacingAttempt: a cancel while an attempt is in flight leaves that attempt's
// outcome standing and cancels what it leaves pending; the other domain, waiting in the
// schedule, is cancelled at once.
func TestCancelRacingAttempt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		results func() []Result
		want    map[string]string
	}{
		{"delivered stands", func() []Result { return delivered("b@one.example", "c@one.example") },
			map[string]string{"b@one.example": RcptDelivered, "c@one.example": RcptDelivered, "d@two.example": RcptCancelled}},
		{"deferred is cancelled", func() []Result {
			return append(delivered("b@one.example"), deferred("c@one.example")...)
		}, map[string]string{"b@one.example": RcptDelivered, "c@one.example": RcptCancelled, "d@two.example": RcptCancelled}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			id := h.enqueue(&Message{From: "a@example.com", To: []string{"b@one.example", "c@one.example", "d@two.example"}}).ID
			l := h.next()
			for l.Domain != "one.example" { // take the other unit's lease back out of the way
				h.complete(l, false, deferred(l.Recipients...)...)
				l = h.next()
			}
			res, err := h.q.Cancel(context.Background(), id, "api:k1")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.InFlight, []string{"b@one.example", "c@one.example"}) {
				t.Fatalf("in flight %v", res.InFlight)
			}
			h.complete(l, false, tc.results()...)
			st := h.status(id)
			for addr, want := range tc.want {
				if got := rcptStatus(st, addr).Status; got != want {
					t.Errorf("%s: %s, want %s", addr, got, want)
				}
			}
			h.advance(24 * time.Hour)
			h.none()
			if _, err := h.q.Cancel(context.Background(), id, "api:k1"); !errors.Is(err, ErrNothingToCancel) {
				t.Fatalf("cancel after all final: %v", err)
			}
		})
	}
}

// TestCancelLostLease: a recipient marked during its attempt whose lease is then lost is
// cancelled when its unit is next picked, never attempted again.
func TestCancelLostLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{LeaseTTL: time.Minute})
	id := h.enqueue(&Message{From: "a@example.com", To: []string{"b@one.example"}}).ID
	h.next()
	if res, err := h.q.Cancel(context.Background(), id, "api:k1"); err != nil || len(res.InFlight) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	h.restart() // the lease returns to the schedule
	h.none()
	if got := rcptStatus(h.status(id), "b@one.example").Status; got != RcptCancelled {
		t.Fatalf("status %s", got)
	}
}

// TestCancelHeld: cancelling a held message closes its approval as cancelled; it can no
// longer be approved.
func TestCancelHeld(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.enqueue(&Message{From: "a@example.com", To: []string{"b@one.example"}, Approval: &Approval{}}).ID
	if _, err := h.q.Cancel(context.Background(), id, "api:k1"); err != nil {
		t.Fatal(err)
	}
	st := h.status(id)
	if st.Approval.State != ApprovalCancelled || st.State != RcptCancelled {
		t.Fatalf("approval %+v state %s", st.Approval, st.State)
	}
	if err := h.q.Approve(context.Background(), st.Approval.ID, "cli", ""); !errors.Is(err, ErrNotPending) {
		t.Fatalf("approve after cancel: %v", err)
	}
	h.none()
}
