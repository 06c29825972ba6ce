package pgqueue

// admin.go holds what an operator or a sender does to queued messages (queue.Admin): List,
// Cancel, Retry and Delete, each one transaction, with the Pebble queue's semantics. Cancel
// leaves a unit in a live lease (on any node) to its holder, as the Pebble queue does: the
// message is marked (msgData.Cancel) and what the attempt leaves pending is cancelled by
// Complete, or by the next Next if the lease is lost. Delete fences instead: it removes the
// message's units, so a holder's Complete gets queue.ErrLeaseLost and writes nothing.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/queue"
)

// listPage is how many messages List reads per query.
const listPage = 256

// List returns messages in id (enqueue-time) order, without events: those of f.Mailbox (all
// when ""), in state f.State (all when ""), with an id after f.After, at most f.Limit (0:
// 1000).
func (q *Queue) List(ctx context.Context, f queue.ListFilter) ([]queue.Status, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	if f.After != "" && !queue.ValidMessageID(f.After) {
		return nil, fmt.Errorf("list: %w: after %q", queue.ErrInvalid, f.After)
	}
	after := f.After
	var out []queue.Status
	for len(out) < limit {
		page, err := q.listPage(ctx, f.Mailbox, after)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		for _, st := range page {
			if f.State == "" || st.State == f.State {
				out = append(out, st)
				if len(out) == limit {
					break
				}
			}
		}
		if len(page) < listPage {
			break
		}
		after = page[len(page)-1].ID
	}
	return out, nil
}

// listPage reads up to listPage messages after after, with their recipients, in one snapshot.
func (q *Queue) listPage(ctx context.Context, mailbox, after string) ([]queue.Status, error) {
	var out []queue.Status
	err := q.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT id, mailbox, data, queued_at FROM mq_message
			WHERE id > $1 AND ($2 = '' OR mailbox = $2) ORDER BY id LIMIT $3`, after, mailbox, listPage)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.Status, error) {
			var st queue.Status
			var data []byte
			if err := r.Scan(&st.ID, &st.Mailbox, &data, &st.QueuedAt); err != nil {
				return st, err
			}
			var m msgData
			if err := json.Unmarshal(data, &m); err != nil {
				return st, fmt.Errorf("message %s: %w: %v", st.ID, queue.ErrCorrupt, err)
			}
			st.From, st.Subject, st.Lane, st.Tags = m.From, m.Subject, m.Lane, m.Tags
			st.ExpiresAt, st.SendAt, st.Size, st.Test = m.ExpiresAt, m.SendAt, m.Size, m.Test
			return st, nil
		})
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]string, len(out))
		at := map[string]int{}
		for i, st := range out {
			ids[i], at[st.ID] = st.ID, i
		}
		rows, err = tx.Query(ctx, `SELECT msg_id, address, status, attempts, next_attempt, last_code, last_enhanced,
			last_detail, updated_at FROM mq_rcpt WHERE msg_id = ANY($1) ORDER BY msg_id, idx`, ids)
		if err != nil {
			return err
		}
		var id string
		var rs queue.RecipientStatus
		var next *time.Time
		_, err = pgx.ForEachRow(rows, []any{&id, &rs.Address, &rs.Status, &rs.Attempts, &next, &rs.LastCode,
			&rs.LastEnhanced, &rs.LastDetail, &rs.UpdatedAt}, func() error {
			x := rs
			if next != nil && pending(x.Status) {
				x.NextAttempt = *next
			}
			st := &out[at[id]]
			st.Recipients = append(st.Recipients, x)
			return nil
		})
		return err
	})
	for i := range out {
		out[i].State = queue.MessageState(out[i].Recipients, func(r queue.RecipientStatus) string { return r.Status })
	}
	return out, err
}

// adminRcpt is a recipient as the admin actions read it.
type adminRcpt struct {
	idx      int
	addr     string
	domain   string
	status   string
	attempts int
}

// lockAdmin locks the message's units (first, as the lock order wants) and its row, and reads
// its data and recipients. live is the set of domains whose unit has a live lease.
func lockAdmin(ctx context.Context, tx pgx.Tx, msgID string) (live map[string]bool, m *msgData, rcpts []adminRcpt, err error) {
	rows, err := tx.Query(ctx, `SELECT domain, coalesce(lease_expires > now(), false) FROM mq_unit
		WHERE msg_id = $1 ORDER BY domain FOR UPDATE`, msgID)
	if err != nil {
		return nil, nil, nil, err
	}
	live = map[string]bool{}
	var d string
	var l bool
	if _, err := pgx.ForEachRow(rows, []any{&d, &l}, func() error { live[d] = l; return nil }); err != nil {
		return nil, nil, nil, err
	}
	var data []byte
	err = tx.QueryRow(ctx, `SELECT data FROM mq_message WHERE id = $1 FOR UPDATE`, msgID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil, queue.ErrNotFound
	}
	if err != nil {
		return nil, nil, nil, err
	}
	m = &msgData{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", queue.ErrCorrupt, err)
	}
	rows, err = tx.Query(ctx, `SELECT idx, address, domain, status, attempts FROM mq_rcpt WHERE msg_id = $1 ORDER BY idx`, msgID)
	if err != nil {
		return nil, nil, nil, err
	}
	rcpts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (adminRcpt, error) {
		var x adminRcpt
		return x, r.Scan(&x.idx, &x.addr, &x.domain, &x.status, &x.attempts)
	})
	return live, m, rcpts, err
}

// Cancel cancels every recipient of a message not yet final, in one transaction: each
// recipient waiting in the schedule (a unit not leased, or whose lease expired) or held for
// approval becomes "cancelled" with an event; recipients of a unit in a live lease (held by
// any node) are only reported InFlight and the message is marked, so the running attempt's
// outcome stands and what it leaves pending is cancelled by its Complete (or by Next, if the
// lease is lost). ErrNotFound for an unknown message; ErrNothingToCancel when every
// recipient is final or already marked. by is for the audit journal.
func (q *Queue) Cancel(ctx context.Context, msgID, by string) (queue.CancelResult, error) {
	var res queue.CancelResult
	var mailbox string
	err := q.tx(ctx, func(tx pgx.Tx) error {
		res = queue.CancelResult{}
		live, m, rcpts, err := lockAdmin(ctx, tx, msgID)
		if err != nil {
			return err
		}
		now, err := txNow(ctx, tx)
		if err != nil {
			return err
		}
		var idxs []int
		var evs []queue.Event
		var gone []string // domains whose unit is removed
		heldCancelled := false
		for _, r := range rcpts {
			switch {
			case r.status == queue.RcptPendingApproval:
				heldCancelled = true
			case !pending(r.status):
				continue
			case live[r.domain]:
				if !m.Cancel {
					res.InFlight = append(res.InFlight, r.addr)
				}
				continue
			default:
				if !slices.Contains(gone, r.domain) {
					gone = append(gone, r.domain)
				}
			}
			idxs = append(idxs, r.idx)
			res.Cancelled = append(res.Cancelled, r.addr)
			evs = append(evs, cancelEvent(m, r.addr, r.attempts))
		}
		if len(res.Cancelled)+len(res.InFlight) == 0 {
			return queue.ErrNothingToCancel
		}
		if len(res.InFlight) > 0 {
			m.Cancel = true
			if _, err := tx.Exec(ctx, `UPDATE mq_message SET data = $2 WHERE id = $1`, msgID, mustJSON(m)); err != nil {
				return err
			}
		}
		if err := cancelRcpts(ctx, tx, msgID, idxs, now); err != nil {
			return err
		}
		if heldCancelled {
			if err := closeApproval(ctx, tx, msgID, queue.ApprovalCancelled, by, queue.CancelDetail, now); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `SELECT mailbox FROM mq_message WHERE id = $1`, msgID).Scan(&mailbox); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mq_unit WHERE msg_id = $1 AND domain = ANY($2)`, msgID, gone); err != nil {
			return err
		}
		if err := q.appendEvents(ctx, tx, msgID, now, evs); err != nil {
			return err
		}
		return q.dropBodyIfDone(ctx, tx, msgID)
	})
	if err != nil {
		return queue.CancelResult{}, fmt.Errorf("cancel %s: %w", msgID, err)
	}
	q.notify()
	q.audit(ctx, audit.Record{Kind: audit.KindCancel, Actor: by, Mailbox: mailbox, Object: msgID,
		Detail: map[string]string{"cancelled": strconv.Itoa(len(res.Cancelled)), "in_flight": strconv.Itoa(len(res.InFlight))}})
	return res, nil
}

func cancelEvent(m *msgData, addr string, attempts int) queue.Event {
	return queue.Event{Type: queue.EventCancelled, Recipient: addr, Detail: queue.CancelDetail, Attempt: attempts,
		Tags: m.Tags, Test: m.Test}
}

func cancelRcpts(ctx context.Context, tx pgx.Tx, msgID string, idxs []int, now time.Time) error {
	if len(idxs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE mq_rcpt SET status = 'cancelled', next_attempt = NULL, updated_at = $3
		WHERE msg_id = $1 AND idx = ANY($2)`, msgID, idxs, now)
	return err
}

// cancelUnit cancels the pending recipients of a picked unit of a message marked by Cancel
// (its live lease was lost, or handed back by Postpone) instead of leasing it.
func (q *Queue) cancelUnit(ctx context.Context, tx pgx.Tx, u *unitMsg, domain string, now time.Time) error {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM mq_message WHERE id = $1 FOR UPDATE`, u.id); err != nil {
		return err
	}
	var idxs []int
	var evs []queue.Event
	for _, r := range u.rcpts {
		idxs = append(idxs, r.idx)
		evs = append(evs, cancelEvent(&u.data, r.addr, r.attempts))
	}
	if err := cancelRcpts(ctx, tx, u.id, idxs, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM mq_unit WHERE msg_id = $1 AND domain = $2`, u.id, domain); err != nil {
		return err
	}
	if err := q.appendEvents(ctx, tx, u.id, now, evs); err != nil {
		return err
	}
	return q.dropBodyIfDone(ctx, tx, u.id)
}

// Retry makes the message's pending recipients due now and clears their domains' backoff
// (failures and backoff_until), for every unit not in a live lease; leased units are left
// alone. ErrNotFound for an unknown message.
func (q *Queue) Retry(ctx context.Context, msgID string) error {
	err := q.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM mq_message WHERE id = $1`, msgID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return queue.ErrNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE mq_unit SET due = now() WHERE msg_id = $1
			AND (lease_expires IS NULL OR lease_expires <= now()) RETURNING domain`, msgID)
		if err != nil {
			return err
		}
		domains, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(domains) == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE mq_rcpt SET next_attempt = now(), updated_at = now()
			WHERE msg_id = $1 AND domain = ANY($2) AND status IN ('queued', 'deferred')`, msgID, domains); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE mq_domain SET failures = 0, backoff_until = NULL WHERE domain = ANY($1)`, domains)
		return err
	})
	if err != nil {
		return fmt.Errorf("retry %s: %w", msgID, err)
	}
	q.notify()
	return nil
}

// DeleteDetail is the detail of the "failed" events Delete writes (as the Pebble queue's).
const DeleteDetail = "deleted by admin"

// Delete gives up on a message: every recipient not yet final becomes "failed" with detail
// "deleted by admin" (one event each) and its units and body are removed. A unit in a live
// lease is removed too, which fences its holder (Complete gets ErrLeaseLost and writes
// nothing). A pending approval is rejected by "admin". The message row and its events stay
// for Status. ErrNotFound when unknown.
func (q *Queue) Delete(ctx context.Context, msgID string) error {
	err := q.tx(ctx, func(tx pgx.Tx) error {
		_, m, rcpts, err := lockAdmin(ctx, tx, msgID)
		if err != nil {
			return err
		}
		now, err := txNow(ctx, tx)
		if err != nil {
			return err
		}
		var idxs []int
		var evs []queue.Event
		for _, r := range rcpts {
			if pending(r.status) || r.status == queue.RcptPendingApproval {
				idxs = append(idxs, r.idx)
				evs = append(evs, queue.Event{Type: queue.EventFailed, Recipient: r.addr, Detail: DeleteDetail,
					Attempt: r.attempts, Tags: m.Tags, Test: m.Test})
			}
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE mq_rcpt SET status = 'failed', last_detail = $3, next_attempt = NULL, updated_at = $4
			WHERE msg_id = $1 AND idx = ANY($2)`, msgID, idxs, DeleteDetail, now)
		b.Queue(`DELETE FROM mq_unit WHERE msg_id = $1`, msgID)
		b.Queue(`UPDATE mq_message SET body = NULL WHERE id = $1`, msgID)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if err := closeApproval(ctx, tx, msgID, queue.ApprovalRejected, "admin", DeleteDetail, now); err != nil {
			return err
		}
		return q.appendEvents(ctx, tx, msgID, now, evs)
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", msgID, err)
	}
	q.notify()
	return nil
}
