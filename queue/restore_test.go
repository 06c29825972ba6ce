package queue

import (
	"context"
	"testing"
)

// TestHoldInFlight: after a restore, queued and deferred messages are held as pending
// approvals (nothing is leased), a delivered one is left alone; across a restart the hold
// stays; approving one sends it, rejecting another drops it.
func TestHoldInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	done := h.send(LaneNormal, "x@done.example")
	h.complete(h.next(), false, delivered("x@done.example")...)
	queued := h.send(LaneNormal, "a@one.example", "b@two.example")
	def := h.send(LaneHigh, "c@three.example")
	h.complete(h.next(LaneHigh), false, deferred("c@three.example")...)

	ids, err := h.q.HoldInFlight(context.Background(), "restored from a backup")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 {
		t.Fatalf("held %v, want %s and %s", ids, queued, def)
	}
	h.restart()
	h.advance(24 * 3600e9)
	h.none()
	for _, id := range []string{queued, def} {
		st := h.status(id)
		if st.State != RcptPendingApproval || st.Approval == nil || st.Approval.State != ApprovalPending || st.Approval.By != "restore" {
			t.Errorf("%s after hold: %s %+v", id, st.State, st.Approval)
		}
	}
	if st := h.status(done); st.State != RcptDelivered {
		t.Errorf("delivered message became %s", st.State)
	}
	aps, err := h.q.Approvals(context.Background(), ApprovalPending)
	if err != nil || len(aps) != 2 {
		t.Fatalf("pending approvals %d %v", len(aps), err)
	}
	if again, err := h.q.HoldInFlight(context.Background(), "again"); err != nil || len(again) != 0 {
		t.Errorf("second hold: %v %v", again, err)
	}
	for _, ap := range aps {
		var err error
		if ap.MsgID == queued {
			err = h.q.Approve(context.Background(), ap.ID, "cli", "checked: not sent before")
		} else {
			err = h.q.Reject(context.Background(), ap.ID, "cli", "sent by the old node")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for range 2 {
		l := h.next()
		got[l.Domain] = true
		h.complete(l, false, delivered(l.Recipients...)...)
	}
	if !got["one.example"] || !got["two.example"] {
		t.Errorf("approved message leased to %v", got)
	}
	h.none()
	if st := h.status(def); st.State != RcptRejected {
		t.Errorf("rejected held message: %s", st.State)
	}
}
