package queue

// admin.go holds the actions taken on a message from outside the delivery loop: Retry,
// Delete and Record.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// unscheduled is a schedule entry deleted in a batch, to cancel in memory after the commit.
type unscheduled struct {
	ref   unitRef
	retry bool
}

// unschedule deletes the schedule entry of (id, domain) as derived from rcpts, if present
// (absent: the unit is leased, or nothing is pending).
func (q *Queue) unschedule(b *pebble.Batch, lane Lane, id ulid, domain string, rcpts []*rcptRecord) (*unscheduled, error) {
	due, ok := unitDue(rcpts, domain)
	if !ok {
		return nil, nil
	}
	k := schedKey(lane, due, id, domain)
	v, closer, err := q.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	retry := len(v) > 0 && v[0]&schedFlagRetry != 0
	closer.Close()
	del(b, k)
	return &unscheduled{ref: unitRef{lane, due, id, domain}, retry: retry}, nil
}

// pendingDomains lists the distinct domains with a pending recipient.
func pendingDomains(rcpts []*rcptRecord) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rcpts {
		if r.pending() && !seen[r.Domain] {
			seen[r.Domain] = true
			out = append(out, r.Domain)
		}
	}
	return out
}

// Retry makes the message's deferred recipients due now and clears their domains' backoff.
// Units currently leased are left alone. ErrNotFound for an unknown message.
func (q *Queue) Retry(ctx context.Context, msgID string) error {
	id, m, rcpts, unlock, err := q.lockedMsg("retry", msgID)
	if err != nil {
		return err
	}
	defer unlock()
	now := q.now()
	b := q.db.NewBatch()
	var gone []*unscheduled
	var domains []string
	for _, d := range pendingDomains(rcpts) {
		un, err := q.unschedule(b, m.Lane, id, d, rcpts)
		if err != nil {
			b.Close()
			return fmt.Errorf("retry %s: %w", msgID, err)
		}
		if un == nil {
			continue
		}
		gone, domains = append(gone, un), append(domains, d)
		q.retryDomain(b, id, m.Lane, d, rcpts, now)
	}
	if err := commit(b, pebble.Sync); err != nil {
		return fmt.Errorf("retry %s: %w", msgID, err)
	}
	q.publishRetry(m.Lane, id, gone, domains, now)
	return nil
}

// retryDomain sets the domain's pending recipients due now and clears the domain backoff.
func (q *Queue) retryDomain(b *pebble.Batch, id ulid, lane Lane, d string, rcpts []*rcptRecord, now time.Time) {
	for _, r := range rcpts {
		if r.Domain == d && r.pending() {
			r.Next, r.Updated = now, now
			set(b, rcptKey(id, r.idx), encodeValue(r))
			q.seqs.touch(id)
		}
	}
	set(b, schedKey(lane, now.UnixNano(), id, d), []byte{schedFlagRetry})
	del(b, domainKey(d))
}

func (q *Queue) publishRetry(lane Lane, id ulid, gone []*unscheduled, domains []string, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, un := range gone {
		q.s.cancel(un.ref, un.retry)
		q.s.add(lane, domains[i], unit{due: now.UnixNano(), id: id, retry: true})
		q.s.setBackoff(q.s.domain(domains[i]), 0, 0, now.UnixNano())
	}
	q.notifyLocked()
}

// Delete gives up on a message: every recipient not yet final becomes "failed" with detail
// "deleted by admin" (one event each), its schedule entries and body are removed and a
// pending approval is rejected. The message record and its events stay for Status.
func (q *Queue) Delete(ctx context.Context, msgID string) error {
	id, m, rcpts, unlock, err := q.lockedMsg("delete", msgID)
	if err != nil {
		return err
	}
	defer unlock()
	b := q.db.NewBatch()
	gone, err := q.unscheduleAll(b, m.Lane, id, rcpts)
	if err == nil {
		err = q.rejectForDelete(b, m)
	}
	if err != nil {
		b.Close()
		return fmt.Errorf("delete %s: %w", msgID, err)
	}
	j := q.msgJournal(b, m)
	now := q.now()
	for _, r := range rcpts {
		if !r.final() {
			q.finalise(j, m, r, EventFailed, "deleted by admin", now)
		}
	}
	del(b, bodyKey(id))
	err = q.commitDelete(b, j, gone)
	q.seqs.forget(id)
	return err
}

func (q *Queue) unscheduleAll(b *pebble.Batch, lane Lane, id ulid, rcpts []*rcptRecord) ([]*unscheduled, error) {
	var gone []*unscheduled
	for _, d := range pendingDomains(rcpts) {
		un, err := q.unschedule(b, lane, id, d, rcpts)
		if err != nil {
			return nil, err
		}
		if un != nil {
			gone = append(gone, un)
		}
	}
	return gone, nil
}

// rejectForDelete marks a still-pending approval rejected by the admin.
func (q *Queue) rejectForDelete(b *pebble.Batch, m *msgRecord) error {
	if m.Approval == "" {
		return nil
	}
	ar, err := q.approvalByID(m.Approval)
	if errors.Is(err, ErrNotFound) || (err == nil && ar.State != ApprovalPending) {
		return nil
	}
	if err != nil {
		return err
	}
	ar.State, ar.By, ar.Reason, ar.DecidedAt = ApprovalRejected, "admin", "deleted by admin", q.now()
	aid, _ := parseID(prefixApproval, ar.ID)
	set(b, approvalKey(aid), encodeValue(ar))
	del(b, holdKey(aid))
	return nil
}

func (q *Queue) commitDelete(b *pebble.Batch, j *journal, gone []*unscheduled) error {
	if err := j.flush(); err != nil {
		b.Close()
		return err
	}
	if err := commit(b, pebble.Sync); err != nil {
		return fmt.Errorf("delete %s: %w", j.subject, err)
	}
	q.mu.Lock()
	for _, un := range gone {
		q.s.cancel(un.ref, un.retry)
		q.s.ages.remove(idSecond(un.ref.id))
	}
	q.mu.Unlock()
	q.afterJournal(j)
	return nil
}

// subjectLock is the lock of a journal subject: the message lock for message ids.
func (q *Queue) subjectLock(subject string) *sync.Mutex {
	if id, err := parseID(prefixMsg, subject); err == nil {
		return q.msgLock(id)
	}
	h := fnv.New32a()
	h.Write([]byte(subject))
	return &q.msgLocks[h.Sum32()%msgStripes]
}

// Record appends an event not produced by the queue itself (Seq and, when zero, Time are
// assigned): inbound "received" with MsgID = the email id; or a late DSN "bounced" for a
// queued message, which also marks that recipient bounced (and stops retrying it). A bounce
// for a message or recipient the queue does not know is ErrNotFound and writes nothing; a
// repeated bounce for one recipient is a no-op.
func (q *Queue) Record(ctx context.Context, ev Event) error {
	if err := validSubject(ev.MsgID); err != nil {
		return err
	}
	if ev.Type == "" {
		return fmt.Errorf("%w: event without type", ErrInvalid)
	}
	mu := q.subjectLock(ev.MsgID)
	mu.Lock()
	defer mu.Unlock()
	b := q.db.NewBatch()
	j := q.newJournal(b, ev.MsgID)
	var gone *unscheduled
	var readd *unitRef
	if ev.Type == EventBounced && ev.Recipient != "" {
		var err error
		gone, readd, err = q.lateBounce(j, ev)
		if errors.Is(err, errAlreadyBounced) {
			b.Close()
			return nil // a second DSN for the same recipient: the trail has it already
		}
		if err != nil {
			b.Close()
			return fmt.Errorf("record %s: %w", ev.MsgID, err)
		}
	}
	j.add(ev)
	if err := j.flush(); err != nil {
		b.Close()
		return err
	}
	if err := commit(b, pebble.Sync); err != nil {
		return fmt.Errorf("record %s: %w", ev.MsgID, err)
	}
	q.publishBounce(gone, readd)
	q.afterJournal(j)
	return nil
}

// errAlreadyBounced marks a late bounce for a recipient already bounced.
var errAlreadyBounced = errors.New("recipient already bounced")

// lateBounce marks a recipient of a queued message bounced, rescheduling its domain unit
// from the recipients left. A DSN naming a message or a recipient we never sent to is
// ErrNotFound and records nothing: a bounce address is visible to every recipient, and a
// forged DSN must not write events about mail we did not send.
func (q *Queue) lateBounce(j *journal, ev Event) (*unscheduled, *unitRef, error) {
	m, rcpts, err := q.loadMsgAndRcpts(j.id)
	if err != nil {
		return nil, nil, err
	}
	r := findRcpt(rcpts, ev.Recipient)
	if r == nil {
		return nil, nil, fmt.Errorf("%w: %s is not a recipient of %s", ErrNotFound, ev.Recipient, j.id)
	}
	if r.Status == RcptBounced {
		return nil, nil, errAlreadyBounced
	}
	var gone *unscheduled
	if r.pending() {
		if gone, err = q.unschedule(j.b, m.Lane, j.id, r.Domain, rcpts); err != nil {
			return nil, nil, err
		}
	}
	r.Status, r.Next, r.Updated = RcptBounced, time.Time{}, j.now
	q.suppressBounce(j.b, m, r.Addr, false, ev.EnhancedCode, ev.Detail, j.now) // a DSN: a server's report
	r.LastCode, r.LastEnhanced, r.LastDetail = ev.SMTPCode, ev.EnhancedCode, ev.Detail
	j.putRcpt(r)
	if q.deleteBodyIfDone(j.b, m, rcpts) {
		q.seqs.forget(j.id) // a miss only costs a seek
	}
	if gone == nil {
		return nil, nil, nil
	}
	due, ok := unitDue(rcpts, r.Domain)
	if !ok {
		return gone, nil, nil
	}
	ref := unitRef{lane: m.Lane, due: due, id: j.id, domain: r.Domain}
	set(j.b, schedKey(ref.lane, ref.due, ref.id, ref.domain), []byte{schedFlagRetry})
	return gone, &ref, nil
}

func findRcpt(rcpts []*rcptRecord, addr string) *rcptRecord {
	for _, r := range rcpts {
		if strings.EqualFold(r.Addr, addr) {
			return r
		}
	}
	return nil
}

func (q *Queue) publishBounce(gone *unscheduled, readd *unitRef) {
	if gone == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.s.cancel(gone.ref, gone.retry)
	if readd != nil {
		q.s.add(readd.lane, readd.domain, unit{due: readd.due, id: readd.id, retry: true})
	} else {
		q.s.ages.remove(idSecond(gone.ref.id))
	}
	q.notifyLocked()
}
