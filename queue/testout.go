package queue

// testout.go is the test outbox: the bytes of test messages (Message.Test) that reached the
// test sink, kept per mailbox for Options.TestRetention so their sender can read what would
// have been delivered. Nothing here is ever handed to a deliverer.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// testOutRecord is the value of famTestOut: one test message in its mailbox's test outbox.
type testOutRecord struct {
	To          []string  `json:"to"` // the recipients delivered to the sink so far, in order
	Subject     string    `json:"subject,omitempty"`
	QueuedAt    time.Time `json:"queued_at"`
	DeliveredAt time.Time `json:"delivered_at"` // the latest delivery to the sink
	Size        int       `json:"size"`
	Expires     time.Time `json:"expires"` // first delivery + TestRetention; dropped after
}

// TestOutboxItem is one message of a mailbox's test outbox.
type TestOutboxItem struct {
	MessageID   string
	Mailbox     string
	To          []string
	Subject     string
	QueuedAt    time.Time
	DeliveredAt time.Time
	Size        int
	Expires     time.Time
}

// pruneBatch bounds the expired entries one sink delivery deletes (the rest go at the next).
const pruneBatch = 64

// keepTestCopy records, in b, that the test message m's recipients delivered reached the
// sink: its test outbox entry is created (with a copy of the body) or updated. Called from
// Next under the message lock, in the batch that marks the recipients delivered. It also
// deletes up to pruneBatch expired entries of the same mailbox.
func (q *Queue) keepTestCopy(b *pebble.Batch, id ulid, m *msgRecord, delivered []string, now time.Time) error {
	key := testOutKey(m.Mailbox, id)
	var rec testOutRecord
	err := q.get(key, &rec)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
		rec = testOutRecord{Subject: m.Subject, QueuedAt: m.QueuedAt, Size: m.Size, Expires: now.Add(q.opts.TestRetention)}
		body, closer, gerr := q.db.Get(bodyKey(id))
		switch {
		case errors.Is(gerr, pebble.ErrNotFound): // cannot happen with a pending recipient; keep the entry
			q.log.Error("queue: test outbox: no body to keep", "msg_id", m.ID)
		case gerr != nil:
			return fmt.Errorf("queue: test outbox: body of %s: %w", m.ID, gerr)
		default:
			set(b, testBodyKey(id), slices.Clone(body)) // already v1 + bytes
			closer.Close()
		}
	case err != nil:
		return err
	}
	for _, a := range delivered {
		if !slices.Contains(rec.To, a) {
			rec.To = append(rec.To, a)
		}
	}
	rec.DeliveredAt = now
	set(b, key, encodeValue(rec))
	return q.pruneTestOut(b, testOutPrefix(m.Mailbox), now, pruneBatch)
}

// pruneTestOut deletes, in b, expired test outbox entries under prefix (a mailbox's, or the
// whole family) and their bodies, at most limit of them (0: no limit). Entries are in message
// id order, which is nearly expiry order; the scan stops at the first live one.
func (q *Queue) pruneTestOut(b *pebble.Batch, prefix []byte, now time.Time, limit int) error {
	n := 0
	err := q.scan(prefix, func(k, v []byte) error {
		var rec testOutRecord
		if decodeValue(v, &rec) == nil && now.Before(rec.Expires) {
			if limit > 0 {
				return errStop
			}
			return nil
		}
		del(b, k)
		var id ulid
		copy(id[:], k[len(k)-ulidLen:])
		del(b, testBodyKey(id))
		if n++; limit > 0 && n >= limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// gcTestOutbox deletes every expired test outbox entry (at Open).
func (q *Queue) gcTestOutbox() error {
	b := q.db.NewBatch()
	if err := q.pruneTestOut(b, familyPrefix(famTestOut), q.now(), 0); err != nil {
		b.Close()
		return err
	}
	return commit(b, pebble.NoSync)
}

// TestOutbox lists a mailbox's test outbox, newest first: at most limit items with a message
// id before cursor ("" = from the newest), and the cursor of the next page ("" at the end).
// Expired entries are skipped (they are deleted at a later sink delivery of the mailbox or
// at Open).
func (q *Queue) TestOutbox(ctx context.Context, mailbox, cursor string, limit int) ([]TestOutboxItem, string, error) {
	prefix := testOutPrefix(mailbox)
	upper := prefixEnd(prefix)
	if cursor != "" {
		id, err := parseID(prefixMsg, cursor)
		if err != nil {
			return nil, "", fmt.Errorf("%w: cursor", ErrInvalid)
		}
		upper = testOutKey(mailbox, id)
	}
	it, err := q.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, "", err
	}
	defer it.Close()
	now := q.now()
	var out []TestOutboxItem
	for ok := it.Last(); ok; ok = it.Prev() {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		if len(out) == limit {
			return out, out[len(out)-1].MessageID, nil
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, "", err
		}
		var id ulid
		copy(id[:], it.Key()[len(it.Key())-ulidLen:])
		var rec testOutRecord
		if err := decodeValue(v, &rec); err != nil {
			q.log.Error("queue: skipping corrupt test outbox entry", "key", FormatKey(it.Key()), "err", err)
			continue
		}
		if !now.Before(rec.Expires) {
			continue
		}
		out = append(out, rec.item(formatID(prefixMsg, id), mailbox))
	}
	return out, "", nil
}

// TestMessage returns one message of a mailbox's test outbox and its bytes (the signed RFC
// 5322 message as queued). ErrNotFound when the mailbox has no such entry or it expired.
func (q *Queue) TestMessage(ctx context.Context, mailbox, msgID string) (TestOutboxItem, []byte, error) {
	id, err := parseID(prefixMsg, msgID)
	if err != nil {
		return TestOutboxItem{}, nil, fmt.Errorf("test message %s: %w", msgID, ErrNotFound)
	}
	var rec testOutRecord
	if err := q.get(testOutKey(mailbox, id), &rec); err != nil {
		return TestOutboxItem{}, nil, fmt.Errorf("test message %s: %w", msgID, err)
	}
	if !q.now().Before(rec.Expires) {
		return TestOutboxItem{}, nil, fmt.Errorf("test message %s: %w", msgID, ErrNotFound)
	}
	v, closer, err := q.db.Get(testBodyKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return TestOutboxItem{}, nil, fmt.Errorf("test message %s: %w", msgID, ErrNotFound)
	}
	if err != nil {
		return TestOutboxItem{}, nil, fmt.Errorf("test message %s: %w", msgID, err)
	}
	defer closer.Close()
	if len(v) == 0 || v[0] != valueV1 {
		return TestOutboxItem{}, nil, fmt.Errorf("test message %s: %w", msgID, ErrCorrupt)
	}
	return rec.item(msgID, strings.ToLower(mailbox)), slices.Clone(v[1:]), nil
}

func (r testOutRecord) item(msgID, mailbox string) TestOutboxItem {
	return TestOutboxItem{MessageID: msgID, Mailbox: strings.ToLower(mailbox), To: slices.Clone(r.To), Subject: r.Subject,
		QueuedAt: r.QueuedAt, DeliveredAt: r.DeliveredAt, Size: r.Size, Expires: r.Expires}
}
