package mailbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Query implements Store. It walks the mailbox's time index (or, with a Tag,
// that keyword's index) backwards from the cursor; the index values carry the
// folder ID so the Folder filter needs no record read.
func (s *PebbleStore) Query(ctx context.Context, q Query) ([]Email, string, error) {
	addr, err := normalizeAddress(q.Mailbox)
	if err != nil {
		return nil, "", fmt.Errorf("mailbox %q: %w", q.Mailbox, ErrNotFound)
	}
	var cursor []byte
	if q.Cursor != "" {
		k, err := parseCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		cursor = k.bytes()
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	if ok, err := exists(snap, mailboxKey(addr)); err != nil || !ok {
		return nil, "", notFoundOr(err, "mailbox "+addr)
	}
	er, err := newEmailReader(snap)
	if err != nil {
		return nil, "", err
	}
	defer er.close()
	qs := queryScan{s: s, er: er, q: q, limit: queryLimit(q.Limit)}
	if q.Folder != "" {
		_, fid, _, err := s.readFolder(snap, addr, q.Folder)
		if err != nil {
			return nil, "", err
		}
		qs.fid = &fid
	}
	prefix := timePrefix(addr)
	if q.ThreadID != "" {
		th, ok := parseID(threadIDPrefix, q.ThreadID)
		if !ok {
			return []Email{}, "", nil // no email can be in it
		}
		prefix = threadPrefix(addr, th)
	} else if q.Tag != "" {
		if ValidateKeyword(q.Tag) != nil {
			return []Email{}, "", nil // no email can carry it
		}
		prefix = keywordPrefix(addr, q.Tag)
	}
	return qs.run(prefix, cursor)
}

// queryScan is one Query's walk over an index.
type queryScan struct {
	s     *PebbleStore
	er    *emailReader
	q     Query
	limit int
	fid   *uint64
}

func (qs *queryScan) run(prefix, cursor []byte) ([]Email, string, error) {
	it, err := qs.er.r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, "", err
	}
	defer it.Close()
	ok := it.Last()
	if cursor != nil {
		ok = it.SeekLT(append(prefix[:len(prefix):len(prefix)], cursor...))
	}
	out := make([]Email, 0, qs.limit)
	var last sortKey
	for ; ok; ok = it.Prev() {
		e, sk, match, err := qs.visit(it)
		if err != nil && !qs.s.skipCorrupt(it.Key(), err) {
			return nil, "", err
		}
		if !match {
			continue
		}
		if len(out) == qs.limit {
			return out, last.cursor(), nil
		}
		out, last = append(out, e), sk
	}
	return out, "", it.Error()
}

// visit reads the email under the iterator and applies the filters.
func (qs *queryScan) visit(it *pebble.Iterator) (Email, sortKey, bool, error) {
	v, err := it.ValueAndErr()
	if err != nil {
		return Email{}, sortKey{}, false, err
	}
	fid, err := decodeFID(v)
	if err != nil || (qs.fid != nil && fid != *qs.fid) {
		return Email{}, sortKey{}, false, err
	}
	p, err := parseKey(it.Key())
	if err != nil {
		return Email{}, sortKey{}, false, err
	}
	e, err := qs.er.read(p.ID)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: index entry without email", ErrCorrupt)
	}
	if err != nil {
		return Email{}, sortKey{}, false, err
	}
	match := qs.q.matchFlags(e) && (qs.q.ThreadID == "" || qs.q.Tag == "" || containsFold(e.Keywords, qs.q.Tag))
	return e, p.Sort, match, nil
}
