package queuetest

// testout.go is the conformance suite of test messages (Message.Test) and the test outbox.

import (
	"errors"
	"slices"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// TestOutboxQueue is a queue with the test outbox.
type TestOutboxQueue interface {
	queue.Core
	queue.TestOutboxReader
}

// OpenTestOutbox opens a fresh, empty TestOutboxQueue with o.
type OpenTestOutbox func(t *testing.T, o queue.Options) TestOutboxQueue

// RunTestOutbox runs the test outbox's conformance tests.
func RunTestOutbox(t *testing.T, open OpenTestOutbox) {
	t.Run("NeverLeased", func(t *testing.T) { testNeverLeased(t, open(t, queue.Options{})) })
	t.Run("Pages", func(t *testing.T) { testTestOutboxPages(t, open(t, queue.Options{})) })
}

// sinkAll waits until every recipient of id is final (test messages are delivered to the
// sink by Next itself, which leases nothing).
func sinkAll(t *testing.T, q TestOutboxQueue, id string) {
	t.Helper()
	noNext(t, q) // Next runs the sink and returns nothing
	for _, s := range rcptStatus(t, q, id) {
		if s != queue.RcptDelivered {
			t.Fatalf("test message %s: recipient %s, want delivered", id, s)
		}
	}
}

func testNeverLeased(t *testing.T, q TestOutboxQueue) {
	c := ctx(t)
	body := []byte("Subject: test\r\n\r\nhello\r\n")
	r := enqueue(t, q, &queue.Message{Mailbox: "Sender@Example.com", From: "sender@example.com", Subject: "test",
		To: []string{"a@d.example", "b@e.example"}, Body: body, Test: true})
	sinkAll(t, q, r.ID)
	evs, err := q.Events(c, r.ID)
	must(t, err)
	n := 0
	for _, ev := range evs {
		if !ev.Test {
			t.Fatalf("event %+v of a test message without Test", ev)
		}
		if ev.Type == queue.EventDelivered {
			n++
			if ev.MXHost != queue.TestSink {
				t.Fatalf("delivered %+v, want MX host %s", ev, queue.TestSink)
			}
		}
	}
	if n != 2 {
		t.Fatalf("events %+v: want 2 delivered", evs)
	}
	st, err := q.Status(c, r.ID)
	must(t, err)
	if !st.Test {
		t.Fatalf("Status.Test false")
	}
	it, got, err := q.TestMessage(c, "sender@example.com", r.ID)
	must(t, err)
	to := slices.Clone(it.To)
	slices.Sort(to)
	if !slices.Equal(got, body) || it.MessageID != r.ID || it.Mailbox != "sender@example.com" || it.Subject != "test" ||
		!slices.Equal(to, []string{"a@d.example", "b@e.example"}) || it.Size != len(body) || !it.Expires.After(it.DeliveredAt) {
		t.Fatalf("TestMessage = %+v, %q", it, got)
	}
	if _, _, err := q.TestMessage(c, "other@example.com", r.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("TestMessage of another mailbox: %v, want ErrNotFound", err)
	}
	if _, err := q.Body(c, r.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("queue body of a finished test message: %v, want ErrNotFound", err)
	}
}

func testTestOutboxPages(t *testing.T, q TestOutboxQueue) {
	c := ctx(t)
	var want []string
	for range 5 {
		r := enqueue(t, q, &queue.Message{Mailbox: "s@example.com", To: []string{"a@d.example"}, Test: true})
		want = append([]string{r.ID}, want...) // newest first
		time.Sleep(2 * time.Millisecond)       // distinct ULID milliseconds, so id order is enqueue order
	}
	live := enqueue(t, q, &queue.Message{Mailbox: "s@example.com", To: []string{"b@d.example"}})
	l := next(t, q) // the live message is leased, the test ones go to the sink
	if l.MsgID != live.ID {
		t.Fatalf("leased %s, want the live message %s", l.MsgID, live.ID)
	}
	complete(t, q, l, queue.Delivered, 250, "2.0.0")
	noNext(t, q)
	var got []string
	cursor := ""
	for range 10 {
		items, next, err := q.TestOutbox(c, "S@example.com", cursor, 2)
		must(t, err)
		for _, it := range items {
			got = append(got, it.MessageID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("TestOutbox pages = %v, want %v", got, want)
	}
	if _, _, err := q.TestOutbox(c, "s@example.com", "junk", 2); !errors.Is(err, queue.ErrInvalid) {
		t.Fatalf("bad cursor: %v, want ErrInvalid", err)
	}
}
