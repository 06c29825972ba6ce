// local.go: delivery into this node's own mailboxes: mail between local mailboxes (the mta's
// Local hook, so it never leaves the node) and DSNs for local senders.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/queue"
)

// localDelivery implements mta.Local on the mailbox store, recording a "received" event for
// every stored message as inbound mail does.
type localDelivery struct {
	store mailbox.Store
	queue queue.Backend
	log   *slog.Logger
	quota int64 // [limits] mailbox_quota: over it a delivery is mailbox.ErrOverQuota, retried by the queue
}

var _ mta.Local = localDelivery{}

func (l localDelivery) IsLocal(ctx context.Context, domain string) bool {
	_, err := l.store.Domain(ctx, domain)
	return err == nil
}

func (l localDelivery) DeliverLocal(ctx context.Context, from, rcpt string, body []byte) error {
	mb, err := l.store.Mailbox(ctx, rcpt)
	if errors.Is(err, mailbox.ErrNotFound) {
		return fmt.Errorf("%w: %s", mta.ErrNoSuchRecipient, rcpt)
	}
	if err != nil {
		return err
	}
	return l.storeInbox(ctx, mb, withReturnPath(from, body))
}

// storeInbox stores raw in mb's INBOX (held from the agent in gated_all) and records "received".
func (l localDelivery) storeInbox(ctx context.Context, mb mailbox.Mailbox, raw []byte) error {
	em, err := l.store.Deliver(ctx, mb.Address, "INBOX", raw,
		mailbox.DeliverOptions{Pending: mb.Oversight == mailbox.GatedAll, QuotaBytes: l.quota})
	if errors.Is(err, mailbox.ErrOverQuota) {
		return fmt.Errorf("%w: %w", mta.ErrMailboxFull, err)
	}
	if err != nil {
		return err
	}
	ev := queue.Event{Type: queue.EventReceived, MsgID: em.ID, MailboxID: mb.Address, EmailID: em.ID,
		Received: receivedSummary(em, raw)}
	if err := l.queue.Record(ctx, ev); err != nil {
		// The mail is stored; a lost event must not turn into a second copy.
		l.log.Warn("record received event", "mailbox", mb.Address, "email_id", em.ID, "err", err)
	}
	return nil
}

// deliverDSN files a DSN about one of our messages in the sending mailbox's INBOX. The DSN is
// addressed to the message's VERP return path; the queue knows which mailbox sent it. A DSN
// for anyone else goes out through the queue like any message.
func (l localDelivery) deliverDSN(ctx context.Context, dsn *queue.Message) error {
	if len(dsn.To) == 1 {
		if id, ok := l.queue.ParseBounceAddress(dsn.To[0]); ok {
			st, err := l.queue.Status(ctx, id)
			if err != nil {
				return fmt.Errorf("DSN for %s: %w", id, err)
			}
			if mb, err := l.store.Mailbox(ctx, st.Mailbox); err == nil {
				return l.storeInbox(ctx, mb, withReturnPath("", dsn.Body))
			}
		}
	}
	_, err := l.queue.Enqueue(ctx, dsn)
	return err
}

// withReturnPath prepends the Return-Path header a final delivery adds (RFC 5321 §4.4).
func withReturnPath(from string, body []byte) []byte {
	h := "Return-Path: <" + strings.NewReplacer("\r", "", "\n", "").Replace(from) + ">\r\n"
	return append([]byte(h), body...)
}
