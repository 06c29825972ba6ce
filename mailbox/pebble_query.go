package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"multimail.dev/multimail/mailbox/textindex"
)

// Query implements Store. It walks the mailbox's time index (or, with a Tag,
// that keyword's index) backwards from the cursor; the index values carry the
// folder ID so the Folder filter needs no record read. With Text it first asks
// the full-text index for candidates (taken after the snapshot, so every email
// the snapshot holds is indexed or queued, hence a candidate): few candidates
// are looked up one by one, many are met on the walk; either way only
// candidates are read and verified, and the walk stops once the page is full.
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
	qs := queryScan{ctx: ctx, s: s, er: er, q: q, limit: queryLimit(q.Limit)}
	if q.Text != "" {
		qs.lower = textindex.Lower(q.Text)
		if qs.only, qs.narrowed, err = s.TextCandidates(ctx, addr, []string{q.Text}); err != nil {
			return nil, "", fmt.Errorf("query text of %s: %w", addr, err)
		}
	}
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
	if qs.narrowed && len(qs.only) <= queryLookupMax {
		return qs.lookup(prefix, cursor)
	}
	return qs.run(prefix, cursor)
}

// queryLookupMax is the most text candidates Query reads by point lookups;
// with more, walking the index and skipping the others costs less.
const queryLookupMax = 4096

// queryCheckEvery is how many index entries a text Query walks between
// checks of its context.
const queryCheckEvery = 1024

// queryScan is one Query's walk over an index.
type queryScan struct {
	ctx   context.Context
	s     *PebbleStore
	er    *emailReader
	q     Query
	limit int
	fid   *uint64
	// Text: its lower-cased needle and, when narrowed, the only ids that may hold it.
	lower    []byte
	only     map[string]struct{}
	narrowed bool
	verified int // raw messages searched, against textScanBudget
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
	for n := 0; ok; ok, n = it.Prev(), n+1 {
		if qs.lower != nil && n%queryCheckEvery == 0 {
			if err := qs.ctx.Err(); err != nil {
				return nil, "", err
			}
		}
		v, err := it.ValueAndErr()
		var (
			e     Email
			sk    sortKey
			match bool
		)
		if err == nil {
			e, sk, match, err = qs.visit(it.Key(), v)
		}
		if err != nil && !qs.s.skipCorrupt(it.Key(), err) {
			return nil, "", err
		}
		if !match {
			if err == nil && qs.verified >= textScanBudget {
				return out, sk.cursor(), nil // out of budget: the caller goes on from here
			}
			continue
		}
		if len(out) == qs.limit {
			return out, last.cursor(), nil
		}
		out, last = append(out, e), sk
		if qs.lower != nil && (len(out) == qs.limit || qs.verified >= textScanBudget) {
			return out, last.cursor(), nil // verifying one more match could read the whole mailbox
		}
	}
	return out, "", it.Error()
}

// lookup is run over the text candidates alone: each one's index entry is
// found from its record's date, the entries are ordered newest first, and
// they are visited in that order until the page is full.
func (qs *queryScan) lookup(prefix, cursor []byte) ([]Email, string, error) {
	keys := make([][]byte, 0, len(qs.only))
	for id := range qs.only {
		if err := qs.ctx.Err(); err != nil {
			return nil, "", err
		}
		u, err := parseEmailID(id)
		if err != nil {
			return nil, "", fmt.Errorf("text candidate %s: %w", id, err)
		}
		rec, err := getEmailRecord(qs.er.r, u)
		if errors.Is(err, ErrNotFound) {
			continue // delivered after the snapshot, or expunged
		}
		if err != nil && !qs.s.skipCorrupt(emailKey(u), err) {
			return nil, "", err
		}
		if err != nil {
			continue
		}
		k := append(prefix[:len(prefix):len(prefix)], sortKeyOf(rec.InternalDate, u).bytes()...)
		if cursor == nil || bytes.Compare(k[len(prefix):], cursor) < 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b []byte) int { return bytes.Compare(b, a) })
	out := make([]Email, 0, qs.limit)
	for _, k := range keys {
		v, err := getRaw(qs.er.r, k)
		if errors.Is(err, ErrNotFound) {
			continue // not under the tag or thread
		}
		var (
			e     Email
			sk    sortKey
			match bool
		)
		if err == nil {
			e, sk, match, err = qs.visit(k, v)
		}
		if err != nil {
			if qs.s.skipCorrupt(k, err) {
				continue
			}
			return nil, "", err
		}
		if match {
			out = append(out, e)
		}
		if len(out) == qs.limit || qs.verified >= textScanBudget {
			return out, sk.cursor(), nil
		}
	}
	return out, "", nil
}

// visit reads the email of one index entry and applies the filters.
func (qs *queryScan) visit(key, v []byte) (Email, sortKey, bool, error) {
	p, err := parseKey(key)
	if err != nil {
		return Email{}, sortKey{}, false, err
	}
	if qs.narrowed {
		if _, ok := qs.only[p.ID.String()]; !ok {
			return Email{}, p.Sort, false, nil // the index says it cannot hold Text
		}
	}
	fid, err := decodeFID(v)
	if err != nil || (qs.fid != nil && fid != *qs.fid) {
		return Email{}, p.Sort, false, err
	}
	e, err := qs.er.read(p.ID)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: index entry without email", ErrCorrupt)
	}
	if err != nil {
		return Email{}, sortKey{}, false, err
	}
	match := qs.q.matchFlags(e) && (qs.q.ThreadID == "" || qs.q.Tag == "" || containsFold(e.Keywords, qs.q.Tag))
	if match && qs.lower != nil {
		match, err = qs.holdsText(p.ID)
	}
	return e, p.Sort, match, err
}

// holdsText verifies Text against the email's raw message, as IMAP SEARCH
// TEXT does: the index only ever narrows, it never decides a match.
func (qs *queryScan) holdsText(id ulid) (bool, error) {
	qs.verified++
	rec, err := getEmailRecord(qs.er.r, id)
	if err != nil {
		return false, err
	}
	raw, err := getRaw(qs.er.r, bodyKey(rec.Body))
	if err != nil {
		return false, fmt.Errorf("body of %s: %w", id, err)
	}
	if len(raw) == 0 || raw[0] != valueV1 {
		return false, fmt.Errorf("body of %s: %w: unknown value version", id, ErrCorrupt)
	}
	return textindex.ContainsLower(textindex.Segments(raw[1:]), qs.lower, true), nil
}
