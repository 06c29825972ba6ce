package queue

// backend.go is the queue's seam: the interfaces the rest of the program uses it through, so
// that a second implementation (queue/pgqueue, several nodes on one PostgreSQL database) can
// stand where the Pebble Queue does. Each caller takes the smallest one it needs (mta takes
// Delivery, the webhook dispatcher Outbox); api, submission and cmd/multimail take Backend.

import (
	"context"
	"time"
)

// Delivery is what the MTA needs: units to deliver, their bodies, recording outcomes, and
// enqueuing the DSNs it makes.
type Delivery interface {
	// Enqueue stores m durably (the acknowledgement) and schedules its recipients.
	Enqueue(ctx context.Context, m *Message) (Receipt, error)
	// Next blocks until a unit of one of lanes is due and leases it (see the package comment
	// for the lane order), or ctx ends.
	Next(ctx context.Context, lanes ...Lane) (*Lease, error)
	// Complete records the results of a lease's attempt and returns the recipients that
	// reached a final failure. ErrLeaseLost when the lease is no longer held.
	Complete(ctx context.Context, l *Lease, results []Result, domainBackoff bool) ([]Final, error)
	// Postpone hands a lease back without an attempt; its recipients are due at until.
	Postpone(ctx context.Context, l *Lease, until time.Time) error
	// Body returns the stored RFC 5322 bytes of a message (ErrNotFound once deleted).
	Body(ctx context.Context, msgID string) ([]byte, error)
	// Status returns a message and its recipients' states (ErrNotFound when unknown).
	Status(ctx context.Context, msgID string) (*Status, error)
	// SetOnFinal sets the hook told about recipients the queue finalised by itself.
	SetOnFinal(fn FinalFunc)
}

// Journal is the per-message event journal.
type Journal interface {
	// Record appends ev (its Seq and Time set by the journal) and its outbox entries.
	Record(ctx context.Context, ev Event) error
	// Events returns a message's journal in order.
	Events(ctx context.Context, msgID string) ([]Event, error)
}

// Outbox is the webhook outbox, what the webhook dispatcher needs.
type Outbox interface {
	// SetSubscribers replaces the fan-out of events journalled from now on.
	SetSubscribers(subs []Subscriber) error
	// OutboxDue returns up to limit due entries, each subscriber's oldest per message first.
	OutboxDue(ctx context.Context, limit int) ([]OutboxItem, error)
	// OutboxAck deletes a delivered entry.
	OutboxAck(ctx context.Context, it OutboxItem) error
	// OutboxRetry reschedules an entry after a failed attempt.
	OutboxRetry(ctx context.Context, it OutboxItem, next time.Time, lastErr string) error
	// OutboxKick is signalled when an entry may have become due.
	OutboxKick() <-chan struct{}
	// OutboxNextDue returns the earliest next attempt of the outbox, if any.
	OutboxNextDue(ctx context.Context) (time.Time, bool)
}

// Core is the delivery queue proper: what a second backend implements first, and what the
// conformance suite (queue/queuetest) checks.
type Core interface {
	Delivery
	Journal
	Outbox
	// Idempotent looks up a mailbox's idempotency key: the first result, or false.
	Idempotent(ctx context.Context, mailbox, key, requestHash string) (Receipt, bool, error)
	// Poke wakes waiters of Next (something outside the queue may have made work due).
	Poke()
	// Close stops the queue's goroutines; the database it was given stays open.
	Close() error
}

// Oversight is the approval workflow of held messages.
type Oversight interface {
	Approvals(ctx context.Context, state ApprovalState) ([]ApprovalRecord, error)
	Approval(ctx context.Context, id string) (*ApprovalRecord, error)
	Approve(ctx context.Context, id, by, reason string) error
	ApproveRelease(ctx context.Context, id, by, reason string, release ReleaseFunc) error
	Reject(ctx context.Context, id, by, reason string) error
}

// Suppressions is the per-sending-domain suppression list and one-click unsubscribe.
type Suppressions interface {
	Suppress(ctx context.Context, s Suppression) error
	SuppressMessageRecipient(ctx context.Context, msgID, addr, reason, detail string) error
	Unsuppress(ctx context.Context, domain, addr string) error
	Suppressed(ctx context.Context, domain string, addrs []string) (map[string]Suppression, error)
	Suppressions(ctx context.Context, domain, after string, limit int) ([]Suppression, error)
	Unsubscribe(ctx context.Context, tok, detail string) (Suppression, error)
}

// ReturnPaths makes and checks the node's signed tokens: VERP return paths and one-click
// unsubscribe tokens.
type ReturnPaths interface {
	BounceAddress(msgID, domain string) string
	ParseBounceAddress(addr string) (msgID string, ok bool)
	UnsubscribeToken(domain, rcpt, msgID string) string
	ParseUnsubscribeToken(tok string) (domain, rcpt, msgID string, ok bool)
}

// Admin is what an operator or a sender does to queued messages.
type Admin interface {
	List(ctx context.Context, f ListFilter) ([]Status, error)
	Cancel(ctx context.Context, msgID, by string) (CancelResult, error)
	Retry(ctx context.Context, msgID string) error
	Delete(ctx context.Context, msgID string) error
	HoldInFlight(ctx context.Context, reason string) ([]string, error)
}

// TestOutboxReader reads what test keys' messages would have sent.
type TestOutboxReader interface {
	TestOutbox(ctx context.Context, mailbox, cursor string, limit int) ([]TestOutboxItem, string, error)
	TestMessage(ctx context.Context, mailbox, msgID string) (TestOutboxItem, []byte, error)
}

// Backend is the whole queue as api, submission and cmd/multimail use it.
type Backend interface {
	Core
	Oversight
	Suppressions
	ReturnPaths
	Admin
	TestOutboxReader
}

var _ Backend = (*Queue)(nil)
