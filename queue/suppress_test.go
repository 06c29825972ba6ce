package queue

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSuppressFromBounces: 5.1.1/5.1.2/5.1.10 at RCPT and in a late DSN suppress the address
// for the sending mailbox's domain (a DNS-decided 5.1.2 for a day only); 5.7.x, 5.6.x and
// 5.2.2 never do.
func TestSuppressFromBounces(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	to := []string{"gone@d.example", "Nodomain@d.example", "spam@d.example", "dmarc@d.example", "full@d.example", "content@d.example"}
	id := h.enqueue(&Message{Mailbox: "auth@yourproduct.com", From: "b@yourproduct.com", To: to}).ID
	l := h.next()
	codes := map[string]string{"gone@d.example": "5.1.1", "Nodomain@d.example": "5.1.10", "spam@d.example": "5.7.1",
		"dmarc@d.example": "5.7.26", "full@d.example": "5.2.2", "content@d.example": "5.6.0"}
	var res []Result
	for a, c := range codes {
		res = append(res, Result{Recipient: a, Outcome: Bounced, SMTPCode: 550, EnhancedCode: c, Detail: c + " refused"})
	}
	h.complete(l, false, res...)
	got, err := h.q.Suppressed(ctx, "yourproduct.com", to)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["gone@d.example"].Reason != SuppressHardBounce || got["nodomain@d.example"].MsgID != id {
		t.Fatalf("suppressed %+v", got)
	}
	if !got["gone@d.example"].ExpiresAt.IsZero() {
		t.Fatalf("an MX's 5.1.1 expires: %+v", got["gone@d.example"])
	}
	// No server answered: our DNS said the domain does not exist. That suppresses for a day
	// only (a lapsed registration is fixed; a login address must not be locked out for good).
	id3 := h.enqueue(&Message{Mailbox: "auth@yourproduct.com", From: "b@yourproduct.com", To: []string{"a@typo.example"}}).ID
	h.complete(h.next(), false, Result{Recipient: "a@typo.example", Outcome: Bounced, EnhancedCode: "5.1.2", Detail: "domain typo.example has no MX and no address"})
	if got, _ := h.q.Suppressed(ctx, "yourproduct.com", []string{"a@typo.example"}); got["a@typo.example"].MsgID != id3 ||
		!got["a@typo.example"].ExpiresAt.Equal(h.clock.Now().Add(dnsBounceSuppression)) {
		t.Fatalf("DNS bounce: %+v", got)
	}
	h.advance(dnsBounceSuppression)
	if got, _ := h.q.Suppressed(ctx, "yourproduct.com", []string{"a@typo.example"}); len(got) != 0 {
		t.Fatalf("DNS bounce still suppressing after a day: %+v", got)
	}
	if err := h.q.Unsuppress(ctx, "yourproduct.com", "a@typo.example"); err != nil { // listed until removed
		t.Fatal(err)
	}
	if other, _ := h.q.Suppressed(ctx, "other.example", to); len(other) != 0 {
		t.Fatalf("another sending domain: %+v", other)
	}
	// a late DSN: delivered at the MX, then failed 5.1.2
	id2 := h.enqueue(&Message{Mailbox: "auth@yourproduct.com", From: "b@yourproduct.com", To: []string{"late@e.example", "policy@e.example"}}).ID
	h.complete(h.next(), false, delivered("late@e.example", "policy@e.example")...)
	for a, c := range map[string]string{"late@e.example": "5.1.2", "policy@e.example": "5.7.1"} {
		if err := h.q.Record(ctx, Event{Type: EventBounced, MsgID: id2, Recipient: a, EnhancedCode: c}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = h.q.Suppressed(ctx, "yourproduct.com", []string{"late@e.example", "policy@e.example"})
	if len(got) != 1 || got["late@e.example"].Reason != SuppressHardBounce {
		t.Fatalf("late: %+v", got)
	}
	// list, delete, expiry, message-recipient check
	list, err := h.q.Suppressions(ctx, "yourproduct.com", "", 2)
	if err != nil || len(list) != 2 || list[0].Address != "gone@d.example" {
		t.Fatalf("list %+v %v", list, err)
	}
	if rest, _ := h.q.Suppressions(ctx, "yourproduct.com", list[1].Address, 10); len(rest) != 1 {
		t.Fatalf("page 2 %+v", rest)
	}
	if err := h.q.Unsuppress(ctx, "yourproduct.com", "GONE@d.example"); err != nil {
		t.Fatal(err)
	}
	if err := h.q.Unsuppress(ctx, "yourproduct.com", "gone@d.example"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if err := h.q.Suppress(ctx, Suppression{Domain: "yourproduct.com", Address: "tmp@x.example", Reason: SuppressManual,
		ExpiresAt: h.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.q.Suppressed(ctx, "yourproduct.com", []string{"tmp@x.example"}); len(got) != 1 {
		t.Fatal("not suppressed before expiry")
	}
	h.advance(time.Hour)
	if got, _ := h.q.Suppressed(ctx, "yourproduct.com", []string{"tmp@x.example"}); len(got) != 0 {
		t.Fatal("suppressed after expiry")
	}
	if err := h.q.SuppressMessageRecipient(ctx, id2, "stranger@e.example", SuppressComplaint, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("complaint about a stranger: %v", err)
	}
	if err := h.q.SuppressMessageRecipient(ctx, id2, "policy@e.example", SuppressComplaint, "abuse"); err != nil {
		t.Fatal(err)
	}
}

// TestComplaintEvent: a complaint or an unsubscribe by a recipient the message was delivered
// to leaves one "complained"/"unsubscribed" event in its trail (with its webhook); a repeat,
// or one about a recipient not delivered, suppresses without an event.
func TestComplaintEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	id := h.enqueue(&Message{Mailbox: "news@yourproduct.com", From: "news@yourproduct.com", To: []string{"Reader@r.example", "slow@r.example"}}).ID
	h.complete(h.next(), false, delivered("Reader@r.example")[0],
		Result{Recipient: "slow@r.example", Outcome: Deferred, SMTPCode: 451, EnhancedCode: "4.3.0", Detail: "later"})
	for range 2 {
		if err := h.q.SuppressMessageRecipient(ctx, id, "reader@r.example", SuppressComplaint, "ARF abuse report"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.q.SuppressMessageRecipient(ctx, id, "slow@r.example", SuppressComplaint, "ARF abuse report"); err != nil {
		t.Fatal(err)
	}
	tok := h.q.UnsubscribeToken("yourproduct.com", "Reader@r.example", id)
	for range 2 {
		if _, err := h.q.Unsubscribe(ctx, tok, "one-click"); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := h.q.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.Type == EventComplained || ev.Type == EventUnsubscribed {
			got = append(got, string(ev.Type)+" "+ev.Recipient+" "+ev.Reason)
		}
	}
	want := []string{"complained Reader@r.example complaint", "unsubscribed Reader@r.example unsubscribe"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("events %q, want %q", got, want)
	}
	if s, _ := h.q.Suppressed(ctx, "yourproduct.com", []string{"slow@r.example", "reader@r.example"}); len(s) != 2 ||
		s["reader@r.example"].Reason != SuppressUnsubscribe {
		t.Fatalf("suppressed %+v", s)
	}
}
