package mailbox

// pebble_usage.go: the mailbox usage counter (m 13), changed in the content batch of every
// Deliver, Copy and removal, under the mailbox's lock.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// usageDelta is what one txn changes in its mailbox's usage.
type usageDelta struct {
	Usage
	dirty bool // an email was added or removed: m 13 is rewritten at commit
	drop  bool // the mailbox is deleted: m 13 goes with it
}

// count records an email of size bytes added (n = 1) or removed (n = -1).
func (t *txn) count(size, n int64) {
	t.usage.Bytes += size
	t.usage.Messages += n
	t.usage.dirty = true
}

// checkQuota refuses an email of size bytes that would take the mailbox over quota (0 =
// none), reading the usage as the batch stands (before this email is counted).
func (t *txn) checkQuota(size, quota int64) error {
	if quota <= 0 {
		return nil
	}
	u, err := t.storedUsage()
	if err != nil {
		return err
	}
	u.Bytes += t.usage.Bytes
	u.Messages += t.usage.Messages
	return checkQuota(u, size, quota)
}

// storedUsage reads m 13 from the batch; a mailbox written before m 13 existed has none, so
// it is counted from its emails once and set in the batch (which then holds the count as of
// the batch's own earlier writes; the delta is reset so they are not counted twice).
func (t *txn) storedUsage() (Usage, error) {
	v, err := getRaw(t.b, usageKey(t.addr))
	if err == nil {
		return decodeUsage(v)
	}
	if !errors.Is(err, ErrNotFound) {
		return Usage{}, err
	}
	u, err := t.s.countUsage(t.b, t.addr)
	if err != nil {
		return Usage{}, err
	}
	t.b.Set(usageKey(t.addr), encodeUsage(u), nil)
	t.usage.Usage = Usage{}
	return u, nil
}

// writeUsage applies the txn's delta to m 13 (at commit).
func (t *txn) writeUsage() error {
	if t.usage.drop {
		t.b.Delete(usageKey(t.addr), nil)
		return nil
	}
	if !t.usage.dirty {
		return nil
	}
	u, err := t.storedUsage()
	if err != nil {
		return err
	}
	u.Bytes += t.usage.Bytes
	u.Messages += t.usage.Messages
	t.b.Set(usageKey(t.addr), encodeUsage(u), nil)
	t.usage = usageDelta{}
	return nil
}

// countUsage sums a mailbox's emails through its time index (m 0a), which holds every
// email, pending ones included. Corrupt records are skipped like in any scan.
func (s *PebbleStore) countUsage(r reader, addr string) (Usage, error) {
	var u Usage
	err := s.scan(r, timePrefix(addr), func(k, _ []byte) error {
		p, err := parseKey(k)
		if err != nil {
			return err
		}
		rec, err := getEmailRecord(r, p.ID)
		if err != nil {
			if s.skipCorrupt(emailKey(p.ID), err) {
				return nil
			}
			return err
		}
		u.Bytes += rec.Size
		u.Messages++
		return nil
	})
	return u, err
}

// Usage implements Store. A mailbox without m 13 (written before it existed) is counted
// once under its lock and the count stored.
func (s *PebbleStore) Usage(ctx context.Context, mailbox string) (Usage, error) {
	addr, err := normalizeAddress(mailbox)
	if err != nil {
		return Usage{}, fmt.Errorf("mailbox %q: %w", mailbox, ErrNotFound)
	}
	v, err := getRaw(s.db, usageKey(addr))
	if err == nil {
		return decodeUsage(v)
	}
	if !errors.Is(err, ErrNotFound) {
		return Usage{}, err
	}
	var u Usage
	err = s.mutate(ctx, addr, func(t *txn) error {
		if err := t.mailboxExists(); err != nil {
			return err
		}
		u, err = t.storedUsage()
		return err
	})
	return u, err
}

func encodeUsage(u Usage) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(u.Bytes))
	return binary.BigEndian.AppendUint64(b, uint64(u.Messages))
}

func decodeUsage(v []byte) (Usage, error) {
	if len(v) != 16 {
		return Usage{}, fmt.Errorf("usage: %w: %d bytes", ErrCorrupt, len(v))
	}
	return Usage{Bytes: int64(binary.BigEndian.Uint64(v)), Messages: int64(binary.BigEndian.Uint64(v[8:]))}, nil
}
