package queue

// restore.go: after a node is restored from a backup, what was still in flight when the backup
// was taken may have been delivered since by the node it came from. HoldInFlight puts each such
// message on hold, as a pending approval, so a person decides instead of the queue re-sending.

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// HoldInFlight holds every message with a recipient queued or deferred: those recipients
// become pending_approval under a new pending approval (By "restore", Reason reason), its
// "pending_approval" event is journaled, and its schedule entries are removed; approving it
// sends it, rejecting it drops it. Call it after Open and before any Next. It returns the
// held message ids.
func (q *Queue) HoldInFlight(ctx context.Context, reason string) ([]string, error) {
	var ids []string
	for _, state := range []string{RcptQueued, RcptDeferred} {
		after := ""
		for {
			list, err := q.List(ctx, ListFilter{State: state, After: after, Limit: 1000})
			if err != nil {
				return ids, err
			}
			for _, st := range list {
				if err := q.holdOne(st.ID, reason); err != nil {
					return ids, err
				}
				ids = append(ids, st.ID)
			}
			if len(list) < 1000 {
				break
			}
			after = list[len(list)-1].ID
		}
	}
	return ids, nil
}

func (q *Queue) holdOne(msgID, reason string) error {
	id, m, rcpts, unlock, err := q.lockedMsg("hold", msgID)
	if err != nil {
		return err
	}
	defer unlock()
	if m.Approval != "" {
		if ar, err := q.approvalByID(m.Approval); err == nil && ar.State == ApprovalPending {
			return nil // held already
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("hold %s: %w", msgID, err)
		}
	}
	b := q.db.NewBatch()
	gone, err := q.unscheduleAll(b, m.Lane, id, rcpts)
	if err != nil {
		b.Close()
		return fmt.Errorf("hold %s: %w", msgID, err)
	}
	now := q.now()
	aid := newULID(now)
	ar := ApprovalRecord{Approval: Approval{ID: formatID(prefixApproval, aid), State: ApprovalPending, By: "restore", Reason: reason},
		MsgID: m.ID, Mailbox: m.Mailbox, Subject: m.Subject, Tags: m.Tags, CreatedAt: now}
	j := q.msgJournal(b, m)
	for _, r := range rcpts {
		if r.Status != RcptQueued && r.Status != RcptDeferred {
			continue
		}
		r.Status, r.Updated = RcptPendingApproval, now
		j.putRcpt(r)
		ar.To = append(ar.To, r.Addr)
	}
	m.Approval = ar.ID
	set(b, msgKey(id), encodeValue(m))
	set(b, approvalKey(aid), encodeValue(ar))
	set(b, holdKey(aid), append([]byte(nil), id[:]...))
	j.add(Event{Type: EventPendingApproval, Reason: reason, By: "restore", Tags: m.Tags})
	if err := j.flush(); err != nil {
		b.Close()
		return err
	}
	if err := commit(b, pebble.Sync); err != nil {
		return fmt.Errorf("hold %s: %w", msgID, err)
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
