package queue

import "errors"

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrIdempotencyConflict: the same idempotency key with a different RequestHash within 24h.
	ErrIdempotencyConflict = errors.New("queue: idempotency key reused with a different request")
	// ErrNotFound: no such message, approval or outbox item.
	ErrNotFound = errors.New("queue: not found")
	// ErrNotPending: approve/reject of an approval that is not pending.
	ErrNotPending = errors.New("queue: approval not pending")
	// ErrLeaseLost: Complete on an expired or unknown lease.
	ErrLeaseLost = errors.New("queue: lease lost")
	// ErrClosed: the queue was closed.
	ErrClosed = errors.New("queue: closed")
	// ErrInvalid: the message or argument is malformed (no recipients, bad lane, ...).
	ErrInvalid = errors.New("queue: invalid")
	// ErrNothingToCancel: Cancel of a message whose recipients are all final (or already
	// cancelled).
	ErrNothingToCancel = errors.New("queue: nothing left to cancel")
)

// ErrCorrupt marks a stored key or value that cannot be decoded; such records are skipped
// and logged, never fatal.
var ErrCorrupt = errors.New("queue: corrupt record")
