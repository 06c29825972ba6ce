package queuetest

import (
	"errors"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// SuppressionQueue is a queue with the suppression list and the signed tokens.
type SuppressionQueue interface {
	queue.Core
	queue.Suppressions
	queue.ReturnPaths
}

// OpenSuppressions opens a fresh, empty SuppressionQueue with o.
type OpenSuppressions func(t *testing.T, o queue.Options) SuppressionQueue

// RunSuppressions runs the suppression list's conformance tests.
func RunSuppressions(t *testing.T, open OpenSuppressions) {
	t.Run("List", func(t *testing.T) { testSuppressList(t, open(t, queue.Options{})) })
	t.Run("HardBounce", func(t *testing.T) { testSuppressBounce(t, open(t, queue.Options{})) })
	t.Run("Unsubscribe", func(t *testing.T) { testUnsubscribe(t, open(t, queue.Options{})) })
}

func testSuppressList(t *testing.T, q SuppressionQueue) {
	c := ctx(t)
	must(t, q.Suppress(c, queue.Suppression{Domain: "Example.COM", Address: " X@D.example", Reason: queue.SuppressManual}))
	must(t, q.Suppress(c, queue.Suppression{Domain: "example.com", Address: "a@d.example", Reason: queue.SuppressComplaint,
		ExpiresAt: time.Now().Add(-time.Minute)}))
	must(t, q.Suppress(c, queue.Suppression{Domain: "other.example", Address: "b@d.example", Reason: queue.SuppressManual}))
	if err := q.Suppress(c, queue.Suppression{Domain: "example.com", Address: "no-at"}); !errors.Is(err, queue.ErrInvalid) {
		t.Fatalf("bad address: %v", err)
	}
	got, err := q.Suppressed(c, "EXAMPLE.com", []string{"x@d.EXAMPLE", "a@d.example", "b@d.example"})
	must(t, err)
	if len(got) != 1 || got["x@d.example"].Reason != queue.SuppressManual || got["x@d.example"].CreatedAt.IsZero() ||
		got["x@d.example"].Domain != "example.com" {
		t.Fatalf("suppressed %+v (expired and other domains' must not count)", got)
	}
	list, err := q.Suppressions(c, "example.com", "", 0)
	must(t, err)
	if len(list) != 2 || list[0].Address != "a@d.example" || list[1].Address != "x@d.example" {
		t.Fatalf("list %+v", list)
	}
	page, err := q.Suppressions(c, "example.com", "a@d.example", 1)
	must(t, err)
	if len(page) != 1 || page[0].Address != "x@d.example" {
		t.Fatalf("page after a@ %+v", page)
	}
	must(t, q.Unsuppress(c, "example.com", "X@d.example"))
	if err := q.Unsuppress(c, "example.com", "x@d.example"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("second unsuppress: %v", err)
	}
}

func testSuppressBounce(t *testing.T, q SuppressionQueue) {
	c := ctx(t)
	r := enqueue(t, q, &queue.Message{Mailbox: "agent@example.com", From: "agent@example.com",
		To: []string{"gone@d.example", "full@d.example"}})
	l := next(t, q)
	_, err := q.Complete(c, l, []queue.Result{
		{Recipient: "gone@d.example", Outcome: queue.Bounced, SMTPCode: 550, EnhancedCode: "5.1.1", Detail: "no such user"},
		{Recipient: "full@d.example", Outcome: queue.Bounced, SMTPCode: 552, EnhancedCode: "5.2.2", Detail: "full"},
	}, false)
	must(t, err)
	got, err := q.Suppressed(c, "example.com", []string{"gone@d.example", "full@d.example"})
	must(t, err)
	s, ok := got["gone@d.example"]
	if len(got) != 1 || !ok || s.Reason != queue.SuppressHardBounce || s.MsgID != r.ID || !s.ExpiresAt.IsZero() {
		t.Fatalf("after bounces %+v", got)
	}
	must(t, q.SuppressMessageRecipient(c, r.ID, "Full@d.example", queue.SuppressComplaint, "report"))
	if err := q.SuppressMessageRecipient(c, r.ID, "stranger@d.example", queue.SuppressComplaint, ""); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("non-recipient: %v", err)
	}
	got, err = q.Suppressed(c, "example.com", []string{"full@d.example"})
	must(t, err)
	if got["full@d.example"].Reason != queue.SuppressComplaint {
		t.Fatalf("complaint %+v", got)
	}
}

func testUnsubscribe(t *testing.T, q SuppressionQueue) {
	c := ctx(t)
	id := queue.NewMessageID(time.Now())
	tok := q.UnsubscribeToken("Example.com", "X@d.example", id)
	s, err := q.Unsubscribe(c, tok, "one-click")
	must(t, err)
	if s.Domain != "example.com" || s.Address != "x@d.example" || s.Reason != queue.SuppressUnsubscribe || s.MsgID != id {
		t.Fatalf("unsubscribe %+v", s)
	}
	if _, err := q.Unsubscribe(c, tok[:len(tok)-2], ""); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("bad token: %v", err)
	}
	got, err := q.Suppressed(c, "example.com", []string{"x@d.example"})
	must(t, err)
	if got["x@d.example"].Reason != queue.SuppressUnsubscribe {
		t.Fatalf("suppressed %+v", got)
	}
}
