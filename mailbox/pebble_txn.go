package mailbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// txn is one mutation of one mailbox's contents: an indexed batch (so reads
// see the batch's own writes), the folder records it touched (written back at
// commit) and the changes to publish once committed. The caller holds the
// mailbox lock from begin to commit/abort.
type txn struct {
	s       *PebbleStore
	addr    string
	b       *pebble.Batch
	folders map[uint64]*folderRecord
	changes []Change
	noSync  bool            // commit without waiting for an fsync (DeliverOptions.NoSync)
	tombed  map[uint64]bool // folders that got tombstones (m 12), to prune at commit
	usage   usageDelta      // emails added and removed, written to m 13 at commit
}

func (s *PebbleStore) begin(addr string) *txn {
	return &txn{s: s, addr: addr, b: s.db.NewIndexedBatch(), folders: make(map[uint64]*folderRecord)}
}

// abort drops the batch.
func (t *txn) abort() { t.b.Close() }

// commit writes the touched folders and applies the batch without waiting for an fsync,
// then notifies watchers, all still under the mailbox lock, so commits and notifications are
// in UID order. The caller (mutate) makes it durable after releasing the lock: see syncWAL.
func (t *txn) commit() error {
	if err := t.pruneTombstones(); err != nil {
		return err
	}
	if err := t.writeUsage(); err != nil {
		return err
	}
	for fid, r := range t.folders {
		t.b.Set(folderKey(fid), encodeValue(r), nil)
	}
	if err := commitWith(t.b, pebble.NoSync); err != nil {
		return err
	}
	t.s.hub.publish(t.addr, t.changes...)
	return nil
}

// syncWAL makes every batch applied so far durable. Pebble's WAL is one log, so one fsync
// covers them all, and concurrent callers share fsyncs through Pebble's group commit: this is
// what lets deliveries to one mailbox, serialised by its lock for UID order, still share
// fsyncs instead of holding the lock across one each.
func (s *PebbleStore) syncWAL() error {
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("mailbox: sync: %w", err)
	}
	return nil
}

func (t *txn) notify(c Change) { t.changes = append(t.changes, c) }

// mailboxExists distinguishes an unknown mailbox (ErrNotFound) from an
// unknown folder.
func (t *txn) mailboxExists() error {
	ok, err := exists(t.b, mailboxKey(t.addr))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("mailbox %s: %w", t.addr, ErrNotFound)
	}
	return nil
}

// folderID resolves a folder name (normalized) to its ID.
func folderID(r reader, addr, name string) (uint64, error) {
	v, err := getRaw(r, folderNameKey(addr, name))
	if errors.Is(err, ErrNotFound) {
		return 0, fmt.Errorf("folder %s of %s: %w", name, addr, ErrNoSuchFolder)
	}
	if err != nil {
		return 0, err
	}
	return decodeFID(v)
}

// folderByName loads a folder for update.
func (t *txn) folderByName(name string) (uint64, *folderRecord, error) {
	n, err := normalizeFolder(name)
	if err != nil {
		return 0, nil, err
	}
	fid, err := folderID(t.b, t.addr, n)
	if errors.Is(err, ErrNoSuchFolder) {
		if merr := t.mailboxExists(); merr != nil {
			return 0, nil, merr
		}
	}
	if err != nil {
		return 0, nil, err
	}
	r, err := t.folder(fid)
	return fid, r, err
}

// folder loads a folder record for update (once per txn).
func (t *txn) folder(fid uint64) (*folderRecord, error) {
	if r, ok := t.folders[fid]; ok {
		return r, nil
	}
	r := new(folderRecord)
	if err := get(t.b, folderKey(fid), r); err != nil {
		return nil, fmt.Errorf("folder %d: %w", fid, err)
	}
	t.folders[fid] = r
	return r, nil
}

// email loads an email record of this mailbox.
func (t *txn) email(id ulid) (*emailRecord, error) {
	r, err := getEmailRecord(t.b, id)
	if err != nil {
		return nil, err
	}
	if r.Mailbox != t.addr {
		return nil, fmt.Errorf("email %s moved to another mailbox: %w", id, ErrNotFound)
	}
	return r, nil
}

// place puts an email into folder fid: a new ModSeq, the next UID unless
// pending, its record and its indexes.
func (t *txn) place(id ulid, r *emailRecord, fid uint64) error {
	f, err := t.folder(fid)
	if err != nil {
		return err
	}
	f.HighestModSeq++
	r.ModSeq, r.UID, r.FolderID = f.HighestModSeq, 0, fid
	sk := sortKeyOf(r.InternalDate, id)
	if r.Pending {
		t.b.Set(pendingKey(fid, id), nil, nil)
		t.notify(Change{Folder: f.Name, Kind: ChangePending, EmailID: r.ID})
	} else {
		r.UID = f.UIDNext
		f.UIDNext++
		f.Messages++
		if !r.seen() {
			f.Unseen++
		}
		t.b.Set(uidKey(fid, r.UID), id[:], nil)
		t.notify(Change{Folder: f.Name, Kind: ChangeNew, EmailID: r.ID, UID: r.UID, ModSeq: r.ModSeq})
	}
	t.b.Set(timeKey(t.addr, sk), fidValue(fid), nil)
	for _, kw := range r.Keywords {
		t.b.Set(keywordKey(t.addr, kw, sk), fidValue(fid), nil)
	}
	if th, ok := parseID(threadIDPrefix, r.ThreadID); ok {
		t.b.Set(threadKey(t.addr, th, sk), fidValue(fid), nil)
	}
	t.putEmail(id, r)
	return nil
}

func (t *txn) putEmail(id ulid, r *emailRecord) {
	t.b.Set(emailKey(id), r.encode(), nil)
}

// unplace takes an email out of its folder: indexes and counters, a ModSeq
// bump, and, if it was visible, a tombstone and an expunge notification. The record stays.
func (t *txn) unplace(id ulid, r *emailRecord) error {
	f, err := t.folder(r.FolderID)
	if err != nil {
		return err
	}
	f.HighestModSeq++
	if r.Pending {
		t.b.Delete(pendingKey(r.FolderID, id), nil)
	} else {
		f.Messages--
		if !r.seen() {
			f.Unseen--
		}
		t.b.Delete(uidKey(r.FolderID, r.UID), nil)
		t.tomb(r.FolderID, f, r.UID)
		t.notify(Change{Folder: f.Name, Kind: ChangeExpunge, EmailID: r.ID, UID: r.UID, ModSeq: f.HighestModSeq})
	}
	sk := sortKeyOf(r.InternalDate, id)
	t.b.Delete(timeKey(t.addr, sk), nil)
	for _, kw := range r.Keywords {
		t.b.Delete(keywordKey(t.addr, kw, sk), nil)
	}
	if th, ok := parseID(threadIDPrefix, r.ThreadID); ok {
		t.b.Delete(threadKey(t.addr, th, sk), nil)
	}
	return nil
}

// byMessageID implements threadIndex (m 0e).
func (t *txn) byMessageID(msgID string) (tid, bool, error) {
	var th tid
	v, err := getRaw(t.b, msgIDKey(t.addr, msgID))
	if errors.Is(err, ErrNotFound) {
		return th, false, nil
	}
	if err != nil {
		return th, false, err
	}
	if len(v) != ulidLen {
		return th, false, nil // corrupt: thread anew rather than fail the delivery
	}
	copy(th[:], v)
	return th, true, nil
}

// bySubject implements threadIndex (m 0f).
func (t *txn) bySubject(key tid) (tid, time.Time, bool, error) {
	var th tid
	v, err := getRaw(t.b, subjectIndexKey(t.addr, key))
	if errors.Is(err, ErrNotFound) {
		return th, time.Time{}, false, nil
	}
	if err != nil {
		return th, time.Time{}, false, err
	}
	if len(v) != ulidLen+8 {
		return th, time.Time{}, false, nil
	}
	copy(th[:], v)
	return th, time.Unix(0, int64(binary.BigEndian.Uint64(v[ulidLen:]))), true, nil
}

// indexThread records a delivered email's Message-ID (first thread wins) and subject key.
func (t *txn) indexThread(th tid, s summary, date time.Time) {
	if indexableMsgID(s.MessageID) {
		if _, ok, err := t.byMessageID(s.MessageID); err == nil && !ok {
			t.b.Set(msgIDKey(t.addr, s.MessageID), th[:], nil)
		}
	}
	if len(s.Participants) > 0 {
		v := binary.BigEndian.AppendUint64(append([]byte{}, th[:]...), uint64(date.UnixNano()))
		t.b.Set(subjectIndexKey(t.addr, subjectKey(s)), v, nil)
	}
}

// remove deletes an email: unplace, its record, and its body reference; the
// body goes with its last reference.
func (t *txn) remove(id ulid, r *emailRecord) error {
	if err := t.unplace(id, r); err != nil {
		return err
	}
	t.b.Delete(emailKey(id), nil)
	t.count(-r.Size, -1)
	t.b.Delete(bodyRefKey(r.Body, id), nil)
	left, err := t.hasAny(bodyRefPrefix(r.Body))
	if err != nil || left {
		return err
	}
	t.b.Delete(bodyKey(r.Body), nil)
	return nil
}

// hasAny reports whether any key (batch included) starts with prefix.
func (t *txn) hasAny(prefix []byte) (bool, error) {
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return false, err
	}
	found := it.First()
	return found, errors.Join(it.Error(), it.Close())
}

// getEmailRecord reads one email record by point lookup.
func getEmailRecord(rd reader, id ulid) (*emailRecord, error) {
	v, err := getRaw(rd, emailKey(id))
	if err != nil {
		return nil, fmt.Errorf("email %s: %w", id, err)
	}
	r, err := decodeEmailRecord(id, v)
	if err != nil {
		return nil, fmt.Errorf("email %s: %w", id, err)
	}
	return &r, nil
}
