package pgstore

// changes.go: expunge tombstones (mm_vanished, migration 0002) and Changes, for
// CONDSTORE/QRESYNC.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/mailbox"
)

// tomb records that uids left folder fid at modseq, then applies the retention rule: the
// lowest modseqs beyond VanishedMax, and, when the oldest row is past VanishedAge, every
// row that is. Both read only what they delete (and one row), never the folder's all.
func (s *Store) tomb(ctx context.Context, tx pgx.Tx, fid int64, modseq uint64, uids []int64) error {
	o := s.kit.Options()
	now := o.Now()
	_, err := tx.Exec(ctx, "INSERT INTO mm_vanished (folder_id, modseq, uid, at) SELECT $1, $2, u, $4 FROM unnest($3::bigint[]) AS u",
		fid, int64(modseq), uids, now.Unix())
	if err != nil {
		return fmt.Errorf("tombstones: %w", err)
	}
	var count int64
	err = tx.QueryRow(ctx, "UPDATE mm_folder SET tombstones = tombstones + $2 WHERE id = $1 RETURNING tombstones", fid, len(uids)).Scan(&count)
	if err != nil {
		return fmt.Errorf("tombstones: %w", err)
	}
	if excess := count - int64(o.VanishedMax); excess > 0 {
		err := prune(ctx, tx, fid, "modseq IN (SELECT v.modseq FROM mm_vanished v WHERE v.folder_id = $1 ORDER BY v.modseq LIMIT $2)", excess)
		if err != nil {
			return err
		}
	}
	cutoff := now.Add(-o.VanishedAge).Unix()
	var oldest int64
	err = tx.QueryRow(ctx, "SELECT at FROM mm_vanished WHERE folder_id = $1 ORDER BY modseq LIMIT 1", fid).Scan(&oldest)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && oldest >= cutoff) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tombstones: %w", err)
	}
	return prune(ctx, tx, fid, "at < $2", cutoff)
}

// prune deletes folder fid's tombstones matching cond (with $1 the folder and $2 arg),
// keeping the count and the highest modseq pruned.
func prune(ctx context.Context, tx pgx.Tx, fid int64, cond string, arg int64) error {
	_, err := tx.Exec(ctx, `WITH gone AS (DELETE FROM mm_vanished WHERE folder_id = $1 AND `+cond+` RETURNING modseq)
		UPDATE mm_folder SET vanished_floor = GREATEST(vanished_floor, (SELECT max(modseq) FROM gone)),
			tombstones = tombstones - (SELECT count(*) FROM gone)
		WHERE id = $1`, fid, arg)
	if err != nil {
		return fmt.Errorf("prune tombstones: %w", err)
	}
	return nil
}

// Changes implements mailbox.Store: one snapshot for the folder, its changed emails and its
// tombstones above since.
func (s *Store) Changes(ctx context.Context, mb, folder string, since uint64) (mailbox.FolderChanges, error) {
	a, err := mailbox.NormalizeAddress(mb)
	if err != nil {
		return mailbox.FolderChanges{}, fmt.Errorf("mailbox %q: %w", mb, mailbox.ErrNotFound)
	}
	n, err := mailbox.NormalizeFolder(folder)
	if err != nil {
		return mailbox.FolderChanges{}, err
	}
	var out mailbox.FolderChanges
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var fid, highest, floor int64
		err := tx.QueryRow(ctx, "SELECT id, highest_modseq, vanished_floor FROM mm_folder WHERE mailbox = $1 AND name = $2", a, n).
			Scan(&fid, &highest, &floor)
		if errors.Is(err, pgx.ErrNoRows) {
			return s.noFolder(ctx, tx, a, n)
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+flagCols+" FROM mm_email e JOIN mm_folder f ON f.id = e.folder_id WHERE e.folder_id = $1 AND e.uid > 0 AND e.modseq > $2 ORDER BY e.uid",
			fid, clampModSeq(since))
		if err != nil {
			return err
		}
		emails, err := collect(rows, scanFlags, s)
		if err != nil {
			return err
		}
		ts, err := tombstones(ctx, tx, fid, since)
		if err != nil {
			return err
		}
		out = mailbox.ChangesOf(uint64(highest), emails, ts, uint64(floor), since)
		return nil
	})
	return out, err
}

// clampModSeq fits a client's modseq into bigint (mod-sequence-value is up to 2^63-1).
func clampModSeq(v uint64) int64 { return int64(min(v, 1<<63-1)) }

func tombstones(ctx context.Context, tx pgx.Tx, fid int64, since uint64) ([]mailbox.Tombstone, error) {
	rows, err := tx.Query(ctx, "SELECT uid, modseq, at FROM mm_vanished WHERE folder_id = $1 AND modseq > $2 ORDER BY modseq, uid",
		fid, clampModSeq(since))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (mailbox.Tombstone, error) {
		var uid, ms, at int64
		err := r.Scan(&uid, &ms, &at)
		return mailbox.Tombstone{UID: uint32(uid), ModSeq: uint64(ms), At: time.Unix(at, 0)}, err
	})
}
