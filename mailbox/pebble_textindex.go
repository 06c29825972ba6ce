package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/cockroachdb/pebble/v2"

	"multimail.dev/multimail/mailbox/textindex"
)

// pebble_textindex.go is the full-text index of the Pebble store: byte
// trigrams of each email's searchable text (textindex.Segments) mapped to
// roaring bitmaps of per-mailbox document numbers. doc.go draws the keys.
// Deliver and Copy enqueue every new email id (m 16) in their own batch; one
// goroutine, the indexer, owned by the store, drains the queue in bounded
// batches. It is the only writer of postings (m 14) and documents (m 15), so
// it read-modify-writes them without a lock.

// Bounds of the indexer's work.
const (
	textBatchEmails = 512      // emails per index batch
	textBatchBytes  = 16 << 20 // decoded text per index batch
	// TextIndexMaxText is the most decoded text of one email the index
	// holds; a larger email is always a candidate (m 17) rather than indexed
	// in part, which would lose matches.
	TextIndexMaxText = 4 << 20
	textRetry        = time.Second // pause after an index batch failed
	textChunkShift   = 16          // doc numbers per posting value: 1<<16
)

// TextSearcher is a store with a full-text index (the PebbleStore). The
// IMAP server and Query narrow BODY/TEXT searches with it before verifying
// every candidate with textindex.Contains: the index only ever adds
// candidates, never decides a match.
type TextSearcher interface {
	// TextCandidates returns the ids of the mailbox's emails that may
	// contain every needle (case-insensitively, in their decoded text): a
	// superset of the true matches, including every email not yet indexed.
	// ok is false when the index cannot narrow the search (every needle
	// shorter than three bytes, or candidates among most of the mailbox):
	// then every email is a candidate.
	TextCandidates(ctx context.Context, mailbox string, needles []string) (ids map[string]struct{}, ok bool, err error)
}

var _ TextSearcher = (*PebbleStore)(nil)

// textIndexer is the goroutine that drains the queue.
type textIndexer struct {
	s        *PebbleStore
	wake     chan struct{}      // capacity 1: a delivery happened
	flush    chan chan struct{} // WaitIndexed: closed once the queue is empty
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	next     map[string]uint32 // next doc number per mailbox, loaded on first use
}

func newTextIndexer(s *PebbleStore) *textIndexer {
	return &textIndexer{s: s, wake: make(chan struct{}, 1), flush: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}), next: map[string]uint32{}}
}

// notify wakes the indexer without blocking.
func (ix *textIndexer) notify() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

// close stops the indexer and waits for it; idempotent.
func (ix *textIndexer) close() {
	ix.stopOnce.Do(func() { close(ix.stop) })
	<-ix.done
}

// run indexes until stopped: a batch at a time while the queue has work, then
// it releases WaitIndexed callers and sleeps until woken.
func (ix *textIndexer) run() {
	defer close(ix.done)
	var waiters []chan struct{}
	for {
		n, err := ix.safePass()
		if errors.Is(err, pebble.ErrClosed) {
			return // the database was closed under a store never Closed
		}
		var retry <-chan time.Time
		if err != nil {
			ix.s.opts.Logger.Error("mailbox: full-text index batch failed", "err", err)
			retry = time.After(textRetry)
		} else if n == 0 {
			for _, w := range waiters {
				close(w)
			}
			waiters = nil
		} else {
			retry = closedTime // more work: only look at stop and flush
		}
		select {
		case <-ix.stop:
			return
		case <-ix.wake:
		case w := <-ix.flush:
			waiters = append(waiters, w)
		case <-retry:
		}
	}
}

// closedTime is a ready channel, for a select that must not wait.
var closedTime = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// safePass is pass with a panic turned into an error: Pebble panics with
// ErrClosed when the database is closed while the indexer reads it.
func (ix *textIndexer) safePass() (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, pebble.ErrClosed) {
				err = e
				return
			}
			err = fmt.Errorf("mailbox: full-text index panic: %v", r)
		}
	}()
	return ix.pass()
}

type queuedEmail struct {
	addr string
	id   ulid
}

// postingKey names one posting value: a trigram's doc numbers of one chunk.
type postingKey struct {
	addr  string
	tri   [3]byte
	chunk uint32
}

// pass indexes one batch of queued emails; it returns how many it took off
// the queue.
func (ix *textIndexer) pass() (int, error) {
	queue, err := ix.readQueue()
	if err != nil || len(queue) == 0 {
		return 0, err
	}
	b := ix.s.db.NewBatch()
	defer b.Close()
	post := map[postingKey][]uint32{}
	next := map[string]uint32{} // doc numbers allocated in this batch
	taken, text := 0, 0
	for _, q := range queue {
		if text >= textBatchBytes {
			break
		}
		taken++
		b.Delete(textQueueKey(q.addr, q.id), nil)
		n, err := ix.indexEmail(b, q, post, next)
		if err != nil {
			return 0, err
		}
		text += n
	}
	if err := ix.writePostings(b, post); err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("mailbox: commit full-text index batch: %w", err)
	}
	for addr, n := range next {
		ix.next[addr] = n
	}
	return taken, nil
}

// readQueue returns up to textBatchEmails queued emails, every mailbox's.
func (ix *textIndexer) readQueue() ([]queuedEmail, error) {
	prefix := fam(famTextQueue)
	it, err := ix.s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	var out []queuedEmail
	for ok := it.First(); ok && len(out) < textBatchEmails; ok = it.Next() {
		p, err := parseKey(it.Key())
		if err != nil {
			ix.s.opts.Logger.Warn("mailbox: dropping corrupt full-text queue key", "key", FormatKey(it.Key()))
			continue
		}
		out = append(out, queuedEmail{addr: p.Name, id: p.ID})
	}
	return out, errors.Join(it.Error(), it.Close())
}

// indexEmail adds one email to the batch: its doc number (m 15) and its
// trigrams into post, or an always-candidate mark (m 17) when its text is too
// large or does not parse safely. An email gone since it was queued is
// skipped. It returns the email's decoded text size.
func (ix *textIndexer) indexEmail(b *pebble.Batch, q queuedEmail, post map[postingKey][]uint32, next map[string]uint32) (int, error) {
	raw, err := ix.s.rawOf(q.id)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	segs, ok := safeSegments(raw)
	size := textindex.Size(segs)
	if !ok || size > TextIndexMaxText {
		b.Set(textAlwaysKey(q.addr, q.id), nil, nil)
		return size, nil
	}
	doc, err := ix.allocDoc(q.addr, next)
	if err != nil {
		return 0, err
	}
	b.Set(textDocKey(q.addr, doc), q.id[:], nil)
	for _, tr := range textindex.SegmentTrigrams(segs) {
		k := postingKey{q.addr, tr.Bytes(), doc >> textChunkShift}
		post[k] = append(post[k], doc)
	}
	return size, nil
}

// safeSegments extracts an email's text; a panic in the MIME parser on a
// hostile message makes the email an always-candidate instead of stopping
// the indexer.
func safeSegments(raw []byte) (segs []textindex.Segment, ok bool) {
	defer func() {
		if recover() != nil {
			segs, ok = nil, false
		}
	}()
	return textindex.Segments(raw), true
}

// allocDoc returns the mailbox's next doc number: after the last m 15 key,
// read once per mailbox and then counted in memory (the indexer is the only
// writer of m 15).
func (ix *textIndexer) allocDoc(addr string, next map[string]uint32) (uint32, error) {
	n, ok := next[addr]
	if !ok {
		if n, ok = ix.next[addr]; !ok {
			var err error
			if n, err = ix.s.lastDoc(addr); err != nil {
				return 0, err
			}
		}
	}
	if n == ^uint32(0) {
		return 0, fmt.Errorf("mailbox: full-text index of %s: doc numbers exhausted", addr)
	}
	next[addr] = n + 1
	return n, nil
}

// lastDoc returns one past the highest doc number of addr (0 if none).
func (s *PebbleStore) lastDoc(addr string) (uint32, error) {
	prefix := textPrefix(famTextDoc, addr)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	var n uint32
	if it.Last() {
		p, perr := parseKey(it.Key())
		if perr == nil {
			n = p.UID + 1
		}
		err = perr
	}
	return n, errors.Join(err, it.Error(), it.Close())
}

// writePostings merges the batch's doc numbers into the stored bitmaps.
func (ix *textIndexer) writePostings(b *pebble.Batch, post map[postingKey][]uint32) error {
	for k, docs := range post {
		key := textPostingKey(k.addr, k.tri, k.chunk)
		bm, err := readBitmap(ix.s.db, key)
		if err != nil {
			return err
		}
		bm.AddMany(docs)
		v, err := encodeBitmap(bm)
		if err != nil {
			return err
		}
		b.Set(key, v, nil)
	}
	return nil
}

// readBitmap reads one posting value; a missing key is an empty bitmap.
func readBitmap(r reader, key []byte) (*roaring.Bitmap, error) {
	v, err := getRaw(r, key)
	if errors.Is(err, ErrNotFound) {
		return roaring.New(), nil
	}
	if err != nil {
		return nil, err
	}
	return decodeBitmap(key, v)
}

func decodeBitmap(key, v []byte) (*roaring.Bitmap, error) {
	bm := roaring.New()
	if len(v) == 0 || v[0] != valueV1 {
		return nil, fmt.Errorf("%s: %w: unknown value version", FormatKey(key), ErrCorrupt)
	}
	if _, err := bm.ReadFrom(bytes.NewReader(v[1:])); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", FormatKey(key), ErrCorrupt, err)
	}
	return bm, nil
}

func encodeBitmap(bm *roaring.Bitmap) ([]byte, error) {
	bm.RunOptimize()
	var buf bytes.Buffer
	buf.WriteByte(valueV1)
	if _, err := bm.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("mailbox: encode posting: %w", err)
	}
	return buf.Bytes(), nil
}

// rawOf reads an email's raw message by its id.
func (s *PebbleStore) rawOf(id ulid) ([]byte, error) {
	rec, err := getEmailRecord(s.db, id)
	if err != nil {
		return nil, err
	}
	raw, err := getRaw(s.db, bodyKey(rec.Body))
	if err != nil {
		return nil, fmt.Errorf("body of %s: %w", id, err)
	}
	if len(raw) == 0 || raw[0] != valueV1 {
		return nil, fmt.Errorf("body of %s: %w: unknown value version", id, ErrCorrupt)
	}
	return raw[1:], nil
}

// enqueueText puts a new email on the index queue, in the batch that creates it.
func (t *txn) enqueueText(id ulid) { t.b.Set(textQueueKey(t.addr, id), nil, nil) }

// WaitIndexed returns once every email queued before the call is indexed,
// or with ctx's error; for tests and benchmarks that time a search.
func (s *PebbleStore) WaitIndexed(ctx context.Context) error {
	w := make(chan struct{})
	select {
	case s.text.flush <- w:
	case <-s.text.done:
		return errors.New("mailbox: full-text indexer stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w:
		return nil
	case <-s.text.done:
		return errors.New("mailbox: full-text indexer stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the full-text indexer; call it before closing the database.
// The store must not be used after.
func (s *PebbleStore) Close() error {
	s.text.close()
	return nil
}

// backfillText enqueues every email of a database written before the index
// (no m 17 00 "version"), then marks it, so old mail is searchable too.
func (s *PebbleStore) backfillText() error {
	if ok, err := exists(s.db, textVersionKey()); err != nil || ok {
		return err
	}
	b := s.db.NewBatch()
	n := 0
	err := s.scan(s.db, fam(famEmail), func(k, v []byte) error {
		p, err := parseKey(k)
		if err != nil {
			return err
		}
		r, err := decodeEmailRecord(p.ID, v)
		if err != nil {
			return err
		}
		b.Set(textQueueKey(r.Mailbox, p.ID), nil, nil)
		if n++; n%10_000 == 0 {
			if err := commitWith(b, pebble.NoSync); err != nil {
				return err
			}
			b = s.db.NewBatch()
		}
		return nil
	})
	if err != nil {
		b.Close()
		return fmt.Errorf("mailbox: enqueue emails for the full-text index: %w", err)
	}
	b.Set(textVersionKey(), []byte{1}, nil)
	return commit(b)
}

// TextCandidates implements TextSearcher. It does not narrow (ok false) when no needle has
// three bytes, or when the candidates are more than half of the mailbox's indexed documents.
func (s *PebbleStore) TextCandidates(ctx context.Context, mailbox string, needles []string) (map[string]struct{}, bool, error) {
	addr, err := normalizeAddress(mailbox)
	if err != nil {
		return nil, false, fmt.Errorf("mailbox %q: %w", mailbox, ErrNotFound)
	}
	var tris []textindex.Trigram
	for _, n := range needles {
		tris = append(tris, textindex.NeedleTrigrams(n)...)
	}
	if len(tris) == 0 {
		return nil, false, nil
	}
	slices.Sort(tris)
	tris = slices.Compact(tris)
	snap := s.db.NewSnapshot()
	defer snap.Close()
	docs, err := s.intersectPostings(ctx, snap, addr, tris)
	if err != nil {
		return nil, false, err
	}
	// Candidates among more than half of the documents narrow too little to pay for
	// mapping each to its email: the caller scans instead (a needle in every message).
	total, err := s.lastDoc(addr)
	if err != nil {
		return nil, false, err
	}
	if total > 0 && docs.GetCardinality()*2 > uint64(total) {
		return nil, false, nil
	}
	ids, err := s.docIDs(snap, addr, docs)
	if err != nil {
		return nil, false, err
	}
	for _, f := range []byte{famTextQueue, famTextAlways} {
		if err := s.addIDs(snap, textPrefix(f, addr), ids); err != nil {
			return nil, false, err
		}
	}
	return ids, true, nil
}

// intersectPostings returns the doc numbers holding every trigram, smallest
// posting lists first so the intersection shrinks fast.
func (s *PebbleStore) intersectPostings(ctx context.Context, r reader, addr string, tris []textindex.Trigram) (*roaring.Bitmap, error) {
	lists := make([]*roaring.Bitmap, 0, len(tris))
	for _, tr := range tris {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		bm := roaring.New()
		err := s.scan(r, textPostingPrefix(addr, tr.Bytes()), func(k, v []byte) error {
			chunk, err := decodeBitmap(k, v)
			if err == nil {
				bm.Or(chunk)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if bm.IsEmpty() {
			return bm, nil
		}
		lists = append(lists, bm)
	}
	slices.SortFunc(lists, func(a, b *roaring.Bitmap) int { return int(a.GetCardinality()) - int(b.GetCardinality()) })
	out := lists[0]
	for _, bm := range lists[1:] {
		out.And(bm)
	}
	return out, nil
}

// docIDs maps doc numbers to email ids (m 15): point reads for a few, one
// scan of the mailbox's documents for many.
func (s *PebbleStore) docIDs(r reader, addr string, docs *roaring.Bitmap) (map[string]struct{}, error) {
	ids := make(map[string]struct{}, docs.GetCardinality())
	add := func(v []byte) error {
		id, err := decodeULID(v)
		if err == nil {
			ids[id.String()] = struct{}{}
		}
		return err
	}
	if docs.GetCardinality() > 4096 {
		err := s.scan(r, textPrefix(famTextDoc, addr), func(k, v []byte) error {
			p, err := parseKey(k)
			if err != nil || !docs.Contains(p.UID) {
				return err
			}
			return add(v)
		})
		return ids, err
	}
	for it := docs.Iterator(); it.HasNext(); {
		v, err := getRaw(r, textDocKey(addr, it.Next()))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err == nil {
			err = add(v)
		}
		if err != nil && !s.skipCorrupt(textDocKey(addr, 0), err) {
			return nil, err
		}
	}
	return ids, nil
}

// addIDs adds the email ids of the keys under prefix (queue, always-candidate).
func (s *PebbleStore) addIDs(r reader, prefix []byte, ids map[string]struct{}) error {
	return s.scan(r, prefix, func(k, _ []byte) error {
		p, err := parseKey(k)
		if err == nil {
			ids[p.ID.String()] = struct{}{}
		}
		return err
	})
}
