package queue

import (
	"context"
	"testing"
	"time"
)

// TestTestMessageNeverLeased: a test message (Message.Test) is never handed to Next; when due
// its recipients are delivered to the test sink by the queue, every event marked Test, and a
// held test message does the same once approved, while a live message beside it is leased.
func TestTestMessageNeverLeased(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	id := h.enqueue(&Message{Mailbox: "agent@d.example", From: "b@d.example", To: []string{"x@r.example", "y@s.example"}, Test: true}).ID
	h.none()
	st := h.status(id)
	if !st.Test || st.State != "delivered" {
		t.Fatalf("status %+v", st)
	}
	for _, r := range st.Recipients {
		if r.Status != "delivered" {
			t.Fatalf("recipient %+v", r)
		}
	}
	evs, err := h.q.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if !ev.Test {
			t.Fatalf("event not marked test: %+v", ev)
		}
		if ev.Type == EventDelivered {
			n++
			if ev.MXHost != TestSink {
				t.Fatalf("delivered to %q", ev.MXHost)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d delivered events: %+v", n, evs)
	}

	// held, then approved: still the sink; a live message is leased as usual.
	held := h.enqueue(&Message{Mailbox: "agent@d.example", From: "b@d.example", To: []string{"z@r.example"}, Test: true,
		Approval: &Approval{}}).ID
	live := h.enqueue(&Message{Mailbox: "agent@d.example", From: "b@d.example", To: []string{"live@r.example"}}).ID
	l := h.next()
	if l.MsgID != live {
		t.Fatalf("leased %s, want the live %s", l.MsgID, live)
	}
	h.complete(l, false, delivered("live@r.example")...)
	if h.status(live).Test {
		t.Fatal("live message marked test")
	}
	recs, err := h.q.Approvals(ctx, ApprovalPending)
	if err != nil || len(recs) != 1 || !recs[0].Test {
		t.Fatalf("approvals %+v %v", recs, err)
	}
	if err := h.q.Approve(ctx, recs[0].ID, "cli", "ok"); err != nil {
		t.Fatal(err)
	}
	h.none()
	if st := h.status(held); st.State != "delivered" || !st.Test {
		t.Fatalf("approved test message: %+v", st)
	}
	// scheduled: due later, then the sink
	sched := h.enqueue(&Message{Mailbox: "agent@d.example", From: "b@d.example", To: []string{"w@r.example"}, Test: true,
		SendAt: h.clock.Now().Add(time.Hour)}).ID
	h.none()
	if st := h.status(sched); st.State == "delivered" {
		t.Fatalf("scheduled test message delivered early: %+v", st)
	}
	h.advance(2 * time.Hour)
	h.none()
	if st := h.status(sched); st.State != "delivered" {
		t.Fatalf("scheduled test message: %+v", st)
	}
}
