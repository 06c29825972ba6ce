package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Postpone hands a lease back without an attempt: its recipients keep their attempt count,
// status and journal, and become due again at until (or at the message's expires_at, when
// that comes first, so that "expired" is reported on time). The MTA calls it when its pacing
// of the destination has no room now (docs/deliverability.md): a paced message burns no
// retry. Nothing is journaled, since nothing was tried. The write is not synced: losing it in
// a crash only makes the recipients due earlier. ErrLeaseLost when the lease expired or is
// unknown.
func (q *Queue) Postpone(ctx context.Context, l *Lease, until time.Time) error {
	lid, err := parseID(prefixLease, l.ID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLeaseLost, err)
	}
	ls, err := q.takeLease(lid)
	if err != nil {
		return fmt.Errorf("postpone %s: %w", l.ID, err)
	}
	next, err := q.postpone(ls, l, until)
	if err != nil {
		q.returnLease(ls, "postpone failed")
		return fmt.Errorf("postpone %s: %w", l.ID, err)
	}
	return q.finishLease(ls, completion{next: next})
}

func (q *Queue) postpone(ls *leaseState, l *Lease, until time.Time) (unit, error) {
	mu := q.msgLock(ls.p.u.id)
	mu.Lock()
	defer mu.Unlock()
	m, rcpts, err := q.leasedMsg(ls)
	if err != nil {
		return unit{}, err
	}
	if !m.ExpiresAt.IsZero() && m.ExpiresAt.Before(until) {
		until = m.ExpiresAt
	}
	b := q.db.NewBatch()
	del(b, leaseKey(ls.id))
	j := q.newJournal(b, m.ID) // for its recipient writes only: no event
	for _, r := range rcpts {
		if r.Domain != ls.p.d.name || !r.pending() || !containsFold(l.Recipients, r.Addr) {
			continue
		}
		if r.Next.Before(until) {
			r.Next = until
			j.putRcpt(r)
		}
	}
	next := q.reschedule(b, ls.p, rcpts, q.now())
	if err := commit(b, pebble.NoSync); err != nil {
		return unit{}, err
	}
	return next, nil
}
