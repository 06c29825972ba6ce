package pgqueue

// journal.go is the event journal and the webhook outbox: appended in the transaction that
// makes the change, numbered from a per-subject counter row (mq_subject) that the
// transaction updates, so sequence numbers commit in order and never twice.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/pgdb"
	"multimail.dev/multimail/queue"
)

// appendEvents numbers evs (Seq, MsgID = subject, Time = now) and writes them with their
// outbox entries in tx.
func (q *Queue) appendEvents(ctx context.Context, tx pgx.Tx, subject string, now time.Time, evs []queue.Event) error {
	if len(evs) == 0 {
		return nil
	}
	var last int64
	err := tx.QueryRow(ctx, `INSERT INTO mq_subject (subject, last_seq) VALUES ($1, $2)
		ON CONFLICT (subject) DO UPDATE SET last_seq = mq_subject.last_seq + $2 RETURNING last_seq`,
		subject, len(evs)).Scan(&last)
	if err != nil {
		return fmt.Errorf("journal %s: %w", subject, err)
	}
	subs := *q.subs.Load()
	b := &pgx.Batch{}
	for i := range evs {
		ev := &evs[i]
		ev.Seq, ev.MsgID, ev.Time = uint64(last)-uint64(len(evs))+uint64(i)+1, subject, now
		data := mustJSON(ev)
		b.Queue(`INSERT INTO mq_event (subject, seq, data) VALUES ($1, $2, $3)`, subject, int64(ev.Seq), data)
		for _, s := range subs {
			if len(s.Events) > 0 && !slices.Contains(s.Events, ev.Type) {
				continue
			}
			b.Queue(`INSERT INTO mq_outbox (subscriber, subject, seq, data, next_attempt, first_try)
				VALUES ($1, $2, $3, $4, $5, $5)`, s.ID, subject, int64(ev.Seq), data, now)
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("journal %s: %w", subject, err)
	}
	q.countOutcomes(evs) // when written: a transaction retried or rolled back after this counts them again
	return nil
}

// Record appends ev to the journal of ev.MsgID (any subject: a message id, or the email id
// of a "received" event) with its outbox entries, in one committed transaction.
func (q *Queue) Record(ctx context.Context, ev queue.Event) error {
	if ev.MsgID == "" || len(ev.MsgID) > 255 {
		return fmt.Errorf("%w: subject id %q", queue.ErrInvalid, ev.MsgID)
	}
	err := q.tx(ctx, func(tx pgx.Tx) error {
		now, err := txNow(ctx, tx)
		if err != nil {
			return err
		}
		return q.appendEvents(ctx, tx, ev.MsgID, now, []queue.Event{ev})
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", ev.MsgID, err)
	}
	q.kickOutbox()
	return nil
}

// Events returns the journal of a subject in order; ErrNotFound when it has none.
func (q *Queue) Events(ctx context.Context, msgID string) ([]queue.Event, error) {
	rows, err := q.pool.Query(ctx, `SELECT data FROM mq_event WHERE subject = $1 ORDER BY seq`, msgID)
	if err != nil {
		return nil, fmt.Errorf("events %s: %w", msgID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.Event, error) {
		var b []byte
		var ev queue.Event
		if err := r.Scan(&b); err != nil {
			return ev, err
		}
		return ev, json.Unmarshal(b, &ev)
	})
	if err != nil {
		return nil, fmt.Errorf("events %s: %w", msgID, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("events %s: %w", msgID, queue.ErrNotFound)
	}
	return out, nil
}

// txNow is the transaction's time on the database's clock.
func txNow(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	var now time.Time
	err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now)
	return now, err
}

// chainHead is the condition that an outbox row o heads its (subscriber, subject) chain.
const chainHead = `NOT EXISTS (SELECT 1 FROM mq_outbox p
	WHERE p.subscriber = o.subscriber AND p.subject = o.subject AND p.seq < o.seq)`

// OutboxDue returns up to limit due items that head their (subscriber, subject) chain and
// marks them busy for LeaseTTL, so that no node hands them out again before then unless
// OutboxAck or OutboxRetry is called first. Rows another node is handing out are skipped.
func (q *Queue) OutboxDue(ctx context.Context, limit int) ([]queue.OutboxItem, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []queue.OutboxItem
	err := q.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT subscriber, subject, seq, data, attempts, next_attempt, first_try
			FROM mq_outbox o WHERE next_attempt <= now() AND busy_until <= now() AND `+chainHead+`
			ORDER BY next_attempt LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanOutbox)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, it := range out {
			b.Queue(`UPDATE mq_outbox SET busy_until = now() + $4 * interval '1 microsecond'
				WHERE subscriber = $1 AND subject = $2 AND seq = $3`,
				it.Subscriber, it.Event.MsgID, int64(it.Event.Seq), micros(q.opts.LeaseTTL))
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("outbox due: %w", err)
	}
	return out, nil
}

func scanOutbox(r pgx.CollectableRow) (queue.OutboxItem, error) {
	var it queue.OutboxItem
	var subject string
	var seq int64
	var data []byte
	if err := r.Scan(&it.Subscriber, &subject, &seq, &data, &it.Attempts, &it.NextAttempt, &it.FirstTry); err != nil {
		return it, err
	}
	if err := json.Unmarshal(data, &it.Event); err != nil {
		return it, fmt.Errorf("outbox %s/%s/%d: %w", it.Subscriber, subject, seq, err)
	}
	it.ID = fmt.Sprintf("%s.%d", subject, seq) // the webhook-id: the same on every node and retry
	return it, nil
}

// OutboxAck deletes a delivered item; the next item of its chain becomes due.
func (q *Queue) OutboxAck(ctx context.Context, it queue.OutboxItem) error {
	err := pgdb.Retry(ctx, func() error {
		_, err := q.pool.Exec(ctx, `DELETE FROM mq_outbox WHERE subscriber = $1 AND subject = $2 AND seq = $3`,
			it.Subscriber, it.Event.MsgID, int64(it.Event.Seq))
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox ack %s: %w", it.ID, err)
	}
	q.kickOutbox()
	return nil
}

// OutboxRetry records a failed attempt and schedules the next at next; an item older than
// OutboxMaxAge (from FirstTry, on the database's clock) is dropped instead.
func (q *Queue) OutboxRetry(ctx context.Context, it queue.OutboxItem, next time.Time, lastErr string) error {
	var dropped bool
	err := pgdb.Retry(ctx, func() error {
		tag, err := q.pool.Exec(ctx, `DELETE FROM mq_outbox WHERE subscriber = $1 AND subject = $2 AND seq = $3
			AND first_try + $4 * interval '1 microsecond' <= now()`,
			it.Subscriber, it.Event.MsgID, int64(it.Event.Seq), micros(q.opts.OutboxMaxAge))
		if err != nil {
			return err
		}
		if dropped = tag.RowsAffected() > 0; dropped {
			return nil
		}
		_, err = q.pool.Exec(ctx, `UPDATE mq_outbox SET attempts = $4, next_attempt = $5,
			busy_until = '-infinity', last_err = $6 WHERE subscriber = $1 AND subject = $2 AND seq = $3`,
			it.Subscriber, it.Event.MsgID, int64(it.Event.Seq), it.Attempts+1, next, lastErr)
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox retry %s: %w", it.ID, err)
	}
	if dropped {
		q.log.Warn("queue: dropping webhook event after max age", "msg_id", it.Event.MsgID,
			"subscriber", it.Subscriber, "webhook_id", it.ID, "attempts", it.Attempts+1, "err", lastErr)
	}
	return nil
}

// OutboxKick is signalled (capacity 1, never closed) after local journal writes and every
// poll interval (other nodes' writes).
func (q *Queue) OutboxKick() <-chan struct{} { return q.kick }

// OutboxNextDue returns when the earliest chain head becomes ready (false = none, or the
// database could not be asked).
func (q *Queue) OutboxNextDue(ctx context.Context) (time.Time, bool) {
	var t *time.Time
	err := q.pool.QueryRow(ctx, `SELECT min(greatest(next_attempt, busy_until)) FROM mq_outbox o WHERE `+chainHead).Scan(&t)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			q.log.Error("queue: outbox next due", "err", err)
		}
		return time.Time{}, false
	}
	if t == nil {
		return time.Time{}, false
	}
	return *t, true
}
