package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	id := h.send(LaneNormal, "a@x.example")
	h.complete(h.next(), true, deferred("a@x.example")...) // recipient and domain back off
	h.none()
	if err := h.q.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	if l := h.next(); l.MsgID != id || l.Attempt != 2 {
		t.Fatalf("lease %+v", l)
	}
	if h.q.DeferredCount() != 0 || h.q.Depth(LaneNormal) != 1 {
		t.Fatalf("deferred %d depth %d", h.q.DeferredCount(), h.q.Depth(LaneNormal))
	}
	if err := h.q.Retry(ctx, id); err != nil { // leased: nothing to do
		t.Fatal(err)
	}
	if err := h.q.Retry(ctx, "msg_nope"); !isErr(err, ErrNotFound) {
		t.Fatalf("Retry(unknown) = %v", err)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	id := h.send(LaneNormal, "a@x.example", "b@y.example")
	l := h.next() // one domain leased, the other scheduled
	if err := h.q.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.none()
	st := h.status(id)
	if st.State != RcptFailed || rcptStatus(st, "a@x.example").LastDetail != "deleted by admin" {
		t.Fatalf("status %+v", st)
	}
	if ev := h.eventTypes(id); !slices.Equal(ev, []EventType{EventQueued, EventFailed, EventFailed}) {
		t.Fatalf("events %v", ev)
	}
	if f := h.complete(l, false, delivered(l.Recipients...)...); len(f) != 0 { // late result is ignored
		t.Fatalf("finals %+v", f)
	}
	if st := h.status(id); st.State != RcptFailed {
		t.Fatalf("late completion changed state: %s", st.State)
	}
	if h.q.Depth(LaneNormal) != 0 || h.q.OldestAge() != 0 {
		t.Fatalf("depth %d oldest %v", h.q.Depth(LaneNormal), h.q.OldestAge())
	}
}

func TestDeleteHeld(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	m := &Message{To: []string{"a@x.example"}, Approval: &Approval{}}
	h.enqueue(m)
	if err := h.q.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.q.Approve(ctx, m.Approval.ID, "cli", ""); !isErr(err, ErrNotPending) {
		t.Fatalf("Approve after Delete = %v", err)
	}
	h.none()
}

func TestRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Subscribers: []Subscriber{{ID: "wh", Events: []EventType{EventReceived, EventBounced}}}})
	ctx := context.Background()
	if err := h.q.Record(ctx, Event{Type: EventReceived, MsgID: "em_42", MailboxID: "a@x", EmailID: "em_42"}); err != nil {
		t.Fatal(err)
	}
	evs, err := h.q.Events(ctx, "em_42")
	if err != nil || len(evs) != 1 || evs[0].Seq != 1 || evs[0].MailboxID != "a@x" || evs[0].Time.IsZero() {
		t.Fatalf("events %+v %v", evs, err)
	}
	if err := h.q.Record(ctx, Event{MsgID: "x"}); !isErr(err, ErrInvalid) {
		t.Fatalf("Record without type = %v", err)
	}
	if _, err := h.q.Events(ctx, "em_none"); !isErr(err, ErrNotFound) {
		t.Fatalf("Events(unknown) = %v", err)
	}
	items, _ := h.q.OutboxDue(ctx, 10)
	if len(items) != 1 || items[0].Event.Type != EventReceived {
		t.Fatalf("outbox %+v", items)
	}
}

func TestRecordLateBounce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		prepare func(h *harness, id string)
		wantRun bool // b@x.example is still attempted
	}{
		{"after delivery", func(h *harness, id string) {
			h.complete(h.next(), false, delivered("a@x.example", "b@x.example")...)
		}, false},
		{"while deferred", func(h *harness, id string) {
			h.complete(h.next(), false, deferred("a@x.example", "b@x.example")...)
		}, true},
		{"while queued", func(h *harness, id string) {}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			id := h.send(LaneNormal, "a@x.example", "b@x.example")
			tc.prepare(h, id)
			err := h.q.Record(ctx, Event{Type: EventBounced, MsgID: id, Recipient: "A@x.example", SMTPCode: 550, Detail: "dsn"})
			if err != nil {
				t.Fatal(err)
			}
			if r := rcptStatus(h.status(id), "a@x.example"); r.Status != RcptBounced || r.LastDetail != "dsn" {
				t.Fatalf("recipient %+v", r)
			}
			h.advance(time.Hour)
			if !tc.wantRun {
				h.none()
				return
			}
			l := h.next()
			if !slices.Equal(l.Recipients, []string{"b@x.example"}) {
				t.Fatalf("lease recipients %v", l.Recipients)
			}
		})
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	a := h.enqueue(&Message{Mailbox: "m1", To: []string{"a@x"}, Lane: LaneNormal}).ID
	b := h.enqueue(&Message{Mailbox: "m2", To: []string{"a@x"}, Lane: LaneNormal}).ID
	c := h.enqueue(&Message{Mailbox: "m1", To: []string{"a@x"}, Approval: &Approval{}}).ID
	for _, tc := range []struct {
		name string
		f    ListFilter
		want []string
	}{
		{"all", ListFilter{}, []string{a, b, c}},
		{"mailbox", ListFilter{Mailbox: "m1"}, []string{a, c}},
		{"state", ListFilter{State: RcptPendingApproval}, []string{c}},
		{"page", ListFilter{After: a, Limit: 1}, []string{b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.q.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("List(%+v) = %v, want %v", tc.f, ids, tc.want)
			}
		})
	}
}

// TestRecordForgedBounce: a DSN naming a message we never sent, or a recipient the message
// never had, records nothing; a second DSN for the same recipient adds no second event.
func TestRecordForgedBounce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, Options{})
	id := h.send(LaneNormal, "a@x.example")
	unknown := NewMessageID(time.Now())
	for _, ev := range []Event{
		{Type: EventBounced, MsgID: unknown, Recipient: "a@x.example", SMTPCode: 550},
		{Type: EventBounced, MsgID: id, Recipient: "victim@y.example", SMTPCode: 550},
	} {
		if err := h.q.Record(ctx, ev); !isErr(err, ErrNotFound) {
			t.Errorf("Record(%s to %s) = %v, want ErrNotFound", ev.MsgID, ev.Recipient, err)
		}
	}
	if _, err := h.q.Events(ctx, unknown); !isErr(err, ErrNotFound) {
		t.Errorf("events were written for an unknown message: %v", err)
	}
	before := len(h.eventTypes(id))
	for range 2 {
		if err := h.q.Record(ctx, Event{Type: EventBounced, MsgID: id, Recipient: "a@x.example", SMTPCode: 550}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(h.eventTypes(id)); got != before+1 {
		t.Errorf("two DSNs for one recipient added %d events, want 1", got-before)
	}
}
