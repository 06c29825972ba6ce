package mta

import (
	"context"
	"errors"

	"multimail.dev/multimail/queue"
)

// Local delivers mail for the node's own domains into its mailboxes, without SMTP, the way
// Postfix hands mydestination mail to local(8). It is consulted before [[transport]] routes:
// a local domain never leaves the node.
type Local interface {
	// IsLocal reports whether domain (lower case) is one of the node's mail domains.
	IsLocal(ctx context.Context, domain string) bool
	// DeliverLocal stores body for one recipient and returns only after a durable commit.
	// An error wrapping ErrNoSuchRecipient bounces that recipient; any other defers it
	// (ErrMailboxFull as 452 4.2.2).
	DeliverLocal(ctx context.Context, from, rcpt string, body []byte) error
}

// ErrNoSuchRecipient is what Local.DeliverLocal wraps for an address with no mailbox.
var ErrNoSuchRecipient = errors.New("no such local mailbox")

// ErrMailboxFull is what Local.DeliverLocal wraps for a mailbox over its quota: deferred with
// 452 4.2.2 (RFC 3463: mailbox full), retried until room is made or the message expires.
var ErrMailboxFull = errors.New("local mailbox full")

// localHost is the mx_host of local deliveries.
const localHost = "local"

// deliverLocal stores the lease's message in the node's mailboxes, one recipient at a time.
func (d *Deliverer) deliverLocal(ctx context.Context, l *queue.Lease, body []byte) []queue.Result {
	out := make([]queue.Result, len(l.Recipients))
	for i, rcpt := range l.Recipients {
		err := d.opts.Local.DeliverLocal(ctx, l.From, rcpt, body)
		switch {
		case err == nil:
			out[i] = queue.Result{Recipient: rcpt, Outcome: queue.Delivered, SMTPCode: 250,
				EnhancedCode: "2.0.0", Detail: "delivered to mailbox", MXHost: localHost}
		case errors.Is(err, ErrNoSuchRecipient):
			e := &Error{Code: 550, Status: "5.1.1", Msg: "no such mailbox", Err: err, Perm: true}
			out[i] = *failure(rcpt, e, localHost, false)
		case errors.Is(err, ErrMailboxFull):
			e := &Error{Code: 452, Status: "4.2.2", Msg: "mailbox full", Err: err}
			out[i] = *failure(rcpt, e, localHost, false)
		default:
			e := &Error{Code: 451, Status: "4.3.0", Msg: "local delivery failed", Err: err}
			out[i] = *failure(rcpt, e, localHost, false)
		}
	}
	return out
}
