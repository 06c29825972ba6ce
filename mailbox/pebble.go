package mailbox

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// PebbleStore is the production Store on a Pebble database shared with other
// packages; it reads and writes only keys under the prefix 'm' (see doc.go).
//
// Writes to one mailbox's contents are serialised by a per-mailbox mutex held
// until the batch is committed (UIDs are allocated read-modify-write);
// different mailboxes commit concurrently and share fsyncs through Pebble's
// group commit. Directory writes share one mutex. Reads take no lock: they
// read a Pebble snapshot or single keys.
type PebbleStore struct {
	core
	db         *pebble.DB
	dirMu      sync.Mutex
	locks      sync.Map // address -> *sync.Mutex
	lastFolder atomic.Uint64
	text       *textIndexer // the full-text index's goroutine (pebble_textindex.go)
}

var _ Store = (*PebbleStore)(nil)

// reader is what the store reads through: the DB, a snapshot or an indexed batch.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// OpenPebble returns a store on db, which the caller opened and will close
// after the store is no longer used (Close first: it stops the full-text
// indexer). It writes the schema version on a fresh database and refuses one
// written by a newer schema; a database from before the full-text index has
// every email queued for it.
func OpenPebble(db *pebble.DB, opts Options) (*PebbleStore, error) {
	s := &PebbleStore{core: newCore(opts), db: db}
	if err := s.checkSchema(); err != nil {
		return nil, err
	}
	if err := s.loadCounters(); err != nil {
		return nil, err
	}
	if err := s.backfillText(); err != nil {
		return nil, err
	}
	s.text = newTextIndexer(s)
	go s.text.run()
	return s, nil
}

func (s *PebbleStore) checkSchema() error {
	v, closer, err := s.db.Get(metaVersionKey())
	if errors.Is(err, pebble.ErrNotFound) {
		return s.db.Set(metaVersionKey(), []byte{schemaVersion}, pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("mailbox: read schema version: %w", err)
	}
	defer closer.Close()
	if len(v) != 1 || v[0] != schemaVersion {
		return fmt.Errorf("mailbox: schema version %v, this build reads %d", v, schemaVersion)
	}
	return nil
}

// loadCounters restores the last folder ID and UIDVALIDITY from the folder
// records, so new ones stay unique.
func (s *PebbleStore) loadCounters() error {
	return s.scan(s.db, fam(famFolder), func(k, v []byte) error {
		p, err := parseKey(k)
		if err != nil {
			return err
		}
		var r folderRecord
		if err := decodeValue(v, &r); err != nil {
			return err
		}
		if p.FID > s.lastFolder.Load() {
			s.lastFolder.Store(p.FID)
		}
		s.validity.observe(r.UIDValidity)
		return nil
	})
}

// lock serialises writers of one mailbox's contents; call the result to unlock.
func (s *PebbleStore) lock(addr string) func() {
	m, _ := s.locks.LoadOrStore(addr, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// get reads and decodes one record; a missing key is ErrNotFound.
func get(r reader, key []byte, v any) error {
	b, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := decodeValue(b, v); err != nil {
		return fmt.Errorf("%s: %w", FormatKey(key), err)
	}
	return nil
}

// getRaw reads one value (a copy); a missing key is ErrNotFound.
func getRaw(r reader, key []byte) ([]byte, error) {
	b, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), b...), nil
}

// exists reports whether key is present.
func exists(r reader, key []byte) (bool, error) {
	_, err := getRaw(r, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// scan calls fn for every key under prefix in order. An fn error wrapping
// ErrCorrupt is logged and the record skipped; any other error stops the scan.
func (s *PebbleStore) scan(r reader, prefix []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil && !s.skipCorrupt(it.Key(), err) {
			it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// skipCorrupt logs a corrupt record and reports whether err was one.
func (s *PebbleStore) skipCorrupt(key []byte, err error) bool {
	if !errors.Is(err, ErrCorrupt) {
		return false
	}
	s.opts.Logger.Warn("mailbox: skipping corrupt record", "key", FormatKey(key), "err", err)
	return true
}

// commit commits b durably and closes it.
func commit(b *pebble.Batch) error { return commitWith(b, pebble.Sync) }

// commitWith commits b with the given durability and closes it.
func commitWith(b *pebble.Batch, opts *pebble.WriteOptions) error {
	err := b.Commit(opts)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mailbox: commit: %w", err)
	}
	return nil
}
