package pgqueue

// status.go answers questions about messages: Body and Status.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/queue"
)

// Body returns the stored message body; ErrNotFound once every recipient is final (the
// body is dropped then) or for an unknown message.
func (q *Queue) Body(ctx context.Context, msgID string) ([]byte, error) {
	var b []byte
	err := q.pool.QueryRow(ctx, `SELECT body FROM mq_message WHERE id = $1`, msgID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && b == nil {
		return nil, fmt.Errorf("body %s: %w", msgID, queue.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("body %s: %w", msgID, err)
	}
	return b, nil
}

// Status returns a message with its recipients and events.
func (q *Queue) Status(ctx context.Context, msgID string) (*queue.Status, error) {
	var st *queue.Status
	err := q.tx(ctx, func(tx pgx.Tx) error {
		var err error
		st, err = q.status(ctx, tx, msgID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", msgID, err)
	}
	st.Events, err = q.Events(ctx, msgID)
	if err != nil && !errors.Is(err, queue.ErrNotFound) {
		return nil, err
	}
	return st, nil
}

func (q *Queue) status(ctx context.Context, tx pgx.Tx, msgID string) (*queue.Status, error) {
	st := &queue.Status{ID: msgID}
	var data []byte
	err := tx.QueryRow(ctx, `SELECT mailbox, data, queued_at FROM mq_message WHERE id = $1`, msgID).
		Scan(&st.Mailbox, &data, &st.QueuedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var m msgData
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", queue.ErrCorrupt, err)
	}
	st.From, st.Subject, st.Lane, st.Tags = m.From, m.Subject, m.Lane, m.Tags
	st.ExpiresAt, st.SendAt, st.Size = m.ExpiresAt, m.SendAt, m.Size
	rows, err := tx.Query(ctx, `SELECT address, status, attempts, next_attempt, last_code, last_enhanced,
		last_detail, updated_at FROM mq_rcpt WHERE msg_id = $1 ORDER BY idx`, msgID)
	if err != nil {
		return nil, err
	}
	st.Recipients, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.RecipientStatus, error) {
		var rs queue.RecipientStatus
		var next *time.Time
		err := r.Scan(&rs.Address, &rs.Status, &rs.Attempts, &next, &rs.LastCode, &rs.LastEnhanced,
			&rs.LastDetail, &rs.UpdatedAt)
		if next != nil && pending(rs.Status) {
			rs.NextAttempt = *next
		}
		return rs, err
	})
	if err != nil {
		return nil, err
	}
	st.State = queue.MessageState(st.Recipients, func(r queue.RecipientStatus) string { return r.Status })
	if st.Approval, err = approvalOf(ctx, tx, msgID); err != nil {
		return nil, err
	}
	return st, nil
}
