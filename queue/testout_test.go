package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestTestOutbox: a test message that reached the sink keeps its bytes in its mailbox's test
// outbox (the queue body is gone, as for live mail), listed newest first and paged; a live
// message and another mailbox's test message never show; the entry is dropped after
// TestRetention: skipped by readers at once, deleted at the next sink delivery of the mailbox
// or at Open.
func TestTestOutbox(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{TestRetention: 48 * time.Hour})
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		body := fmt.Appendf(nil, "Subject: code %d\r\nDKIM-Signature: v=1; s=mmtest;\r\n\r\nyour code is %d\r\n", i, i)
		ids = append(ids, h.enqueue(&Message{Mailbox: "Agent@D.example", From: "agent@d.example", Subject: fmt.Sprintf("code %d", i),
			To: []string{"x@r.example", "y@s.example"}, Test: true, Body: body}).ID)
	}
	live := h.enqueue(&Message{Mailbox: "agent@d.example", From: "agent@d.example", To: []string{"z@r.example"}}).ID
	other := h.enqueue(&Message{Mailbox: "other@d.example", From: "other@d.example", To: []string{"z@r.example"}, Test: true}).ID
	l := h.next()
	if l.MsgID != live {
		t.Fatalf("leased %s", l.MsgID)
	}
	h.complete(l, false, delivered("z@r.example")...)
	h.none()

	items, next, err := h.q.TestOutbox(ctx, "agent@d.example", "", 2)
	if err != nil || len(items) != 2 || next == "" {
		t.Fatalf("page 1: %+v %q %v", items, next, err)
	}
	if items[0].MessageID != ids[2] || items[1].MessageID != ids[1] {
		t.Fatalf("not newest first: %+v", items)
	}
	it := items[0]
	if !slices.Equal(it.To, []string{"x@r.example", "y@s.example"}) || it.Subject != "code 2" || it.DeliveredAt.IsZero() ||
		it.QueuedAt.IsZero() || it.Size == 0 || it.Mailbox != "agent@d.example" {
		t.Fatalf("item %+v", it)
	}
	page2, next2, err := h.q.TestOutbox(ctx, "AGENT@d.example", next, 2)
	if err != nil || len(page2) != 1 || page2[0].MessageID != ids[0] || next2 != "" {
		t.Fatalf("page 2: %+v %q %v", page2, next2, err)
	}
	if _, _, err := h.q.TestOutbox(ctx, "agent@d.example", "garbage", 2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}

	if _, err := h.q.Body(ctx, ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("queue body kept after the sink: %v", err)
	}
	got, raw, err := h.q.TestMessage(ctx, "agent@d.example", ids[0])
	if err != nil || string(raw) != "Subject: code 0\r\nDKIM-Signature: v=1; s=mmtest;\r\n\r\nyour code is 0\r\n" || got.MessageID != ids[0] {
		t.Fatalf("test message: %+v %q %v", got, raw, err)
	}
	for _, c := range []struct{ mb, id string }{
		{"agent@d.example", live}, {"agent@d.example", other}, {"other@d.example", ids[0]}, {"agent@d.example", "msg_nope"},
	} {
		if _, _, err := h.q.TestMessage(ctx, c.mb, c.id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s in %s: %v", c.id, c.mb, err)
		}
	}
	if items, _, _ := h.q.TestOutbox(ctx, "other@d.example", "", 10); len(items) != 1 || items[0].MessageID != other {
		t.Fatalf("other's outbox: %+v", items)
	}

	// kept across a restart; gone after the retention
	h.restart()
	if _, _, err := h.q.TestMessage(ctx, "agent@d.example", ids[1]); err != nil {
		t.Fatal(err)
	}
	h.advance(49 * time.Hour)
	if items, _, _ := h.q.TestOutbox(ctx, "agent@d.example", "", 10); len(items) != 0 {
		t.Fatalf("expired entries listed: %+v", items)
	}
	if _, _, err := h.q.TestMessage(ctx, "agent@d.example", ids[1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired entry read: %v", err)
	}
	// a new sink delivery of the mailbox deletes its expired entries; Open deletes the rest
	fresh := h.enqueue(&Message{Mailbox: "agent@d.example", From: "agent@d.example", To: []string{"x@r.example"}, Test: true}).ID
	h.none()
	if n := h.countFamily(famTestOut); n != 2 { // fresh and other's
		t.Fatalf("%d test outbox entries after pruning agent's", n)
	}
	if n := h.countFamily(famTestBody); n != 2 {
		t.Fatalf("%d test bodies after pruning agent's", n)
	}
	h.restart()
	if n := h.countFamily(famTestOut) + h.countFamily(famTestBody); n != 2 {
		t.Fatalf("%d test outbox keys after Open", n)
	}
	if _, _, err := h.q.TestMessage(ctx, "agent@d.example", fresh); err != nil {
		t.Fatal(err)
	}
}

// countFamily counts the keys of a family.
func (h *harness) countFamily(fam byte) int {
	h.t.Helper()
	n := 0
	if err := h.q.scan(familyPrefix(fam), func(k, v []byte) error { n++; return nil }); err != nil {
		h.t.Fatal(err)
	}
	return n
}
