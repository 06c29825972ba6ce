package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Complete records results for every recipient of the lease in one synced batch:
// delivered; deferred (per-recipient exponential backoff; failed once the next attempt would
// be past MaxLifetime; expired past ExpiresAt); bounced. A recipient of the lease without a
// result counts as deferred. domainBackoff (a connection-level failure) also backs the whole
// domain off; any other completion resets the domain's backoff. It returns the recipients
// that reached a final failure state so the caller can send a DSN. The write is not
// abandoned when ctx ends: a finished delivery must be recorded. ErrLeaseLost when the lease
// expired or is unknown.
func (q *Queue) Complete(ctx context.Context, l *Lease, results []Result, domainBackoff bool) ([]Final, error) {
	lid, err := parseID(prefixLease, l.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLeaseLost, err)
	}
	ls, err := q.takeLease(lid)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", l.ID, err)
	}
	finals, err := q.complete(ls, l, results, domainBackoff)
	if err != nil {
		q.returnLease(ls, "complete failed")
		return nil, fmt.Errorf("complete %s: %w", l.ID, err)
	}
	return finals, nil
}

// completion is the outcome of one Complete, for publishing to memory after the commit.
type completion struct {
	next          unit // rescheduled unit (due 0 = none)
	failures      int
	until         int64
	domainChanged bool
}

func (q *Queue) complete(ls *leaseState, l *Lease, results []Result, domainBackoff bool) ([]Final, error) {
	mu := q.msgLock(ls.p.u.id)
	mu.Lock()
	defer mu.Unlock()
	m, rcpts, err := q.leasedMsg(ls)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) { // nothing left to record
		q.log.Error("queue: completing a lease of an unreadable message", "msg_id", l.MsgID, "err", err)
		b := q.db.NewBatch()
		del(b, leaseKey(ls.id))
		if err := commit(b, pebble.NoSync); err != nil {
			return nil, err
		}
		return nil, q.finishLease(ls, completion{})
	}
	if err != nil {
		return nil, err
	}
	now := q.now()
	b := q.db.NewBatch()
	del(b, leaseKey(ls.id))
	j := q.msgJournal(b, m)
	finals := q.applyResults(j, m, rcpts, ls.p.d.name, l.Recipients, results, now)
	c := q.domainOutcome(b, ls.p.d, domainBackoff, now)
	c.next = q.reschedule(b, ls.p, rcpts, now)
	done := q.deleteBodyIfDone(b, m, rcpts)
	if err := j.flush(); err != nil {
		b.Close()
		return nil, err
	}
	if err := commit(b, pebble.Sync); err != nil {
		return nil, err
	}
	if done {
		q.seqs.forget(ls.p.u.id)
	}
	q.afterJournal(j)
	return finals, q.finishLease(ls, c)
}

// leasedMsg returns a lease's message and recipients. The message record is immutable after
// Enqueue, so Next's copy serves; so do Next's recipients unless one was written since (the
// seqCache generation moved). Needs the message lock.
func (q *Queue) leasedMsg(ls *leaseState) (*msgRecord, []*rcptRecord, error) {
	if ls.m == nil {
		return q.loadMsgAndRcpts(ls.p.u.id)
	}
	if gen, ok := q.seqs.generation(ls.p.u.id); ok && ls.genOK && gen == ls.gen {
		rcpts := ls.rcpts
		ls.rcpts = nil // Complete changes them in place: use them once
		return ls.m, rcpts, nil
	}
	rcpts, err := q.loadRcpts(ls.p.u.id)
	return ls.m, rcpts, err
}

// applyResults applies each result to its recipient and journals it.
func (q *Queue) applyResults(j *journal, m *msgRecord, rcpts []*rcptRecord, domain string,
	leased []string, results []Result, now time.Time) []Final {
	var finals []Final
	for _, r := range rcpts {
		if r.Domain != domain || !r.pending() || !containsFold(leased, r.Addr) {
			continue
		}
		res := findResult(results, r.Addr)
		if f := q.applyResult(j, m, r, res, now); f != nil {
			finals = append(finals, *f)
		}
	}
	return finals
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// findResult returns the result for addr, or a deferral when the caller reported none.
func findResult(results []Result, addr string) Result {
	for _, r := range results {
		if strings.EqualFold(r.Recipient, addr) {
			return r
		}
	}
	return Result{Recipient: addr, Outcome: Deferred, Detail: "no result reported for recipient"}
}

// applyResult updates one recipient; it returns a Final for a terminal failure.
func (q *Queue) applyResult(j *journal, m *msgRecord, r *rcptRecord, res Result, now time.Time) *Final {
	r.Attempts++
	r.LastCode, r.LastEnhanced, r.LastDetail, r.Updated = res.SMTPCode, res.EnhancedCode, res.Detail, now
	r.Next = time.Time{}
	ev := Event{Recipient: r.Addr, MXHost: res.MXHost, SMTPCode: res.SMTPCode,
		EnhancedCode: res.EnhancedCode, Detail: res.Detail, Attempt: r.Attempts, TLS: res.TLS, Tags: m.Tags,
		SourceIP: res.SourceIP, IPPool: res.IPPool}
	switch res.Outcome {
	case Delivered:
		ev.Type = EventDelivered
	case Bounced:
		ev.Type = EventBounced
		q.suppressBounce(j.b, m, r.Addr, res.SMTPCode == 0, res.EnhancedCode, res.Detail, now)
	default: // Deferred, and anything unknown: temporary
		ev.Type = q.deferral(m, r, now)
		if ev.Type == EventFailed {
			ev.Detail = "maximum queue lifetime reached; last error: " + res.Detail
		}
	}
	r.Status = string(ev.Type)
	j.putRcpt(r)
	j.add(ev)
	if ev.Type == EventDeferred && r.Cancel { // cancelled during the attempt: it takes what is left
		q.cancelRcpt(j, m, r, now)
		return nil
	}
	if ev.Type == EventDelivered || ev.Type == EventDeferred {
		return nil
	}
	return &Final{Recipient: r.Addr, Event: ev.Type, Detail: ev.Detail, SMTPCode: res.SMTPCode,
		EnhancedCode: res.EnhancedCode, MXHost: res.MXHost}
}

// deferral decides a deferred recipient's fate and sets its next attempt.
func (q *Queue) deferral(m *msgRecord, r *rcptRecord, now time.Time) EventType {
	next := now.Add(q.backoff(r.Attempts, m.ID+"\x00"+r.Addr))
	switch {
	case !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt):
		return EventExpired
	case !next.Before(m.start().Add(q.opts.MaxLifetime)):
		return EventFailed
	case !m.ExpiresAt.IsZero() && next.After(m.ExpiresAt):
		next = m.ExpiresAt // wake at expiry so "expired" is reported on time
	}
	r.Next = next
	return EventDeferred
}

// domainOutcome updates the domain's connection-level backoff in b.
func (q *Queue) domainOutcome(b *pebble.Batch, d *domainState, backoff bool, now time.Time) completion {
	q.mu.Lock()
	failures := d.failures
	q.mu.Unlock()
	if !backoff {
		if failures == 0 {
			return completion{}
		}
		del(b, domainKey(d.name))
		return completion{domainChanged: true}
	}
	failures++
	until := now.Add(q.backoff(failures, d.name))
	set(b, domainKey(d.name), encodeValue(domainRecord{Failures: failures, Until: until}))
	return completion{failures: failures, until: until.UnixNano(), domainChanged: true}
}

// reschedule writes the schedule entry for the lease's domain's still-pending recipients.
func (q *Queue) reschedule(b *pebble.Batch, p picked, rcpts []*rcptRecord, now time.Time) unit {
	due, ok := unitDue(rcpts, p.d.name)
	if !ok {
		return unit{}
	}
	u := unit{due: due, id: p.u.id, retry: true}
	set(b, schedKey(p.lane, u.due, u.id, p.d.name), []byte{schedFlagRetry})
	return u
}

// unitDue is the earliest next attempt among the pending recipients of domain.
func unitDue(rcpts []*rcptRecord, domain string) (int64, bool) {
	var due int64
	ok := false
	for _, r := range rcpts {
		if r.Domain != domain || !r.pending() {
			continue
		}
		if n := r.Next.UnixNano(); !ok || n < due {
			due, ok = n, true
		}
	}
	return due, ok
}

// finishLease publishes a completed lease to the in-memory schedule.
func (q *Queue) finishLease(ls *leaseState, c completion) error {
	now := q.now().UnixNano()
	q.mu.Lock()
	defer q.mu.Unlock()
	if c.domainChanged {
		q.s.setBackoff(ls.p.d, c.failures, c.until, now)
	}
	q.s.release(ls.p.d, ls.p.lane)
	if c.next.due != 0 {
		q.s.add(ls.p.lane, ls.p.d.name, c.next)
	} else {
		q.s.ages.remove(idSecond(ls.p.u.id))
	}
	q.notifyLocked()
	return nil
}

// deleteBodyIfDone deletes the body once every recipient is final and reports whether it did.
func (q *Queue) deleteBodyIfDone(b *pebble.Batch, m *msgRecord, rcpts []*rcptRecord) bool {
	if !allFinal(rcpts) {
		return false
	}
	id, _ := parseID(prefixMsg, m.ID)
	del(b, bodyKey(id))
	return true
}

// allFinal reports whether every recipient reached a terminal state.
func allFinal(rcpts []*rcptRecord) bool {
	for _, r := range rcpts {
		if !r.final() {
			return false
		}
	}
	return true
}

// loadDomains restores connection-level backoff from famDomain (Open).
func (q *Queue) loadDomains() error {
	now := q.now().UnixNano()
	return q.scan(familyPrefix(famDomain), func(k, v []byte) error {
		var dr domainRecord
		if err := decodeValue(v, &dr); err != nil {
			q.log.Error("queue: skipping corrupt domain state", "key", FormatKey(k), "err", err)
			return nil
		}
		d := q.s.domain(string(k[headerLen:]))
		q.s.setBackoff(d, dr.Failures, dr.Until.UnixNano(), now)
		return nil
	})
}
