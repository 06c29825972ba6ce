package pgqueue

// enqueue.go stores a new message: one transaction with the message, its body, recipients,
// one schedule unit per recipient domain, the idempotency key and the events with their
// outbox entries. Its commit is the acknowledgement.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/queue"
)

// idempotencyTTL is how long an idempotency key is remembered (as the Pebble queue).
const idempotencyTTL = 24 * time.Hour

// errDuplicate ends an Enqueue transaction whose idempotency key was used already.
var errDuplicate = errors.New("duplicate")

// Enqueue stores m and schedules its recipients; it returns after the commit. An
// idempotency key is unique across nodes (the primary key of mq_idem): of two nodes racing
// with one key, the second waits for the first's commit and returns its result.
func (q *Queue) Enqueue(ctx context.Context, m *queue.Message) (queue.Receipt, error) {
	if m.Test {
		return queue.Receipt{}, fmt.Errorf("enqueue: test messages: %w", ErrUnsupported)
	}
	if err := prepareApproval(m); err != nil {
		return queue.Receipt{}, err
	}
	if m.Lane > queue.LaneLow || len(m.Mailbox) > 1<<15 || len(m.IdempotencyKey) > 1024 {
		return queue.Receipt{}, fmt.Errorf("%w: lane, mailbox or idempotency key", queue.ErrInvalid)
	}
	addrs, domains, err := queue.NormaliseRecipients(m.To)
	if err != nil {
		return queue.Receipt{}, err
	}
	if m.ID == "" {
		m.ID = queue.NewMessageID(time.Now())
	} else if !queue.ValidMessageID(m.ID) {
		return queue.Receipt{}, fmt.Errorf("%w: message id %q", queue.ErrInvalid, m.ID)
	}
	var r queue.Receipt
	err = q.tx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = q.enqueue(ctx, tx, m, addrs, domains)
		return err
	})
	switch {
	case errors.Is(err, errDuplicate):
		return r, nil
	case isUniqueViolation(err):
		return queue.Receipt{}, fmt.Errorf("%w: message %s exists", queue.ErrInvalid, m.ID)
	case err != nil:
		return queue.Receipt{}, fmt.Errorf("enqueue %s: %w", m.ID, err)
	}
	q.notify()
	q.audit(ctx, queue.SendRecord(m, r.Status, q.rcptHashes()))
	return r, nil
}

func (q *Queue) enqueue(ctx context.Context, tx pgx.Tx, m *queue.Message, addrs, domains []string) (queue.Receipt, error) {
	now, err := txNow(ctx, tx)
	if err != nil {
		return queue.Receipt{}, err
	}
	r := queue.Receipt{ID: m.ID, Status: receiptStatus(m.Approval), QueuedAt: now}
	if m.IdempotencyKey != "" {
		if dup, ok, err := q.claimKey(ctx, tx, m, r); err != nil || ok {
			return dup, firstErr(err, errDuplicate)
		}
	}
	data := msgData{From: m.From, Subject: m.Subject, Lane: m.Lane, Tags: slices.Clone(m.Tags),
		ExpiresAt: m.ExpiresAt, SendAt: m.SendAt, Size: len(m.Body), Source: m.Source,
		Monitored: m.Monitored, RequireTLS: m.RequireTLS}
	due := data.start(now)
	queued := r.Status == queue.StatusQueued
	body, next := m.Body, &due
	if r.Status == queue.StatusRejected {
		body = nil // a rule's rejection: never sent
	}
	if !queued {
		next = nil // held or rejected: no schedule
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO mq_message (id, mailbox, data, body, queued_at) VALUES ($1, $2, $3, $4, $5)`,
		m.ID, m.Mailbox, mustJSON(data), body, now)
	evs := queueApproval(b, m, addrs, now)
	seen := map[string]bool{}
	for i, a := range addrs {
		b.Queue(`INSERT INTO mq_rcpt (msg_id, idx, address, domain, status, next_attempt, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, m.ID, i, a, domains[i], rcptStatus(r.Status), next, now)
		if seen[domains[i]] || !queued {
			continue
		}
		seen[domains[i]] = true
		b.Queue(`INSERT INTO mq_domain (domain) VALUES ($1) ON CONFLICT (domain) DO NOTHING`, domains[i])
		b.Queue(`INSERT INTO mq_unit (msg_id, domain, lane, due) VALUES ($1, $2, $3, $4)`,
			m.ID, domains[i], int16(m.Lane), due)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return queue.Receipt{}, err
	}
	if queued {
		evs = append(evs, queue.Event{Type: queue.EventQueued, Tags: m.Tags})
		if due.After(now) {
			evs = append(evs, queue.Event{Type: queue.EventScheduled, SendAt: due, Tags: m.Tags})
		}
	}
	if m.Monitored && r.Status != queue.StatusRejected {
		evs = append(evs, queue.Event{Type: queue.EventMonitored, Tags: m.Tags})
	}
	return r, q.appendEvents(ctx, tx, m.ID, now, evs)
}

// claimKey inserts m's idempotency key, or returns the first result (true) when the key is
// taken within 24h by the same request (ErrIdempotencyConflict by another).
func (q *Queue) claimKey(ctx context.Context, tx pgx.Tx, m *queue.Message, r queue.Receipt) (queue.Receipt, bool, error) {
	_, err := tx.Exec(ctx, `DELETE FROM mq_idem WHERE mailbox = $1 AND key = $2
		AND created <= now() - $3 * interval '1 microsecond'`, m.Mailbox, m.IdempotencyKey, micros(idempotencyTTL))
	if err != nil {
		return queue.Receipt{}, false, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO mq_idem (mailbox, key, request_hash, msg_id, status, queued_at, created)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (mailbox, key) DO NOTHING`,
		m.Mailbox, m.IdempotencyKey, m.RequestHash, m.ID, r.Status, r.QueuedAt)
	if err != nil || tag.RowsAffected() == 1 {
		return queue.Receipt{}, false, err
	}
	// Taken (by a transaction that has committed: ON CONFLICT waited for it).
	return q.lookupKey(ctx, tx, m.Mailbox, m.IdempotencyKey, m.RequestHash)
}

// Idempotent looks an idempotency key up: the first result (Duplicate set) and true when
// it was used with requestHash within 24h; ErrIdempotencyConflict with another hash.
func (q *Queue) Idempotent(ctx context.Context, mailbox, key, requestHash string) (queue.Receipt, bool, error) {
	var r queue.Receipt
	var ok bool
	err := q.tx(ctx, func(tx pgx.Tx) error {
		var err error
		r, ok, err = q.lookupKey(ctx, tx, mailbox, key, requestHash)
		return err
	})
	return r, ok, err
}

func (q *Queue) lookupKey(ctx context.Context, tx pgx.Tx, mailbox, key, requestHash string) (queue.Receipt, bool, error) {
	var hash string
	r := queue.Receipt{Duplicate: true}
	err := tx.QueryRow(ctx, `SELECT request_hash, msg_id, status, queued_at FROM mq_idem
		WHERE mailbox = $1 AND key = $2 AND created > now() - $3 * interval '1 microsecond'`,
		mailbox, key, micros(idempotencyTTL)).Scan(&hash, &r.ID, &r.Status, &r.QueuedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return queue.Receipt{}, false, nil
	case err != nil:
		return queue.Receipt{}, false, fmt.Errorf("idempotency key: %w", err)
	case hash != requestHash:
		return queue.Receipt{}, false, queue.ErrIdempotencyConflict
	}
	return r, true, nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
