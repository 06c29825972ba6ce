package queue

// cancel.go: the sender's cancel_message.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"multimail.dev/multimail/audit"
)

// CancelDetail is the detail of a recipient's "cancelled" event.
const CancelDetail = "cancelled by the sender"

// CancelResult says what Cancel did.
type CancelResult struct {
	// Cancelled are the recipients cancelled now: waiting in the schedule (a scheduled send
	// not yet due, a deferral) or held for approval.
	Cancelled []string
	// InFlight are recipients in a delivery attempt that is running now (its lease is live,
	// possibly in DATA): that attempt's outcome stands; if it leaves them pending, they are
	// cancelled then.
	InFlight []string
}

// Cancel cancels every recipient of a message not yet delivered, in one synced batch under
// the message lock (gating.pml's cancel step): each scheduled or held recipient becomes
// "cancelled" with an event (and its webhook); a pending approval is closed as cancelled;
// recipients inside a live lease are only marked, so that the running attempt's outcome
// stands and Complete (or Next, if the lease is lost) cancels what it leaves pending.
// ErrNotFound for an unknown message; ErrNothingToCancel when every recipient is final or
// already marked. by names who cancelled, for the audit journal.
func (q *Queue) Cancel(ctx context.Context, msgID, by string) (CancelResult, error) {
	var res CancelResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	id, m, rcpts, unlock, err := q.lockedMsg("cancel", msgID)
	if err != nil {
		return res, err
	}
	defer unlock()
	now := q.now()
	b := q.db.NewBatch()
	j := q.msgJournal(b, m)
	if err := q.cancelApproval(j, m, by, now); err != nil {
		b.Close()
		return res, fmt.Errorf("cancel %s: %w", msgID, err)
	}
	var gone []*unscheduled
	for _, d := range pendingDomains(rcpts) {
		un, err := q.unschedule(b, m.Lane, id, d, rcpts)
		if err != nil {
			b.Close()
			return res, fmt.Errorf("cancel %s: %w", msgID, err)
		}
		if un != nil {
			gone = append(gone, un)
		}
		for _, r := range rcpts {
			if r.Domain != d || !r.pending() {
				continue
			}
			switch {
			case un != nil: // it waited in the schedule
				q.cancelRcpt(j, m, r, now)
				res.Cancelled = append(res.Cancelled, r.Addr)
			case !r.Cancel: // in a live attempt
				r.Cancel, r.Updated = true, now
				j.putRcpt(r)
				res.InFlight = append(res.InFlight, r.Addr)
			}
		}
	}
	for _, r := range rcpts {
		if r.Status == RcptPendingApproval {
			q.cancelRcpt(j, m, r, now)
			res.Cancelled = append(res.Cancelled, r.Addr)
		}
	}
	if len(res.Cancelled)+len(res.InFlight) == 0 {
		b.Close()
		return res, fmt.Errorf("cancel %s: %w", msgID, ErrNothingToCancel)
	}
	done := q.deleteBodyIfDone(b, m, rcpts)
	if err := j.flush(); err != nil {
		b.Close()
		return res, err
	}
	rec := audit.Record{Kind: audit.KindCancel, Actor: by, Mailbox: m.Mailbox, Object: m.ID,
		Detail: map[string]string{"cancelled": strconv.Itoa(len(res.Cancelled)), "in_flight": strconv.Itoa(len(res.InFlight))}}
	if err := q.commitAudited(b, rec); err != nil {
		return res, fmt.Errorf("cancel %s: %w", msgID, err)
	}
	if done {
		q.seqs.forget(id)
	}
	q.mu.Lock()
	for _, un := range gone {
		q.s.cancel(un.ref, un.retry)
		q.s.ages.remove(idSecond(un.ref.id))
	}
	q.notifyLocked()
	q.mu.Unlock()
	q.afterJournal(j)
	return res, nil
}

// cancelRcpt makes one recipient cancelled and journals it.
func (q *Queue) cancelRcpt(j *journal, m *msgRecord, r *rcptRecord, now time.Time) {
	r.Status, r.Next, r.Updated, r.Cancel = RcptCancelled, time.Time{}, now, false
	j.putRcpt(r)
	j.add(Event{Type: EventCancelled, Recipient: r.Addr, Detail: CancelDetail, Attempt: r.Attempts, Tags: m.Tags})
}

// cancelApproval closes a pending approval of m as cancelled (not decided) and drops its
// hold entry.
func (q *Queue) cancelApproval(j *journal, m *msgRecord, by string, now time.Time) error {
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
	ar.State, ar.By, ar.Reason, ar.DecidedAt = ApprovalCancelled, by, CancelDetail, now
	aid, _ := parseID(prefixApproval, ar.ID)
	set(j.b, approvalKey(aid), encodeValue(ar))
	del(j.b, holdKey(aid))
	return nil
}
