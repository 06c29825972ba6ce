package queue

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"
)

func TestParseLane(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    Lane
		wantErr bool
	}{
		{"high", LaneHigh, false}, {"normal", LaneNormal, false}, {"", LaneNormal, false},
		{"low", LaneLow, false}, {"urgent", 0, true}, {"HIGH", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLane(tc.in)
			if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
				t.Fatalf("ParseLane(%q) = %v, %v", tc.in, got, err)
			}
			if !tc.wantErr && got.String() != map[Lane]string{LaneHigh: "high", LaneNormal: "normal", LaneLow: "low"}[got] {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
}

func TestEnqueueWritesEverything(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Subscribers: []Subscriber{{ID: "all"}, {ID: "delivered", Events: []EventType{EventDelivered}}}})
	body := bytes.Repeat([]byte("x"), 5000)
	m := &Message{Mailbox: "agent@example.com", From: "agent@example.com", Subject: "hi", Tags: []string{"t1"},
		To: []string{"a@B.example", "a@b.EXAMPLE", "c@d.example"}, Body: body, Lane: LaneHigh, Source: "api"}
	r := h.enqueue(m)
	if r.Status != StatusQueued || r.ID != m.ID || r.Duplicate || len(m.ID) != 30 || m.ID[:4] != "msg_" {
		t.Fatalf("receipt %+v, m.ID %q", r, m.ID)
	}
	st := h.status(m.ID)
	if st.State != RcptQueued || st.Size != 5000 || st.Lane != LaneHigh || len(st.Recipients) != 2 {
		t.Fatalf("status %+v", st)
	}
	if st.Recipients[0].Address != "a@b.example" || st.Recipients[1].Address != "c@d.example" {
		t.Fatalf("recipients not normalised/deduplicated: %+v", st.Recipients)
	}
	got, err := h.q.Body(context.Background(), m.ID)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Body: %v", err)
	}
	if ev := h.eventTypes(m.ID); !slices.Equal(ev, []EventType{EventQueued}) {
		t.Fatalf("events %v", ev)
	}
	items, err := h.q.OutboxDue(context.Background(), 10)
	if err != nil || len(items) != 1 || items[0].Subscriber != "all" || items[0].Event.Type != EventQueued {
		t.Fatalf("outbox %+v, %v", items, err)
	}
	if h.q.Depth(LaneHigh) != 2 || h.q.Depth(LaneNormal) != 0 {
		t.Fatalf("depth high %d normal %d", h.q.Depth(LaneHigh), h.q.Depth(LaneNormal))
	}
}

func TestEnqueueInvalid(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{"no recipients", Message{}},
		{"no at", Message{To: []string{"bob"}}},
		{"no domain", Message{To: []string{"bob@"}}},
		{"crlf", Message{To: []string{"bob@x\r\nRCPT TO:<e@vil>"}}},
		{"bad lane", Message{To: []string{"a@b"}, Lane: 7}},
		{"bad id", Message{To: []string{"a@b"}, ID: "msg_nope"}},
		{"bad approval state", Message{To: []string{"a@b"}, Approval: &Approval{State: "maybe"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			if _, err := h.q.Enqueue(context.Background(), &m); !isErr(err, ErrInvalid) {
				t.Fatalf("Enqueue = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestEnqueueCallerIDMustBeNew(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := formatID(prefixMsg, newULID(time.Now()))
	h.enqueue(&Message{ID: id, To: []string{"a@b.example"}})
	if _, err := h.q.Enqueue(context.Background(), &Message{ID: id, To: []string{"a@b.example"}}); !isErr(err, ErrInvalid) {
		t.Fatalf("second Enqueue with the same id = %v, want ErrInvalid", err)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	first := h.enqueue(&Message{Mailbox: "m@x", To: []string{"a@b"}, IdempotencyKey: "k1", RequestHash: "h1"})
	for _, tc := range []struct {
		name    string
		mailbox string
		hash    string
		advance time.Duration
		wantDup bool
		wantErr error
	}{
		{"same key same body", "m@x", "h1", 0, true, nil},
		{"same key other body", "m@x", "h2", 0, false, ErrIdempotencyConflict},
		{"other mailbox", "n@x", "h2", 0, false, nil},
		{"after 24h", "m@x", "h3", 24 * time.Hour, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Advance(tc.advance)
			r, ok, err := h.q.Idempotent(ctx, tc.mailbox, "k1", tc.hash)
			if !isErr(err, tc.wantErr) || ok != tc.wantDup {
				t.Fatalf("Idempotent = %+v %v %v", r, ok, err)
			}
			m := &Message{Mailbox: tc.mailbox, To: []string{"a@b"}, IdempotencyKey: "k1", RequestHash: tc.hash}
			r, err = h.q.Enqueue(ctx, m)
			if !isErr(err, tc.wantErr) {
				t.Fatalf("Enqueue err %v, want %v", err, tc.wantErr)
			}
			if tc.wantDup && (!r.Duplicate || r.ID != first.ID || r.Status != StatusQueued) {
				t.Fatalf("duplicate receipt %+v, want first %+v", r, first)
			}
			if tc.wantErr == nil && !tc.wantDup && (r.Duplicate || r.ID == first.ID) {
				t.Fatalf("receipt %+v: expected a new message", r)
			}
		})
	}
	if d := h.q.Depth(LaneNormal); d != 3 { // Lane zero value is LaneNormal
		t.Fatalf("depth %d, want 3 (the duplicate wrote nothing)", d)
	}
}

func TestIdempotencySurvivesRestartAndGC(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	h.enqueue(&Message{Mailbox: "m@x", To: []string{"a@b"}, IdempotencyKey: "k", RequestHash: "h"})
	h.restart()
	if _, ok, err := h.q.Idempotent(ctx, "m@x", "k", "h"); !ok || err != nil {
		t.Fatalf("after restart: %v %v", ok, err)
	}
	h.clock.Advance(25 * time.Hour)
	h.restart() // Open garbage-collects old keys
	if ok, _ := h.q.exists(idemKey("m@x", "k")); ok {
		t.Fatal("expired idempotency key not collected on Open")
	}
}

func TestMonitoredEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	m := &Message{To: []string{"a@b"}, Monitored: true}
	h.enqueue(m)
	if ev := h.eventTypes(m.ID); !slices.Equal(ev, []EventType{EventQueued, EventMonitored}) {
		t.Fatalf("events %v", ev)
	}
}

func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ids := make(chan string, 16)
	for range 16 {
		go func() {
			r, err := h.q.Enqueue(context.Background(), &Message{Mailbox: "m", To: []string{"a@b"}, IdempotencyKey: "k", RequestHash: "h"})
			if err != nil {
				t.Error(err)
			}
			ids <- r.ID
		}()
	}
	first := <-ids
	for range 15 {
		if id := <-ids; id != first {
			t.Fatalf("two messages for one idempotency key: %s %s", first, id)
		}
	}
	if d := h.q.Depth(LaneNormal); d != 1 {
		t.Fatalf("depth %d", d)
	}
}
