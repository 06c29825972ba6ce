package mailbox

// pebble_changes.go: expunge tombstones (m 12) and Changes, for CONDSTORE/QRESYNC.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// tombstoneValueLen is a tombstone's value: uid:4, unix seconds:8.
const tombstoneValueLen = 4 + 8

// tomb records that uid left folder fid (record f) at the folder's current HIGHESTMODSEQ.
func (t *txn) tomb(fid uint64, f *folderRecord, uid uint32) {
	v := binary.BigEndian.AppendUint32(nil, uid)
	v = binary.BigEndian.AppendUint64(v, uint64(t.s.opts.Now().Unix()))
	t.b.Set(vanishedKey(fid, f.HighestModSeq), v, nil)
	f.Tombstones++
	if t.tombed == nil {
		t.tombed = make(map[uint64]bool)
	}
	t.tombed[fid] = true
}

// pruneTombstones applies the retention rule to the folders that got tombstones in this
// txn (and still exist), oldest first; VanishedFloor keeps the highest modseq pruned.
func (t *txn) pruneTombstones() error {
	now := t.s.opts.Now()
	for fid := range t.tombed {
		f, ok := t.folders[fid]
		if !ok {
			continue // deleted in this txn
		}
		if err := t.pruneFolder(fid, f, now); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) pruneFolder(fid uint64, f *folderRecord, now time.Time) error {
	p := vanishedPrefix(fid)
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		ts, err := decodeTombstone(it.Key(), it.Value())
		excess := f.Tombstones > t.s.opts.VanishedMax
		if err == nil && !excess && now.Sub(ts.At) <= t.s.opts.VanishedAge {
			break
		}
		if err != nil {
			t.s.opts.Logger.Warn("mailbox: corrupt tombstone dropped", "key", FormatKey(it.Key()), "err", err)
		}
		f.VanishedFloor = max(f.VanishedFloor, ts.ModSeq)
		f.Tombstones--
		t.b.Delete(it.Key(), nil)
	}
	return errors.Join(it.Error(), it.Close())
}

func decodeTombstone(k, v []byte) (Tombstone, error) {
	p, err := parseKey(k)
	if err != nil {
		return Tombstone{}, err
	}
	if len(v) != tombstoneValueLen {
		return Tombstone{ModSeq: p.ModSeq}, fmt.Errorf("%w: tombstone of %d bytes", ErrCorrupt, len(v))
	}
	return Tombstone{UID: binary.BigEndian.Uint32(v), ModSeq: p.ModSeq,
		At: time.Unix(int64(binary.BigEndian.Uint64(v[4:])), 0)}, nil
}

// Changes implements Store: one snapshot, the folder's email heads and its tombstones above
// since (a range scan: tombstones are keyed by modseq).
func (s *PebbleStore) Changes(ctx context.Context, mailbox, folder string, since uint64) (FolderChanges, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	_, fid, f, err := s.readFolder(snap, mailbox, folder)
	if err != nil {
		return FolderChanges{}, err
	}
	emails, err := s.listIn(snap, fid, f, true)
	if err != nil {
		return FolderChanges{}, err
	}
	var ts []Tombstone
	lo := vanishedKey(fid, since+1)
	if since == ^uint64(0) {
		lo = prefixEnd(vanishedPrefix(fid))
	}
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(vanishedPrefix(fid))})
	if err != nil {
		return FolderChanges{}, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		tb, err := decodeTombstone(it.Key(), it.Value())
		if err != nil {
			s.opts.Logger.Warn("mailbox: corrupt tombstone skipped", "key", FormatKey(it.Key()), "err", err)
			continue
		}
		ts = append(ts, tb)
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return FolderChanges{}, err
	}
	return changesOf(f.HighestModSeq, emails, ts, f.VanishedFloor, since), nil
}
