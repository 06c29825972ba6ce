package queue

// journal.go appends to a subject's event journal (famEvent) and fans each event out to the
// webhook outbox (famOutbox), always inside the caller's batch.

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
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
	now     time.Time
	next    uint64 // next sequence number; 0 = not read yet
	events  []Event
	outbox  []outboxEntry
}

// outboxEntry is one outbox item written by a journal, for the in-memory index.
type outboxEntry struct {
	ref  outboxRef
	next int64
}

func (q *Queue) newJournal(b *pebble.Batch, subject string) *journal {
	j := &journal{q: q, b: b, subject: subject, now: q.now()}
	j.id, _ = parseID(prefixMsg, subject)
	return j
}

// add queues an event; MsgID, Time and Seq are filled in by flush.
func (j *journal) add(ev Event) { j.events = append(j.events, ev) }

// putRcpt writes a recipient record of the journal's message.
func (j *journal) putRcpt(r *rcptRecord) { set(j.b, rcptKey(j.id, r.idx), encodeValue(r)) }

// flush writes the queued events and their outbox entries into the batch.
func (j *journal) flush() error {
	if len(j.events) == 0 {
		return nil
	}
	if j.next == 0 {
		last, err := j.q.lastSeq(j.subject)
		if err != nil {
			return err
		}
		j.next = last + 1
	}
	for i := range j.events {
		ev := &j.events[i]
		ev.Seq, ev.MsgID = j.next, j.subject
		if ev.Time.IsZero() {
			ev.Time = j.now
		}
		j.next++
		set(j.b, eventKey(j.subject, ev.Seq), encodeValue(ev))
		j.fanOut(*ev)
	}
	return nil
}

// fanOut writes one outbox entry per subscriber whose filter matches.
func (j *journal) fanOut(ev Event) {
	for _, s := range j.q.opts.Subscribers {
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
