package pgqueue

// approval.go is queue.Oversight: messages held for a decision (Message.Approval pending),
// listed, then approved (released to the schedule) or rejected, with the Pebble queue's
// semantics. The hold is written by Enqueue's transaction (mq_approval, recipients
// 'pending_approval', no unit); each decision is one transaction that locks the message and
// then the approval row, so of two nodes deciding at once the second waits for the first's
// commit, sees the approval decided and gets queue.ErrNotPending.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/queue"
)

var _ queue.Oversight = (*Queue)(nil)

// prepareApproval checks m.Approval as the Pebble queue does and gives it an id and its
// initial state (pending when unset).
func prepareApproval(m *queue.Message) error {
	a := m.Approval
	if a == nil {
		return nil
	}
	switch a.State {
	case "":
		a.State = queue.ApprovalPending
	case queue.ApprovalPending, queue.ApprovalApproved, queue.ApprovalRejected:
	default:
		return fmt.Errorf("%w: approval state %q", queue.ErrInvalid, a.State)
	}
	if a.ID == "" {
		a.ID = queue.NewApprovalID(time.Now())
	} else if !queue.ValidApprovalID(a.ID) {
		return fmt.Errorf("%w: approval id %q", queue.ErrInvalid, a.ID)
	}
	return nil
}

// receiptStatus is the status a message with approval a is enqueued in.
func receiptStatus(a *queue.Approval) string {
	switch {
	case a == nil || a.State == queue.ApprovalApproved:
		return queue.StatusQueued
	case a.State == queue.ApprovalRejected:
		return queue.StatusRejected
	}
	return queue.StatusPendingApproval
}

// rcptStatus is the recipients' status of a message enqueued with receipt status s.
func rcptStatus(s string) string {
	switch s {
	case queue.StatusRejected:
		return queue.RcptRejected
	case queue.StatusPendingApproval:
		return queue.RcptPendingApproval
	}
	return queue.RcptQueued
}

// queueApproval adds m's approval row to b (after the message's) and returns its events,
// which come first in the message's journal: "pending_approval", or the rule's decision.
func queueApproval(b *pgx.Batch, m *queue.Message, addrs []string, now time.Time) []queue.Event {
	a := m.Approval
	if a == nil {
		return nil
	}
	if a.State != queue.ApprovalPending && a.DecidedAt.IsZero() {
		a.DecidedAt = now
	}
	ar := queue.ApprovalRecord{Approval: *a, MsgID: m.ID, Mailbox: m.Mailbox, Subject: m.Subject,
		To: slices.Clone(addrs), Tags: slices.Clone(m.Tags), CreatedAt: now, Test: m.Test}
	b.Queue(`INSERT INTO mq_approval (id, msg_id, state, data) VALUES ($1, $2, $3, $4)`,
		a.ID, m.ID, string(a.State), mustJSON(ar))
	if a.State == queue.ApprovalPending {
		return []queue.Event{{Type: queue.EventPendingApproval, Tags: m.Tags}}
	}
	return []queue.Event{{Type: queue.EventType(a.State), By: a.By, Rule: a.Rule, Reason: a.Reason, Tags: m.Tags}}
}

// Approvals lists approval records in creation order; state "" lists all.
func (q *Queue) Approvals(ctx context.Context, state queue.ApprovalState) ([]queue.ApprovalRecord, error) {
	rows, err := q.pool.Query(ctx, `SELECT id, data FROM mq_approval WHERE $1 = '' OR state = $1 ORDER BY id`, string(state))
	if err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	var out []queue.ApprovalRecord
	var id string
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &data}, func() error {
		var ar queue.ApprovalRecord
		if err := json.Unmarshal(data, &ar); err != nil {
			q.log.Error("queue: skipping corrupt approval", "approval", id, "err", err)
			return nil
		}
		out = append(out, ar)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	return out, nil
}

// Approval returns one approval record (ErrNotFound when unknown).
func (q *Queue) Approval(ctx context.Context, id string) (*queue.ApprovalRecord, error) {
	var data []byte
	err := q.pool.QueryRow(ctx, `SELECT data FROM mq_approval WHERE id = $1`, id).Scan(&data)
	if err != nil {
		return nil, fmt.Errorf("approval %s: %w", id, notFound(err))
	}
	ar, err := decodeApproval(data)
	if err != nil {
		return nil, fmt.Errorf("approval %s: %w", id, err)
	}
	return ar, nil
}

// approvalOf returns the current (latest) approval of a message, nil when it has none (for
// Status).
func approvalOf(ctx context.Context, tx pgx.Tx, msgID string) (*queue.Approval, error) {
	var data []byte
	err := tx.QueryRow(ctx, `SELECT data FROM mq_approval WHERE msg_id = $1 ORDER BY id DESC LIMIT 1`, msgID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ar, err := decodeApproval(data)
	if err != nil {
		return nil, err
	}
	return &ar.Approval, nil
}

func decodeApproval(data []byte) (*queue.ApprovalRecord, error) {
	var ar queue.ApprovalRecord
	if err := json.Unmarshal(data, &ar); err != nil {
		return nil, fmt.Errorf("%w: approval: %v", queue.ErrCorrupt, err)
	}
	return &ar, nil
}

// notFound maps "no row" to queue.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.ErrNotFound
	}
	return err
}

// Approve releases a held message: its recipients become queued (due at once, or at its
// SendAt) and the events "approved" and "queued" (and "scheduled") are journaled.
// ErrNotPending when the approval is decided already, ErrNotFound when unknown.
func (q *Queue) Approve(ctx context.Context, id, by, reason string) error {
	return q.decide(ctx, id, queue.ApprovalApproved, by, reason, nil)
}

// ApproveRelease is Approve with release rewriting the body in the decision's transaction,
// so a released message is never delivered with the body it was held with. An error of
// release leaves the message held and undecided. release may run more than once when the
// transaction is retried (a serialization failure): only its last result is stored.
func (q *Queue) ApproveRelease(ctx context.Context, id, by, reason string, release queue.ReleaseFunc) error {
	return q.decide(ctx, id, queue.ApprovalApproved, by, reason, release)
}

// Reject decides a held message will never be sent: its recipients become "rejected", the
// body is dropped and the event "rejected" is journaled. ErrNotPending when decided already.
func (q *Queue) Reject(ctx context.Context, id, by, reason string) error {
	return q.decide(ctx, id, queue.ApprovalRejected, by, reason, nil)
}

func (q *Queue) decide(ctx context.Context, id string, state queue.ApprovalState, by, reason string, release queue.ReleaseFunc) error {
	var ar *queue.ApprovalRecord
	err := q.tx(ctx, func(tx pgx.Tx) error {
		var err error
		ar, err = q.decideTx(ctx, tx, id, state, by, reason, release)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", state, id, err)
	}
	q.notify()
	q.audit(ctx, queue.DecisionRecord(ar, state))
	return nil
}

// decideTx locks the message, then the approval (the order every writer of both follows),
// and writes the decision: approval, recipients, units or body, events.
func (q *Queue) decideTx(ctx context.Context, tx pgx.Tx, id string, state queue.ApprovalState, by, reason string,
	release queue.ReleaseFunc) (*queue.ApprovalRecord, error) {
	var msgID string
	if err := tx.QueryRow(ctx, `SELECT msg_id FROM mq_approval WHERE id = $1`, id).Scan(&msgID); err != nil {
		return nil, notFound(err)
	}
	var mdata, adata []byte
	if err := tx.QueryRow(ctx, `SELECT data FROM mq_message WHERE id = $1 FOR UPDATE`, msgID).Scan(&mdata); err != nil {
		return nil, notFound(err)
	}
	if err := tx.QueryRow(ctx, `SELECT data FROM mq_approval WHERE id = $1 FOR UPDATE`, id).Scan(&adata); err != nil {
		return nil, notFound(err)
	}
	ar, err := decodeApproval(adata)
	if err != nil {
		return nil, err
	}
	if ar.State != queue.ApprovalPending {
		return nil, fmt.Errorf("%w (%s)", queue.ErrNotPending, ar.State)
	}
	var m msgData
	if err := json.Unmarshal(mdata, &m); err != nil {
		return nil, fmt.Errorf("%w: message: %v", queue.ErrCorrupt, err)
	}
	now, err := txNow(ctx, tx)
	if err != nil {
		return nil, err
	}
	ar.State, ar.By, ar.Reason, ar.DecidedAt = state, by, reason, now
	if release != nil {
		if err := q.rewriteBody(ctx, tx, ar, &m, release); err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE mq_approval SET state = $2, data = $3 WHERE id = $1`,
		id, string(state), mustJSON(ar)); err != nil {
		return nil, err
	}
	evs := []queue.Event{{Type: queue.EventType(state), By: by, Reason: reason, Tags: m.Tags}}
	if state == queue.ApprovalApproved {
		evs, err = q.releaseHeld(ctx, tx, msgID, &m, now, evs)
	} else {
		err = rejectHeld(ctx, tx, msgID, now)
	}
	if err != nil {
		return nil, err
	}
	return ar, q.appendEvents(ctx, tx, msgID, now, evs)
}

// rewriteBody stores the body release returns for the held message and its new size.
func (q *Queue) rewriteBody(ctx context.Context, tx pgx.Tx, ar *queue.ApprovalRecord, m *msgData, release queue.ReleaseFunc) error {
	var body []byte
	if err := tx.QueryRow(ctx, `SELECT body FROM mq_message WHERE id = $1`, ar.MsgID).Scan(&body); err != nil {
		return notFound(err)
	}
	if body == nil {
		return queue.ErrNotFound
	}
	out, err := release(ar, body)
	if err != nil {
		return err
	}
	m.Size = len(out)
	_, err = tx.Exec(ctx, `UPDATE mq_message SET body = $2, data = $3 WHERE id = $1`, ar.MsgID, out, mustJSON(m))
	return err
}

// releaseHeld makes the held recipients queued, due now (or at SendAt), with one unit per
// domain, and adds the events "queued" (and "scheduled") to evs.
func (q *Queue) releaseHeld(ctx context.Context, tx pgx.Tx, msgID string, m *msgData, now time.Time, evs []queue.Event) ([]queue.Event, error) {
	due := m.start(now)
	rows, err := tx.Query(ctx, `UPDATE mq_rcpt SET status = 'queued', next_attempt = $2, updated_at = $3
		WHERE msg_id = $1 AND status = 'pending_approval' RETURNING domain`, msgID, due, now)
	if err != nil {
		return nil, err
	}
	domains, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	slices.Sort(domains)
	b := &pgx.Batch{}
	for _, d := range slices.Compact(domains) {
		b.Queue(`INSERT INTO mq_domain (domain) VALUES ($1) ON CONFLICT (domain) DO NOTHING`, d)
		b.Queue(`INSERT INTO mq_unit (msg_id, domain, lane, due) VALUES ($1, $2, $3, $4)
			ON CONFLICT (msg_id, domain) DO NOTHING`, msgID, d, int16(m.Lane), due) // a live unit schedules the domain already
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	evs = append(evs, queue.Event{Type: queue.EventQueued, Tags: m.Tags})
	if due.After(now) {
		evs = append(evs, queue.Event{Type: queue.EventScheduled, SendAt: due, Tags: m.Tags})
	}
	return evs, nil
}

// rejectHeld makes the held recipients rejected and drops the body.
func rejectHeld(ctx context.Context, tx pgx.Tx, msgID string, now time.Time) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE mq_rcpt SET status = 'rejected', next_attempt = NULL, updated_at = $2
		WHERE msg_id = $1 AND status = 'pending_approval'`, msgID, now)
	b.Queue(`UPDATE mq_message SET body = NULL WHERE id = $1`, msgID)
	return tx.SendBatch(ctx, b).Close()
}
