package queue

// approval.go is the hold state: messages waiting for a human (or rule) decision.

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// ValidApprovalID reports whether s is a well-formed approval id.
func ValidApprovalID(s string) bool {
	_, err := parseID(prefixApproval, s)
	return err == nil
}

// Approvals lists approval records in creation order; state "" lists all.
func (q *Queue) Approvals(ctx context.Context, state ApprovalState) ([]ApprovalRecord, error) {
	if state == ApprovalPending {
		return q.pendingApprovals(ctx)
	}
	var out []ApprovalRecord
	err := q.scan(familyPrefix(famApproval), func(k, v []byte) error {
		var ar ApprovalRecord
		if err := decodeValue(v, &ar); err != nil {
			q.log.Error("queue: skipping corrupt approval", "key", FormatKey(k), "err", err)
			return nil
		}
		if state == "" || ar.State == state {
			out = append(out, ar)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	return out, nil
}

// pendingApprovals reads the hold index, which holds only pending approvals.
func (q *Queue) pendingApprovals(ctx context.Context) ([]ApprovalRecord, error) {
	var out []ApprovalRecord
	err := q.scan(familyPrefix(famHold), func(k, _ []byte) error {
		if len(k) != headerLen+ulidLen {
			return nil
		}
		ar, err := q.approvalByID(formatID(prefixApproval, ulid(k[headerLen:])))
		if err != nil {
			q.log.Error("queue: skipping unreadable held approval", "key", FormatKey(k), "err", err)
			return nil
		}
		out = append(out, *ar)
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	return out, nil
}

// Approval returns one approval record.
func (q *Queue) Approval(ctx context.Context, id string) (*ApprovalRecord, error) {
	ar, err := q.approvalByID(id)
	if err != nil {
		return nil, fmt.Errorf("approval %s: %w", id, err)
	}
	return ar, nil
}

func (q *Queue) approvalByID(id string) (*ApprovalRecord, error) {
	aid, err := parseID(prefixApproval, id)
	if err != nil {
		return nil, ErrNotFound
	}
	var ar ApprovalRecord
	if err := q.get(approvalKey(aid), &ar); err != nil {
		return nil, err
	}
	return &ar, nil
}

// Approve releases a held message: its recipients become ready at once and the events
// "approved" and "queued" are journaled. ErrNotPending when not pending.
func (q *Queue) Approve(ctx context.Context, id, by, reason string) error {
	return q.decide(id, ApprovalApproved, by, reason, nil)
}

// ReleaseFunc rewrites a held message's body as it is released (submission adds the identity
// header and its signature). It gets the decided approval record and the stored body and
// returns the body to deliver; an error leaves the message held and undecided.
type ReleaseFunc func(ar *ApprovalRecord, body []byte) ([]byte, error)

// ApproveRelease is Approve with release rewriting the body: the new body, the decision and
// the release are one synced batch, so a released message is never delivered with the body
// it was held with.
func (q *Queue) ApproveRelease(ctx context.Context, id, by, reason string, release ReleaseFunc) error {
	return q.decide(id, ApprovalApproved, by, reason, release)
}

// Reject decides a held message will never be sent: recipients become "rejected", the body
// is deleted and the event "rejected" is journaled. ErrNotPending when not pending.
func (q *Queue) Reject(ctx context.Context, id, by, reason string) error {
	return q.decide(id, ApprovalRejected, by, reason, nil)
}

func (q *Queue) decide(id string, state ApprovalState, by, reason string, release ReleaseFunc) error {
	ar, err := q.approvalByID(id)
	if err != nil {
		return fmt.Errorf("%s %s: %w", state, id, err)
	}
	mid, err := parseID(prefixMsg, ar.MsgID)
	if err != nil {
		return fmt.Errorf("%s %s: %w", state, id, ErrCorrupt)
	}
	mu := q.msgLock(mid)
	mu.Lock()
	defer mu.Unlock()
	if ar, err = q.approvalByID(id); err != nil { // re-read under the lock
		return fmt.Errorf("%s %s: %w", state, id, err)
	}
	if ar.State != ApprovalPending {
		return fmt.Errorf("%s %s: %w (%s)", state, id, ErrNotPending, ar.State)
	}
	return q.decideLocked(ar, mid, state, by, reason, release)
}

func (q *Queue) decideLocked(ar *ApprovalRecord, mid ulid, state ApprovalState, by, reason string, release ReleaseFunc) error {
	m, rcpts, err := q.loadMsgAndRcpts(mid)
	if err != nil {
		return fmt.Errorf("%s %s: %w", state, ar.ID, err)
	}
	now := q.now()
	ar.State, ar.By, ar.Reason, ar.DecidedAt = state, by, reason, now
	aid, _ := parseID(prefixApproval, ar.ID)
	b := q.db.NewBatch()
	if release != nil {
		if err := q.rewriteBody(b, ar, m, mid, release); err != nil {
			b.Close()
			return fmt.Errorf("%s %s: release: %w", state, ar.ID, err)
		}
	}
	set(b, approvalKey(aid), encodeValue(ar))
	del(b, holdKey(aid))
	j := q.msgJournal(b, m)
	j.add(Event{Type: EventType(state), By: by, Reason: reason, Tags: m.Tags})
	units := q.releaseHeld(j, m, rcpts, state, now)
	if state == ApprovalRejected {
		del(b, bodyKey(mid))
	}
	if err := j.flush(); err != nil {
		b.Close()
		return err
	}
	if err := q.commitAudited(b, DecisionRecord(ar, state)); err != nil {
		return fmt.Errorf("%s %s: %w", state, ar.ID, err)
	}
	if state == ApprovalRejected {
		q.seqs.forget(mid)
	}
	q.publishUnits(m.Lane, mid, units)
	q.afterJournal(j)
	return nil
}

// releaseHeld moves held recipients to queued (approved, with schedule entries) or rejected.
func (q *Queue) releaseHeld(j *journal, m *msgRecord, rcpts []*rcptRecord, state ApprovalState, t time.Time) []unitRef {
	due := m.firstDue(t)
	for _, r := range rcpts {
		if r.Status != RcptPendingApproval {
			continue
		}
		r.Status, r.Updated = RcptRejected, t
		if state == ApprovalApproved {
			r.Status, r.Next = RcptQueued, due
		}
		j.putRcpt(r)
	}
	if state != ApprovalApproved {
		return nil
	}
	j.add(Event{Type: EventQueued, Tags: m.Tags})
	if due.After(t) {
		j.add(Event{Type: EventScheduled, SendAt: due, Tags: m.Tags})
	}
	return q.scheduleDomains(j, m.Lane, rcpts, due)
}

// rewriteBody puts the released body of m into b and updates its size.
func (q *Queue) rewriteBody(b *pebble.Batch, ar *ApprovalRecord, m *msgRecord, mid ulid, release ReleaseFunc) error {
	body, err := q.Body(context.Background(), m.ID)
	if err != nil {
		return err
	}
	out, err := release(ar, body)
	if err != nil {
		return err
	}
	set(b, bodyKey(mid), encodeBody(out))
	m.Size = len(out)
	set(b, msgKey(mid), encodeValue(m))
	return nil
}
