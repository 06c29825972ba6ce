package mta_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/queue"
)

// fullLocal is a Local whose only mailbox is over its quota, or missing.
type fullLocal struct{}

func (fullLocal) IsLocal(_ context.Context, domain string) bool { return domain == "local.test" }

func (fullLocal) DeliverLocal(_ context.Context, _, rcpt string, _ []byte) error {
	if rcpt == "full@local.test" {
		return fmt.Errorf("%w: 20480 of 20480 bytes used", mta.ErrMailboxFull)
	}
	return fmt.Errorf("%w: %s", mta.ErrNoSuchRecipient, rcpt)
}

// TestLocalMailboxFull: a local mailbox over its quota defers with 452 4.2.2 (retried), an
// unknown one bounces with 5.1.1.
func TestLocalMailboxFull(t *testing.T) {
	t.Parallel()
	q := openQueue(t, queue.Options{BackoffInitial: time.Hour, BackoffMax: time.Hour})
	runDeliverer(t, mta.New(q, mta.Options{Hostname: "out.sender.test", Local: fullLocal{}}))
	ev := outcome(t, q, sendMsg(t, q, message("agent@sender.test", queue.LaneNormal, "full@local.test")))
	if ev.Type != queue.EventDeferred || ev.SMTPCode != 452 || ev.EnhancedCode != "4.2.2" {
		t.Fatalf("over quota: event %+v, want deferred 452 4.2.2", ev)
	}
	ev = outcome(t, q, sendMsg(t, q, message("agent@sender.test", queue.LaneNormal, "nobody@local.test")))
	if ev.Type != queue.EventBounced || ev.EnhancedCode != "5.1.1" {
		t.Fatalf("unknown mailbox: event %+v, want bounced 5.1.1", ev)
	}
}
