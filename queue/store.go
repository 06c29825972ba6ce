package queue

// store.go wraps the Pebble reads the queue makes.

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// get reads key into v (decodeValue); ErrNotFound when absent.
func (q *Queue) get(key []byte, v any) error {
	b, closer, err := q.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("queue: get %s: %w", FormatKey(key), err)
	}
	defer closer.Close()
	return decodeValue(b, v)
}

// exists reports whether key is present.
func (q *Queue) exists(key []byte) (bool, error) {
	_, closer, err := q.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue: get %s: %w", FormatKey(key), err)
	}
	return true, closer.Close()
}

// scan calls fn for every key with the given prefix, in order; fn must copy what it keeps.
func (q *Queue) scan(prefix []byte, fn func(k, v []byte) error) error {
	return q.scanFrom(prefix, prefix, fn)
}

// scanFrom is scan starting at key from (>= prefix).
func (q *Queue) scanFrom(prefix, from []byte, fn func(k, v []byte) error) error {
	it, err := q.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("queue: iterate %s: %w", FormatKey(prefix), err)
	}
	for ok := it.SeekGE(from); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

// errStop ends a scan early without error.
var errStop = errors.New("stop")

// lastKey returns the greatest key with the given prefix, or nil.
func (q *Queue) lastKey(prefix []byte) ([]byte, error) {
	it, err := q.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("queue: iterate %s: %w", FormatKey(prefix), err)
	}
	var k []byte
	if it.Last() {
		k = append([]byte(nil), it.Key()...)
	}
	return k, it.Close()
}

// loadMsg reads a message record.
func (q *Queue) loadMsg(id ulid) (*msgRecord, error) {
	var m msgRecord
	if err := q.get(msgKey(id), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// loadRcpts reads every recipient of a message, in order.
func (q *Queue) loadRcpts(id ulid) ([]*rcptRecord, error) {
	var out []*rcptRecord
	err := q.scan(rcptPrefix(id), func(k, v []byte) error {
		r := &rcptRecord{}
		if err := decodeValue(v, r); err != nil {
			return fmt.Errorf("recipient %s: %w", FormatKey(k), err)
		}
		r.idx = int(k[len(k)-2])<<8 | int(k[len(k)-1])
		out = append(out, r)
		return nil
	})
	return out, err
}

// commit commits b with opts and closes it.
func commit(b *pebble.Batch, opts *pebble.WriteOptions) error {
	err := b.Commit(opts)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("queue: commit: %w", err)
	}
	return nil
}

func set(b *pebble.Batch, k, v []byte) {
	_ = b.Set(k, v, nil) // Batch.Set only fails on a closed/read-only batch: a bug of ours
}

func del(b *pebble.Batch, k []byte) { _ = b.Delete(k, nil) }
