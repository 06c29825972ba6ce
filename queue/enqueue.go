package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// maxRecipients is the most recipients one message may have (the index is 2 bytes).
const maxRecipients = 1<<16 - 1

// Enqueue writes the body, recipients, schedule entries, idempotency key, approval record and
// the "queued" (or "pending_approval", plus "approved"/"rejected" for rule decisions, plus
// "monitored") events and their outbox entries in ONE batch committed with pebble.Sync, and
// returns only after the commit. Concurrent calls share fsyncs (Pebble's group commit).
// It sets m.ID (and m.Approval.ID) when empty.
func (q *Queue) Enqueue(ctx context.Context, m *Message) (Receipt, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, err
	}
	rcpts, err := q.validate(m)
	if err != nil {
		return Receipt{}, err
	}
	if m.IdempotencyKey != "" {
		mu := q.idemLock(m.Mailbox, m.IdempotencyKey)
		mu.Lock()
		defer mu.Unlock()
		if r, ok, err := q.Idempotent(ctx, m.Mailbox, m.IdempotencyKey, m.RequestHash); ok || err != nil {
			return r, err
		}
	}
	id, generated, err := q.assignIDs(m)
	if err != nil {
		return Receipt{}, err
	}
	if !generated { // a caller-chosen id must not overwrite a message
		mu := q.msgLock(id)
		mu.Lock()
		defer mu.Unlock()
		if ok, err := q.exists(msgKey(id)); err != nil || ok {
			return Receipt{}, firstErr(err, fmt.Errorf("%w: message %s exists", ErrInvalid, m.ID))
		}
	}
	return q.write(m, id, rcpts)
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// validate checks m and returns its normalised, deduplicated recipients.
func (q *Queue) validate(m *Message) ([]*rcptRecord, error) {
	if !m.Lane.valid() {
		return nil, fmt.Errorf("%w: lane %d", ErrInvalid, m.Lane)
	}
	if len(m.Mailbox) > 1<<15 || len(m.IdempotencyKey) > 1024 {
		return nil, fmt.Errorf("%w: mailbox or idempotency key too long", ErrInvalid)
	}
	if a := m.Approval; a != nil && a.State != "" && a.State != ApprovalPending &&
		a.State != ApprovalApproved && a.State != ApprovalRejected {
		return nil, fmt.Errorf("%w: approval state %q", ErrInvalid, a.State)
	}
	return normaliseRcpts(m.To)
}

// normaliseRcpts lower-cases domains and drops duplicates, keeping the first spelling.
func normaliseRcpts(to []string) ([]*rcptRecord, error) {
	seen := make(map[string]bool, len(to))
	var out []*rcptRecord
	for _, a := range to {
		addr, domain, err := splitAddr(a)
		if err != nil {
			return nil, err
		}
		if seen[addr] {
			continue
		}
		seen[addr] = true
		out = append(out, &rcptRecord{Addr: addr, Domain: domain, idx: len(out)})
	}
	if len(out) == 0 || len(out) > maxRecipients {
		return nil, fmt.Errorf("%w: %d recipients", ErrInvalid, len(out))
	}
	return out, nil
}

// splitAddr returns local@lower(domain) and the domain.
func splitAddr(a string) (string, string, error) {
	a = strings.TrimSpace(a)
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.ContainsAny(a, "\r\n\x00 ") || len(a) > 1024 {
		return "", "", fmt.Errorf("%w: recipient %q", ErrInvalid, a)
	}
	domain := strings.ToLower(a[at+1:])
	return a[:at+1] + domain, domain, nil
}

// assignIDs fills m.ID and m.Approval.ID when empty and returns the binary message id and
// whether it was generated here.
func (q *Queue) assignIDs(m *Message) (ulid, bool, error) {
	now := q.now()
	if m.Approval != nil && m.Approval.ID == "" {
		m.Approval.ID = formatID(prefixApproval, newULID(now))
	}
	if m.Approval != nil {
		if _, err := parseID(prefixApproval, m.Approval.ID); err != nil {
			return ulid{}, false, err
		}
	}
	if m.ID != "" {
		id, err := parseID(prefixMsg, m.ID)
		return id, false, err
	}
	id := q.ids.next(now)
	m.ID = formatID(prefixMsg, id)
	return id, true, nil
}

// write builds and commits the enqueue batch, then publishes it to the in-memory index.
func (q *Queue) write(m *Message, id ulid, rcpts []*rcptRecord) (Receipt, error) {
	b := q.db.NewBatchWithSize(len(m.Body) + 512*len(rcpts) + 1024)
	e, err := q.build(b, m, id, rcpts)
	if err != nil {
		b.Close()
		return Receipt{}, err
	}
	if err := q.commitAudited(b, q.sendRecord(m, e.receipt.Status)); err != nil {
		return Receipt{}, fmt.Errorf("enqueue %s: %w", m.ID, err)
	}
	q.publish(e)
	return e.receipt, nil
}

// enqueued is what build wrote, to publish after the commit.
type enqueued struct {
	receipt Receipt
	lane    Lane
	id      ulid
	units   []unitRef
	j       *journal
}

// build writes everything of one new message into b.
func (q *Queue) build(b *pebble.Batch, m *Message, id ulid, rcpts []*rcptRecord) (*enqueued, error) {
	now := q.now()
	status := receiptStatus(m.Approval)
	rec := &msgRecord{
		ID: m.ID, Mailbox: m.Mailbox, From: m.From, Subject: m.Subject, Lane: m.Lane,
		Tags: slices.Clone(m.Tags), ExpiresAt: m.ExpiresAt, SendAt: m.SendAt, QueuedAt: now, Size: len(m.Body),
		NRcpt: len(rcpts), Source: m.Source, Monitored: m.Monitored, IdemKey: m.IdempotencyKey,
		Test: m.Test, RequireTLS: m.RequireTLS,
	}
	j := q.msgJournal(b, rec)
	j.next = 1 // a new message: no stored events
	q.writeApproval(j, m, rec, rcpts, now)
	set(b, msgKey(id), encodeValue(rec))
	if status != StatusRejected {
		set(b, bodyKey(id), encodeBody(m.Body))
	}
	units := q.writeRcpts(j, rec, rcpts, status, now)
	if m.IdempotencyKey != "" {
		set(b, idemKey(m.Mailbox, m.IdempotencyKey), encodeValue(idemRecord{
			Hash: m.RequestHash, Msg: m.ID, Status: status, QueuedAt: now, Created: now,
		}))
	}
	if err := j.flush(); err != nil {
		return nil, err
	}
	return &enqueued{receipt: Receipt{ID: m.ID, Status: status, QueuedAt: now},
		lane: m.Lane, id: id, units: units, j: j}, nil
}

// publish makes a committed enqueue visible: schedule, outbox, metrics.
func (q *Queue) publish(e *enqueued) {
	q.publishUnits(e.lane, e.id, e.units)
	q.afterJournal(e.j)
	q.countEnqueued(e.lane)
}

func receiptStatus(a *Approval) string {
	switch {
	case a == nil || a.State == ApprovalApproved:
		return StatusQueued
	case a.State == ApprovalRejected:
		return StatusRejected
	}
	return StatusPendingApproval
}

// writeApproval writes the approval record (and hold entry) and the decision events.
func (q *Queue) writeApproval(j *journal, m *Message, rec *msgRecord, rcpts []*rcptRecord, now time.Time) {
	a := m.Approval
	if a == nil {
		return
	}
	if a.State == "" {
		a.State = ApprovalPending
	}
	aid, _ := parseID(prefixApproval, a.ID) // checked by assignIDs
	if a.State != ApprovalPending && a.DecidedAt.IsZero() {
		a.DecidedAt = now
	}
	rec.Approval = a.ID
	ar := ApprovalRecord{Approval: *a, MsgID: m.ID, Mailbox: m.Mailbox, Subject: m.Subject,
		Tags: slices.Clone(m.Tags), CreatedAt: now, Test: m.Test}
	for _, r := range rcpts {
		ar.To = append(ar.To, r.Addr)
	}
	set(j.b, approvalKey(aid), encodeValue(ar))
	switch a.State {
	case ApprovalPending:
		set(j.b, holdKey(aid), append([]byte(nil), j.id[:]...))
		j.add(Event{Type: EventPendingApproval, Tags: rec.Tags})
	case ApprovalApproved:
		j.add(Event{Type: EventApproved, By: a.By, Rule: a.Rule, Reason: a.Reason, Tags: rec.Tags})
	case ApprovalRejected:
		j.add(Event{Type: EventRejected, By: a.By, Rule: a.Rule, Reason: a.Reason, Tags: rec.Tags})
	}
}

// writeRcpts writes the recipients, their schedule entries and the "queued"/"monitored"
// events; it returns the schedule units written (one per domain).
func (q *Queue) writeRcpts(j *journal, rec *msgRecord, rcpts []*rcptRecord, status string, now time.Time) []unitRef {
	rs := map[string]string{StatusQueued: RcptQueued, StatusRejected: RcptRejected,
		StatusPendingApproval: RcptPendingApproval}[status]
	due := rec.firstDue(now)
	for _, r := range rcpts {
		r.Status, r.Updated = rs, now
		if rs == RcptQueued {
			r.Next = due
		}
		j.putRcpt(r)
	}
	if status == StatusQueued {
		j.add(Event{Type: EventQueued, Tags: rec.Tags})
		if due.After(now) {
			j.add(Event{Type: EventScheduled, SendAt: due, Tags: rec.Tags})
		}
	}
	if rec.Monitored && status != StatusRejected {
		j.add(Event{Type: EventMonitored, Tags: rec.Tags})
	}
	if status != StatusQueued {
		return nil
	}
	return q.scheduleDomains(j, rec.Lane, rcpts, due)
}

// scheduleDomains writes one schedule entry, due at now, per distinct domain of rcpts.
func (q *Queue) scheduleDomains(j *journal, lane Lane, rcpts []*rcptRecord, now time.Time) []unitRef {
	var units []unitRef
	seen := map[string]bool{}
	for _, r := range rcpts {
		if seen[r.Domain] || !r.pending() {
			continue
		}
		seen[r.Domain] = true
		u := unitRef{lane: lane, due: now.UnixNano(), id: j.id, domain: r.Domain}
		set(j.b, schedKey(u.lane, u.due, u.id, u.domain), []byte{0})
		units = append(units, u)
	}
	return units
}

// publishUnits adds committed new units to the in-memory schedule and wakes Next.
func (q *Queue) publishUnits(lane Lane, id ulid, units []unitRef) {
	if len(units) == 0 {
		return
	}
	q.mu.Lock()
	for _, u := range units {
		q.s.add(u.lane, u.domain, unit{due: u.due, id: u.id})
		q.s.ages.add(idSecond(id))
	}
	q.notifyLocked()
	q.mu.Unlock()
}

// Idempotent looks an idempotency key up without enqueueing. It returns the first result
// (Duplicate set) and true when the key was used with the same requestHash within 24h, and
// ErrIdempotencyConflict when it was used with a different one.
func (q *Queue) Idempotent(ctx context.Context, mailbox, key, requestHash string) (Receipt, bool, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, false, err
	}
	var rec idemRecord
	err := q.get(idemKey(mailbox, key), &rec)
	if err == ErrNotFound || (err == nil && !q.now().Before(rec.Created.Add(idempotencyTTL))) {
		return Receipt{}, false, nil
	}
	if err != nil {
		return Receipt{}, false, err
	}
	if rec.Hash != requestHash {
		return Receipt{}, false, fmt.Errorf("%w: key %q", ErrIdempotencyConflict, key)
	}
	return Receipt{ID: rec.Msg, Status: rec.Status, QueuedAt: rec.QueuedAt, Duplicate: true}, true, nil
}

// gcIdempotency deletes idempotency keys older than 24h (at Open).
func (q *Queue) gcIdempotency() error {
	cutoff := q.now().Add(-idempotencyTTL)
	b := q.db.NewBatch()
	err := q.scan(familyPrefix(famIdem), func(k, v []byte) error {
		var rec idemRecord
		if decodeValue(v, &rec) != nil || rec.Created.Before(cutoff) {
			del(b, k)
		}
		return nil
	})
	if err != nil {
		b.Close()
		return err
	}
	return commit(b, pebble.NoSync)
}
