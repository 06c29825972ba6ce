package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// Deliver implements Store. The body, its reference, the email record, its
// indexes and the folder's counters go in one batch committed with pebble.Sync.
func (s *PebbleStore) Deliver(ctx context.Context, mailbox, folder string, raw []byte, o DeliverOptions) (Email, error) {
	e, id, sum, err := s.newEmail(ctx, mailbox, raw, o)
	if err != nil {
		return Email{}, err
	}
	var out Email
	err = s.mutate(ctx, e.Mailbox, func(t *txn) error {
		t.noSync = o.NoSync
		fid, f, err := t.folderByName(folder)
		if err != nil {
			return err
		}
		if err := t.checkQuota(e.Size, o.QuotaBytes); err != nil {
			return err
		}
		r := &emailRecord{Email: e, Body: id}
		t.count(e.Size, 1)
		th, err := assignThread(t, sum, id, e.InternalDate)
		if err != nil {
			return err
		}
		r.ThreadID = formatThreadID(th)
		t.indexThread(th, sum, e.InternalDate)
		t.b.Set(bodyKey(id), append([]byte{valueV1}, raw...), nil)
		t.b.Set(bodyRefKey(id, id), nil, nil)
		t.enqueueText(id)
		if err := t.place(id, r, fid); err != nil {
			return err
		}
		out = r.Email
		out.Folder = f.Name
		return nil
	})
	if err == nil {
		s.text.notify()
	}
	return out, err
}

// mutateEmail runs fn on one email under its mailbox's lock and returns the
// email as fn left it.
func (s *PebbleStore) mutateEmail(ctx context.Context, id string, fn func(t *txn, u ulid, r *emailRecord) error) (Email, error) {
	u, err := parseEmailID(id)
	if err != nil {
		return Email{}, err
	}
	pre, err := getEmailRecord(s.db, u)
	if err != nil {
		return Email{}, err
	}
	var out Email
	err = s.mutate(ctx, pre.Mailbox, func(t *txn) error {
		r, err := t.email(u)
		if err != nil {
			return err
		}
		if err := fn(t, u, r); err != nil {
			return err
		}
		f, err := t.folder(r.FolderID)
		out = r.Email
		if f != nil {
			out.Folder = f.Name
		}
		return err
	})
	return out, err
}

// readEmail reads one email with its folder's name by point lookups.
func (s *PebbleStore) readEmail(r reader, id ulid) (Email, error) {
	er := emailReader{r: r, names: map[uint64]string{}}
	return er.finish(getEmailRecord(r, id))
}

// emailReader reads many email records through one iterator, which costs
// less than a Get each (List, Query), and caches folder names.
type emailReader struct {
	r     reader
	it    *pebble.Iterator // nil: point lookups
	names map[uint64]string
	// flagsOnly decodes only each record's head (ListFlags).
	flagsOnly bool
}

func newEmailReader(r reader) (*emailReader, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: fam(famEmail), UpperBound: prefixEnd(fam(famEmail))})
	if err != nil {
		return nil, err
	}
	return &emailReader{r: r, it: it, names: map[uint64]string{}}, nil
}

func (er *emailReader) close() error { return er.it.Close() }

func (er *emailReader) read(id ulid) (Email, error) {
	k := emailKey(id)
	if !er.it.SeekGE(k) || !bytes.Equal(er.it.Key(), k) {
		return Email{}, errors.Join(fmt.Errorf("email %s: %w", id, ErrNotFound), er.it.Error())
	}
	v, err := er.it.ValueAndErr()
	if err != nil {
		return Email{}, err
	}
	decode := decodeEmailRecord
	if er.flagsOnly {
		decode = decodeEmailRecordHead
	}
	rec, err := decode(id, v)
	if err != nil {
		return Email{}, fmt.Errorf("email %s: %w", id, err)
	}
	return er.finish(&rec, nil)
}

// finish fills in the folder name.
func (er *emailReader) finish(rec *emailRecord, err error) (Email, error) {
	if err != nil {
		return Email{}, err
	}
	name, ok := er.names[rec.FolderID]
	if !ok {
		var f folderRecord
		if err := get(er.r, folderKey(rec.FolderID), &f); err != nil {
			return Email{}, fmt.Errorf("folder of email %s: %w", rec.ID, err)
		}
		name = f.Name
		er.names[rec.FolderID] = name
	}
	rec.Email.Folder = name
	return rec.Email, nil
}

// Email implements Store.
func (s *PebbleStore) Email(ctx context.Context, id string) (Email, error) {
	u, err := parseEmailID(id)
	if err != nil {
		return Email{}, err
	}
	return s.readEmail(s.db, u)
}

// Raw implements Store.
func (s *PebbleStore) Raw(ctx context.Context, id string) ([]byte, error) {
	u, err := parseEmailID(id)
	if err != nil {
		return nil, err
	}
	return s.rawOf(u)
}

// ListFlags implements FlagLister: List decoding only the head of each
// record (UID, ModSeq, flags, keywords).
func (s *PebbleStore) ListFlags(ctx context.Context, mailbox, folder string) ([]Email, error) {
	return s.list(mailbox, folder, true)
}

// List implements Store.
func (s *PebbleStore) List(ctx context.Context, mailbox, folder string) ([]Email, error) {
	return s.list(mailbox, folder, false)
}

func (s *PebbleStore) list(mailbox, folder string, flagsOnly bool) ([]Email, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	_, fid, f, err := s.readFolder(snap, mailbox, folder)
	if err != nil {
		return nil, err
	}
	return s.listIn(snap, fid, f, flagsOnly)
}

// listIn lists folder fid (record f) in one snapshot.
func (s *PebbleStore) listIn(snap reader, fid uint64, f folderRecord, flagsOnly bool) ([]Email, error) {
	er, err := newEmailReader(snap)
	if err != nil {
		return nil, err
	}
	defer er.close()
	er.names[fid] = f.Name
	er.flagsOnly = flagsOnly
	out := make([]Email, 0, f.Messages)
	err = s.scan(snap, uidPrefix(fid), func(k, v []byte) error {
		id, err := decodeULID(v)
		if err != nil {
			return err
		}
		e, err := er.read(id)
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: uid index entry without email", ErrCorrupt)
		}
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// SetFlags implements Store.
func (s *PebbleStore) SetFlags(ctx context.Context, id string, add, remove []string) (Email, error) {
	return s.SetFlagsIf(ctx, id, add, remove, math.MaxUint64)
}

// SetFlagsIf implements Store: the check and the change under the mailbox lock.
func (s *PebbleStore) SetFlagsIf(ctx context.Context, id string, add, remove []string, unchangedSince uint64) (Email, error) {
	return s.mutateEmail(ctx, id, func(t *txn, u ulid, r *emailRecord) error {
		if r.ModSeq > unchangedSince {
			return fmt.Errorf("email %s: %w", id, ErrModified)
		}
		old := r.Email
		changed, err := applyFlags(&r.Email, add, remove)
		if err != nil || !changed {
			return err
		}
		f, err := t.folder(r.FolderID)
		if err != nil {
			return err
		}
		f.HighestModSeq++
		r.ModSeq = f.HighestModSeq
		if !r.Pending {
			f.Unseen = f.Unseen + b2u(old.seen()) - b2u(r.seen())
			t.notify(Change{Folder: f.Name, Kind: ChangeFlags, EmailID: r.ID, UID: r.UID, ModSeq: r.ModSeq})
		}
		t.reindexKeywords(u, r.FolderID, old, r.Email)
		t.putEmail(u, r)
		return nil
	})
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// reindexKeywords updates the keyword index from old's keywords to now's.
func (t *txn) reindexKeywords(id ulid, fid uint64, old, now Email) {
	sk := sortKeyOf(now.InternalDate, id)
	for _, kw := range old.Keywords {
		if !containsFold(now.Keywords, kw) {
			t.b.Delete(keywordKey(t.addr, kw, sk), nil)
		}
	}
	for _, kw := range now.Keywords {
		if !containsFold(old.Keywords, kw) {
			t.b.Set(keywordKey(t.addr, kw, sk), fidValue(fid), nil)
		}
	}
}
