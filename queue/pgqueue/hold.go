package pgqueue

// hold.go: closing a message's pending approval when it is cancelled or deleted, and
// HoldInFlight, which puts every queued or deferred message on hold under a new approval.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/pgdb"
	"multimail.dev/multimail/queue"
)

// closeApproval closes the message's pending approvals as state (cancelled by the sender,
// rejected by a delete), by and reason recorded, in tx. The caller holds the message's row
// lock (the lock order: message, then approval).
func closeApproval(ctx context.Context, tx pgx.Tx, msgID string, state queue.ApprovalState, by, reason string, now time.Time) error {
	rows, err := tx.Query(ctx, `SELECT id, data FROM mq_approval WHERE msg_id = $1 AND state = $2 ORDER BY id FOR UPDATE`,
		msgID, string(queue.ApprovalPending))
	if err != nil {
		return err
	}
	type row struct {
		id   string
		data []byte
	}
	open, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.data)
	})
	if err != nil {
		return err
	}
	for _, o := range open {
		var ar queue.ApprovalRecord
		if err := json.Unmarshal(o.data, &ar); err != nil {
			return fmt.Errorf("%w: approval %s: %v", queue.ErrCorrupt, o.id, err)
		}
		ar.State, ar.By, ar.Reason, ar.DecidedAt = state, by, reason, now
		if _, err := tx.Exec(ctx, `UPDATE mq_approval SET state = $2, data = $3 WHERE id = $1`,
			o.id, string(state), mustJSON(ar)); err != nil {
			return err
		}
	}
	return nil
}

// HoldInFlight holds every message with a recipient queued or deferred and no live lease on
// it: those recipients become pending_approval under a new pending approval (By "restore",
// Reason reason), its "pending_approval" event is journalled, and its units are removed;
// approving it sends it, rejecting it drops it. One transaction per message. A message
// whose unit is in a live lease on some node is left alone (that node is delivering it).
// It returns the held message ids.
func (q *Queue) HoldInFlight(ctx context.Context, reason string) ([]string, error) {
	var ids []string
	after := ""
	for {
		var page []string
		err := pgdb.Retry(ctx, func() error {
			rows, err := q.pool.Query(ctx, `SELECT DISTINCT msg_id FROM mq_rcpt WHERE status IN ('queued', 'deferred')
				AND msg_id > $1 ORDER BY msg_id LIMIT 1000`, after)
			if err != nil {
				return err
			}
			page, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			return ids, fmt.Errorf("hold in flight: %w", err)
		}
		for _, id := range page {
			held, err := q.holdOne(ctx, id, reason)
			if err != nil {
				return ids, fmt.Errorf("hold %s: %w", id, err)
			}
			if held {
				ids = append(ids, id)
			}
		}
		if len(page) < 1000 {
			return ids, nil
		}
		after = page[len(page)-1]
	}
}

func (q *Queue) holdOne(ctx context.Context, msgID, reason string) (bool, error) {
	held := false
	err := q.tx(ctx, func(tx pgx.Tx) error {
		held = false
		live, m, rcpts, err := lockAdmin(ctx, tx, msgID)
		if err != nil {
			return err
		}
		for _, l := range live {
			if l {
				return nil // being delivered by a live node
			}
		}
		var mailbox string
		if err := tx.QueryRow(ctx, `SELECT mailbox FROM mq_message WHERE id = $1`, msgID).Scan(&mailbox); err != nil {
			return err
		}
		now, err := txNow(ctx, tx)
		if err != nil {
			return err
		}
		ar := queue.ApprovalRecord{Approval: queue.Approval{ID: queue.NewApprovalID(now), State: queue.ApprovalPending,
			By: "restore", Reason: reason}, MsgID: msgID, Mailbox: mailbox, Subject: m.Subject, Tags: m.Tags,
			CreatedAt: now, Test: m.Test}
		var idxs []int
		for _, r := range rcpts {
			if pending(r.status) {
				idxs = append(idxs, r.idx)
				ar.To = append(ar.To, r.addr)
			}
		}
		if len(idxs) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE mq_rcpt SET status = $3, next_attempt = NULL, updated_at = $4 WHERE msg_id = $1 AND idx = ANY($2)`,
			msgID, idxs, queue.RcptPendingApproval, now)
		b.Queue(`DELETE FROM mq_unit WHERE msg_id = $1`, msgID)
		b.Queue(`INSERT INTO mq_approval (id, msg_id, state, data) VALUES ($1, $2, $3, $4)`,
			ar.ID, msgID, string(ar.State), mustJSON(ar))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		held = true
		return q.appendEvents(ctx, tx, msgID, now, []queue.Event{{Type: queue.EventPendingApproval,
			Reason: reason, By: "restore", Tags: m.Tags, Test: m.Test}})
	})
	return held, err
}
