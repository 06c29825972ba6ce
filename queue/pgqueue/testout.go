package pgqueue

// testout.go is the test outbox (queue.TestOutboxReader, table mq_testout of migration
// 0005): a test message (Message.Test) is never leased; when one of its units is picked,
// its recipients are delivered to the test sink in that transaction, which also keeps a copy
// of the body for the sender to read, for Options.TestRetention after the first delivery.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/queue"
)

// testPrune bounds the expired entries of a mailbox one sink delivery deletes.
const testPrune = 64

// testSinkDetail is the detail of a test message's "delivered" events.
const testSinkDetail = "test key: delivered to the test sink, never to an MX"

// testOutData is mq_testout.data (JSON).
type testOutData struct {
	To          []string  `json:"to"` // the recipients delivered to the sink so far, in order
	Subject     string    `json:"subject,omitempty"`
	QueuedAt    time.Time `json:"queued_at"`
	DeliveredAt time.Time `json:"delivered_at"` // the latest delivery to the sink
	Size        int       `json:"size"`
}

// testSink delivers the picked unit's pending recipients to the test sink ("delivered", MX
// host queue.TestSink), writes or updates the message's test outbox row, prunes expired rows
// of the mailbox and removes the unit.
func (q *Queue) testSink(ctx context.Context, tx pgx.Tx, u *unitMsg, domain string, now time.Time) error {
	var body []byte
	if err := tx.QueryRow(ctx, `SELECT body FROM mq_message WHERE id = $1 FOR UPDATE`, u.id).Scan(&body); err != nil {
		return err
	}
	mailbox := strings.ToLower(u.mailbox)
	var evs []queue.Event
	var addrs []string
	b := &pgx.Batch{}
	for _, r := range u.rcpts {
		b.Queue(`UPDATE mq_rcpt SET status = 'delivered', attempts = attempts + 1, next_attempt = NULL,
			last_code = 0, last_enhanced = '', last_detail = $3, updated_at = $4 WHERE msg_id = $1 AND idx = $2`,
			u.id, r.idx, testSinkDetail, now)
		evs = append(evs, queue.Event{Type: queue.EventDelivered, Recipient: r.addr, MXHost: queue.TestSink,
			Detail: testSinkDetail, Attempt: r.attempts + 1, Tags: u.data.Tags, Test: true})
		addrs = append(addrs, r.addr)
	}
	b.Queue(`DELETE FROM mq_unit WHERE msg_id = $1 AND domain = $2`, u.id, domain)
	b.Queue(`DELETE FROM mq_testout WHERE mailbox = $1 AND msg_id IN (SELECT msg_id FROM mq_testout
		WHERE mailbox = $1 AND expires <= now() ORDER BY msg_id LIMIT $2)`, mailbox, testPrune)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	var raw []byte
	err := tx.QueryRow(ctx, `SELECT data FROM mq_testout WHERE mailbox = $1 AND msg_id = $2 FOR UPDATE`,
		mailbox, u.id).Scan(&raw)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if body == nil { // cannot happen with a pending recipient; keep the entry all the same
			q.log.Error("queue: test outbox: no body to keep", "msg_id", u.id)
			body = []byte{}
		}
		d := testOutData{To: addrs, Subject: u.data.Subject, QueuedAt: u.queuedAt, DeliveredAt: now, Size: u.data.Size}
		_, err = tx.Exec(ctx, `INSERT INTO mq_testout (mailbox, msg_id, data, body, expires) VALUES ($1, $2, $3, $4, $5)`,
			mailbox, u.id, mustJSON(d), body, now.Add(q.opts.TestRetention))
	case err == nil:
		var d testOutData
		if json.Unmarshal(raw, &d) != nil {
			d = testOutData{Subject: u.data.Subject, QueuedAt: u.queuedAt, Size: u.data.Size}
		}
		for _, a := range addrs {
			if !slices.Contains(d.To, a) {
				d.To = append(d.To, a)
			}
		}
		d.DeliveredAt = now
		_, err = tx.Exec(ctx, `UPDATE mq_testout SET data = $3 WHERE mailbox = $1 AND msg_id = $2`, mailbox, u.id, mustJSON(d))
	}
	if err != nil {
		return err
	}
	if err := q.appendEvents(ctx, tx, u.id, now, evs); err != nil {
		return err
	}
	return q.dropBodyIfDone(ctx, tx, u.id)
}

// gcTestOutbox deletes every expired test outbox row (at Open).
func (q *Queue) gcTestOutbox(ctx context.Context) error {
	_, err := q.pool.Exec(ctx, `DELETE FROM mq_testout WHERE expires <= now()`)
	return err
}

// TestOutbox lists a mailbox's test outbox, newest first: at most limit items with a message
// id before cursor ("" = from the newest), and the cursor of the next page ("" at the end).
// Expired rows are skipped.
func (q *Queue) TestOutbox(ctx context.Context, mailbox, cursor string, limit int) ([]queue.TestOutboxItem, string, error) {
	if cursor != "" && !queue.ValidMessageID(cursor) {
		return nil, "", fmt.Errorf("%w: cursor", queue.ErrInvalid)
	}
	if limit <= 0 {
		return nil, "", nil
	}
	mailbox = strings.ToLower(mailbox)
	rows, err := q.pool.Query(ctx, `SELECT msg_id, data, expires FROM mq_testout
		WHERE mailbox = $1 AND ($2 = '' OR msg_id < $2) AND expires > now() ORDER BY msg_id DESC LIMIT $3`,
		mailbox, cursor, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("test outbox: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.TestOutboxItem, error) {
		return scanTestOut(r, mailbox)
	})
	if err != nil {
		return nil, "", fmt.Errorf("test outbox: %w", err)
	}
	if len(out) > limit {
		return out[:limit], out[limit-1].MessageID, nil
	}
	return out, "", nil
}

func scanTestOut(r pgx.Row, mailbox string) (queue.TestOutboxItem, error) {
	it := queue.TestOutboxItem{Mailbox: mailbox}
	var raw []byte
	if err := r.Scan(&it.MessageID, &raw, &it.Expires); err != nil {
		return it, err
	}
	var d testOutData
	if err := json.Unmarshal(raw, &d); err != nil {
		return it, fmt.Errorf("test outbox %s: %w: %v", it.MessageID, queue.ErrCorrupt, err)
	}
	it.To, it.Subject, it.QueuedAt, it.DeliveredAt, it.Size = d.To, d.Subject, d.QueuedAt, d.DeliveredAt, d.Size
	return it, nil
}

// TestMessage returns one message of a mailbox's test outbox and its bytes. ErrNotFound when
// the mailbox has no such row or it expired.
func (q *Queue) TestMessage(ctx context.Context, mailbox, msgID string) (queue.TestOutboxItem, []byte, error) {
	mailbox = strings.ToLower(mailbox)
	var body []byte
	var it queue.TestOutboxItem
	err := q.tx(ctx, func(tx pgx.Tx) error {
		var err error
		it, err = scanTestOut(tx.QueryRow(ctx, `SELECT msg_id, data, expires FROM mq_testout
			WHERE mailbox = $1 AND msg_id = $2 AND expires > now()`, mailbox, msgID), mailbox)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT body FROM mq_testout WHERE mailbox = $1 AND msg_id = $2`, mailbox, msgID).Scan(&body)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = queue.ErrNotFound
	}
	if err != nil {
		return queue.TestOutboxItem{}, nil, fmt.Errorf("test message %s: %w", msgID, err)
	}
	return it, body, nil
}
