package queue

// journal.go appends to a subject's event journal (famEvent) and fans each event out to the
// webhook outbox (famOutbox), always inside the caller's batch.

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// journal collects the events of one batch for one subject (a message id, or an email id
// for "received"). Sequence numbers continue from the last stored one.
type journal struct {
	q       *Queue
	b       *pebble.Batch
	subject string
	id      ulid // the message, when subject is a message id
	isMsg   bool // subject is a message id
	now     time.Time
	next    uint64 // next sequence number; 0 = not read yet
	events  []Event
	outbox  []outboxEntry
	test    bool // the message is a test message: every event is marked Test
}

// outboxEntry is one outbox item written by a journal, for the in-memory index.
type outboxEntry struct {
	ref  outboxRef
	next int64
}

func (q *Queue) newJournal(b *pebble.Batch, subject string) *journal {
	j := &journal{q: q, b: b, subject: subject, now: q.now()}
	id, err := parseID(prefixMsg, subject)
	j.id, j.isMsg = id, err == nil
	return j
}

// msgJournal is newJournal for the message m: a test message's events are marked Test.
func (q *Queue) msgJournal(b *pebble.Batch, m *msgRecord) *journal {
	j := q.newJournal(b, m.ID)
	j.test = m.Test
	return j
}

// add queues an event; MsgID, Time and Seq are filled in by flush.
func (j *journal) add(ev Event) { j.events = append(j.events, ev) }

// putRcpt writes a recipient record of the journal's message.
func (j *journal) putRcpt(r *rcptRecord) {
	set(j.b, rcptKey(j.id, r.idx), encodeValue(r))
	j.q.seqs.touch(j.id)
}

// flush writes the queued events and their outbox entries into the batch.
func (j *journal) flush() error {
	if len(j.events) == 0 {
		return nil
	}
	fresh := j.next == 1 // a new message: start its cached sequence
	if j.next == 0 {
		last, err := j.q.journalSeq(j)
		if err != nil {
			return err
		}
		j.next = last + 1
	}
	for i := range j.events {
		ev := &j.events[i]
		ev.Seq, ev.MsgID = j.next, j.subject
		ev.Test = ev.Test || j.test
		if ev.Time.IsZero() {
			ev.Time = j.now
		}
		j.next++
		set(j.b, eventKey(j.subject, ev.Seq), encodeValue(ev))
		j.fanOut(*ev)
	}
	if j.isMsg {
		j.q.seqs.advance(j.id, j.next-1, fresh)
	}
	return nil
}

// journalSeq is the last sequence number of j's subject: from the cache for a message with a
// pending recipient, else from Pebble.
func (q *Queue) journalSeq(j *journal) (uint64, error) {
	if j.isMsg {
		if seq, ok := q.seqs.get(j.id); ok {
			return seq, nil
		}
	}
	return q.lastSeq(j.subject)
}

// seqShards is the number of independently locked parts of a seqCache.
const seqShards = 64

// seqCache remembers, for every message that still has a pending recipient, the last
// journal sequence number (so that Complete need not seek the journal's last key in Pebble)
// and a generation counted up by every write of one of its recipient records (so that
// Complete can reuse the recipients Next read when nothing wrote them since). Entries start
// at Enqueue and end when the body is deleted (every recipient final); a miss falls back to
// Pebble. Every writer of a message's journal or recipients holds its message lock (Enqueue
// before the message is published), so entries are exact; advance keeps the maximum anyway,
// and a batch that fails after flush only leaves a gap in the numbering.
type seqCache struct {
	shards [seqShards]struct {
		mu sync.Mutex
		m  map[ulid]seqEntry
	}
}

type seqEntry struct {
	seq uint64 // last journal sequence number
	gen uint64 // recipient writes so far
}

func (c *seqCache) init() {
	for i := range c.shards {
		c.shards[i].m = map[ulid]seqEntry{}
	}
}

func (c *seqCache) shard(id ulid) int { return int(id[15]) % seqShards }

func (c *seqCache) get(id ulid) (uint64, bool) {
	s := &c.shards[c.shard(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	return e.seq, ok
}

// generation returns id's recipient write count; ok is false when id is not cached.
func (c *seqCache) generation(id ulid) (uint64, bool) {
	s := &c.shards[c.shard(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	return e.gen, ok
}

// touch counts a write of one of id's recipient records.
func (c *seqCache) touch(id ulid) {
	s := &c.shards[c.shard(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[id]; ok {
		e.gen++
		s.m[id] = e
	}
}

// advance records seq as id's last sequence number when id is cached, or when add is set.
func (c *seqCache) advance(id ulid, seq uint64, add bool) {
	s := &c.shards[c.shard(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[id]; (ok || add) && seq > e.seq {
		e.seq = seq
		s.m[id] = e
	}
}

// forget drops id (its message is done).
func (c *seqCache) forget(id ulid) {
	s := &c.shards[c.shard(id)]
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// fanOut writes one outbox entry per subscriber whose filter matches.
func (j *journal) fanOut(ev Event) {
	for _, s := range *j.q.subs.Load() {
		if len(s.Events) > 0 && !slices.Contains(s.Events, ev.Type) {
			continue
		}
		ref := outboxRef{sub: s.ID, subject: j.subject, seq: ev.Seq}
		rec := outboxRecord{Event: ev, Next: j.now, First: j.now}
		set(j.b, outboxKey(ref.sub, ref.subject, ref.seq), encodeValue(rec))
		j.outbox = append(j.outbox, outboxEntry{ref: ref, next: j.now.UnixNano()})
	}
}

// lastSeq reads the highest stored sequence number of subject (0 = none).
func (q *Queue) lastSeq(subject string) (uint64, error) {
	k, err := q.lastKey(eventPrefix(subject))
	if err != nil || k == nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(k[len(k)-seqLen:]), nil
}

// afterJournal publishes a committed journal: outbox index, kick and metrics.
func (q *Queue) afterJournal(j *journal) {
	if len(j.outbox) > 0 {
		q.ob.add(j.outbox)
	}
	for _, ev := range j.events {
		q.countOutcome(ev.Type)
	}
}

// Events returns the journal of a message (or of any subject passed to Record), in order.
func (q *Queue) Events(ctx context.Context, msgID string) ([]Event, error) {
	if err := validSubject(msgID); err != nil {
		return nil, err
	}
	var out []Event
	err := q.scan(eventPrefix(msgID), func(k, v []byte) error {
		var ev Event
		if err := decodeValue(v, &ev); err != nil {
			q.log.Error("queue: skipping corrupt event", "key", FormatKey(k), "err", err)
			return nil
		}
		out = append(out, ev)
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("events %s: %w", msgID, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("events %s: %w", msgID, ErrNotFound)
	}
	return out, nil
}

func validSubject(id string) error {
	if id == "" || len(id) > 255 {
		return fmt.Errorf("%w: subject id %q", ErrInvalid, id)
	}
	return nil
}
