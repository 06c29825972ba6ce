package pgqueue

// lease.go hands out delivery units and records their outcomes. A unit (one message, one
// recipient domain) is leased by SELECT … FOR UPDATE SKIP LOCKED, so nodes racing for work
// take different units without waiting for each other; the lease's expiry is on the
// database's clock, so a dead node's leases return to the pool by themselves, and its
// generation (mq_unit.lease_gen, in the lease id) is checked by every write under the lease.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/queue"
)

// maxSkips bounds the domains one lease transaction passes over (at their concurrency cap
// or backing off) before it gives up for this round.
const maxSkips = 16

// Next blocks until a unit of one of lanes (tried in order, with the low-lane starvation
// guard) is due, its domain under PerDomainConcurrency and not backing off, and leases it;
// or ctx ends (ctx.Err()). No lanes means all, high first. A unit whose message passed its
// ExpiresAt or MaxLifetime is finalised here instead (OnFinal is told).
func (q *Queue) Next(ctx context.Context, lanes ...queue.Lane) (*queue.Lease, error) {
	if len(lanes) == 0 {
		lanes = []queue.Lane{queue.LaneHigh, queue.LaneNormal, queue.LaneLow}
	}
	lanes = q.laneOrder(lanes)
	for {
		wake := q.waitCh()
		for _, lane := range lanes {
			l, err := q.leaseLane(ctx, lane)
			if err != nil || l != nil {
				return l, err
			}
		}
		t := time.NewTimer(q.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// laneOrder applies the starvation guard: every LowEvery-th call that may serve both normal
// and low tries low before normal (never before high).
func (q *Queue) laneOrder(lanes []queue.Lane) []queue.Lane {
	ni, li := index(lanes, queue.LaneNormal), index(lanes, queue.LaneLow)
	if ni < 0 || li < 0 || ni > li {
		return lanes
	}
	if q.picks.Add(1)%uint64(q.opts.LowEvery) != 0 {
		return lanes
	}
	out := append([]queue.Lane(nil), lanes...)
	out[ni], out[li] = out[li], out[ni]
	return out
}

func index(lanes []queue.Lane, l queue.Lane) int {
	for i, x := range lanes {
		if x == l {
			return i
		}
	}
	return -1
}

// finalised is what a lease transaction finalised instead of leasing, for OnFinal.
type finalised struct {
	msgID  string
	finals []queue.Final
}

// leaseLane leases one due unit of lane (nil when none), finalising expired ones on the way.
func (q *Queue) leaseLane(ctx context.Context, lane queue.Lane) (*queue.Lease, error) {
	for range maxSkips {
		var l *queue.Lease
		var fin *finalised
		err := q.tx(ctx, func(tx pgx.Tx) error {
			var err error
			l, fin, err = q.lease(ctx, tx, lane)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("next: %w", err)
		}
		if fin == nil {
			if l != nil {
				q.hold(l.ID)
			}
			return l, nil
		}
		q.notify()
		if f := q.onFinal.Load(); f != nil && *f != nil && len(fin.finals) > 0 {
			(*f)(ctx, fin.msgID, fin.finals)
		}
		if len(fin.finals) > 0 { // the body stayed for the hook's DSN
			err := q.tx(ctx, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SELECT 1 FROM mq_message WHERE id = $1 FOR UPDATE`, fin.msgID); err != nil {
					return err
				}
				return q.dropBodyIfDone(ctx, tx, fin.msgID)
			})
			if err != nil {
				return nil, fmt.Errorf("next: %w", err)
			}
		}
	}
	return nil, nil
}

// lease picks, locks and leases one unit in tx, or finalises it when its message expired.
func (q *Queue) lease(ctx context.Context, tx pgx.Tx, lane queue.Lane) (*queue.Lease, *finalised, error) {
	skip := []string{} // not nil: "<> ALL(NULL)" is never true
	for range maxSkips {
		var msgID, domain string
		var gen int64
		err := tx.QueryRow(ctx, `SELECT u.msg_id, u.domain, u.lease_gen FROM mq_unit u
			WHERE u.lane = $1 AND u.due <= now() AND (u.lease_expires IS NULL OR u.lease_expires <= now())
			  AND u.domain <> ALL($2)
			  AND NOT EXISTS (SELECT 1 FROM mq_domain d WHERE d.domain = u.domain AND d.backoff_until > now())
			ORDER BY u.due, u.msg_id LIMIT 1 FOR UPDATE OF u SKIP LOCKED`, int16(lane), skip).Scan(&msgID, &domain, &gen)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		ok, err := q.domainOpen(ctx, tx, domain)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			skip = append(skip, domain)
			continue
		}
		return q.take(ctx, tx, msgID, domain, lane, gen)
	}
	return nil, nil, nil
}

// domainOpen locks the domain's row (serialising leases in the domain across nodes) and
// reports whether it is under its concurrency cap and not backing off.
func (q *Queue) domainOpen(ctx context.Context, tx pgx.Tx, domain string) (bool, error) {
	var backingOff bool
	err := tx.QueryRow(ctx, `SELECT coalesce(backoff_until > now(), false) FROM mq_domain WHERE domain = $1 FOR UPDATE`,
		domain).Scan(&backingOff)
	if errors.Is(err, pgx.ErrNoRows) { // written by Enqueue, never deleted: only a hand-edited database
		_, err = tx.Exec(ctx, `INSERT INTO mq_domain (domain) VALUES ($1) ON CONFLICT (domain) DO NOTHING`, domain)
		return false, err
	}
	if err != nil || backingOff {
		return false, err
	}
	var inflight int
	err = tx.QueryRow(ctx, `SELECT count(*) FROM mq_unit WHERE domain = $1 AND lease_expires > now()`,
		domain).Scan(&inflight)
	return inflight < q.opts.PerDomainConcurrency, err
}

// unitMsg is a leased unit's message and its pending recipients of the domain.
type unitMsg struct {
	id       string
	mailbox  string
	queuedAt time.Time
	data     msgData
	rcpts    []rcpt
}

type rcpt struct {
	idx      int
	addr     string
	attempts int
}

func (q *Queue) loadUnit(ctx context.Context, tx pgx.Tx, msgID, domain string, lock bool) (*unitMsg, error) {
	u := unitMsg{id: msgID}
	var data []byte
	sql := `SELECT mailbox, queued_at, data FROM mq_message WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	if err := tx.QueryRow(ctx, sql, msgID).Scan(&u.mailbox, &u.queuedAt, &data); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &u.data); err != nil {
		return nil, fmt.Errorf("message %s: %w: %v", msgID, queue.ErrCorrupt, err)
	}
	rows, err := tx.Query(ctx, `SELECT idx, address, attempts FROM mq_rcpt
		WHERE msg_id = $1 AND domain = $2 AND status IN ('queued', 'deferred') ORDER BY idx`, msgID, domain)
	if err != nil {
		return nil, err
	}
	u.rcpts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (rcpt, error) {
		var x rcpt
		return x, r.Scan(&x.idx, &x.addr, &x.attempts)
	})
	return &u, err
}

// take leases the locked unit, or finalises its recipients when the message is past its
// ExpiresAt or MaxLifetime.
func (q *Queue) take(ctx context.Context, tx pgx.Tx, msgID, domain string, lane queue.Lane, gen int64) (*queue.Lease, *finalised, error) {
	u, err := q.loadUnit(ctx, tx, msgID, domain, false)
	if err != nil {
		return nil, nil, err
	}
	now, err := txNow(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	if ev, detail := q.pastLife(u, now); ev != "" || len(u.rcpts) == 0 {
		fin, err := q.finalise(ctx, tx, msgID, domain, u, ev, detail, now)
		return nil, fin, err
	}
	switch {
	case u.data.Cancel: // cancelled while a lease was live, and that lease is gone (admin.go)
		return nil, &finalised{msgID: msgID}, q.cancelUnit(ctx, tx, u, domain, now)
	case u.data.Test: // never leased: delivered to the test sink (testout.go)
		return nil, &finalised{msgID: msgID}, q.testSink(ctx, tx, u, domain, now)
	}
	id := newLeaseID(gen + 1)
	var expires time.Time
	err = tx.QueryRow(ctx, `UPDATE mq_unit SET lease_gen = lease_gen + 1, lease_id = $3,
		lease_expires = now() + $4 * interval '1 microsecond' WHERE msg_id = $1 AND domain = $2 RETURNING lease_expires`,
		msgID, domain, id, micros(q.opts.LeaseTTL)).Scan(&expires)
	if err != nil {
		return nil, nil, err
	}
	l := &queue.Lease{ID: id, MsgID: msgID, Domain: domain, Mailbox: u.mailbox, Lane: lane, From: u.data.From,
		Tags: u.data.Tags, Expires: expires, RequireTLS: u.data.RequireTLS, Attempt: 1}
	for _, r := range u.rcpts {
		l.Recipients = append(l.Recipients, r.addr)
		l.Attempt = max(l.Attempt, r.attempts+1)
	}
	return l, nil, nil
}

// pastLife returns "expired" or "failed" (with a detail) when the message can no longer be
// attempted: past its ExpiresAt, or past MaxLifetime from its start.
func (q *Queue) pastLife(u *unitMsg, now time.Time) (queue.EventType, string) {
	switch {
	case !u.data.ExpiresAt.IsZero() && !now.Before(u.data.ExpiresAt):
		return queue.EventExpired, "message expired before delivery"
	case !now.Before(u.data.start(u.queuedAt).Add(q.opts.MaxLifetime)):
		return queue.EventFailed, "maximum queue lifetime reached"
	}
	return "", ""
}

// finalise ends every pending recipient of the unit with ev, removes the unit and, when
// nothing of the message is pending any more, its body.
func (q *Queue) finalise(ctx context.Context, tx pgx.Tx, msgID, domain string, u *unitMsg,
	ev queue.EventType, detail string, now time.Time) (*finalised, error) {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM mq_message WHERE id = $1 FOR UPDATE`, msgID); err != nil {
		return nil, err
	}
	fin := &finalised{msgID: msgID}
	var evs []queue.Event
	for _, r := range u.rcpts {
		_, err := tx.Exec(ctx, `UPDATE mq_rcpt SET status = $3, last_detail = $4, updated_at = $5, next_attempt = NULL
			WHERE msg_id = $1 AND idx = $2`, msgID, r.idx, string(ev), detail, now)
		if err != nil {
			return nil, err
		}
		evs = append(evs, queue.Event{Type: ev, Recipient: r.addr, Detail: detail, Tags: u.data.Tags, Test: u.data.Test})
		fin.finals = append(fin.finals, queue.Final{Recipient: r.addr, Event: ev, Detail: detail})
	}
	if _, err := tx.Exec(ctx, `DELETE FROM mq_unit WHERE msg_id = $1 AND domain = $2`, msgID, domain); err != nil {
		return nil, err
	}
	if err := q.appendEvents(ctx, tx, msgID, now, evs); err != nil {
		return nil, err
	}
	// The body stays for OnFinal's DSN when recipients were finalised here: leaseLane drops
	// it in a transaction of its own after the hook (a crash in between leaves it behind).
	if len(fin.finals) == 0 {
		return fin, q.dropBodyIfDone(ctx, tx, msgID)
	}
	return fin, nil
}

// dropBodyIfDone drops the body when no recipient of the message is pending. The caller
// holds the message's row lock, so two completions of one message cannot both miss it.
func (q *Queue) dropBodyIfDone(ctx context.Context, tx pgx.Tx, msgID string) error {
	_, err := tx.Exec(ctx, `UPDATE mq_message SET body = NULL WHERE id = $1 AND body IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM mq_rcpt WHERE msg_id = $1 AND status IN ('queued', 'deferred'))`, msgID)
	return err
}

// fence locks the unit of l if l still holds it: same lease id and generation, not
// expired. ErrLeaseLost otherwise.
func (q *Queue) fence(ctx context.Context, tx pgx.Tx, l *queue.Lease) error {
	gen, ok := leaseGen(l.ID)
	if !ok {
		return queue.ErrLeaseLost
	}
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM mq_unit WHERE msg_id = $1 AND domain = $2 AND lease_id = $3
		AND lease_gen = $4 AND lease_expires > now() FOR UPDATE`, l.MsgID, l.Domain, l.ID, gen).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.ErrLeaseLost
	}
	return err
}

// Complete records the outcome of a lease's attempt in one transaction (recipients, events,
// outbox, the domain's backoff, the unit's next due time or its removal, the body when
// done) and returns the recipients that reached a final failure. ErrLeaseLost when the
// lease expired or another node holds the unit now: nothing is written then.
func (q *Queue) Complete(ctx context.Context, l *queue.Lease, results []queue.Result, domainBackoff bool) ([]queue.Final, error) {
	ctx = context.WithoutCancel(ctx) // a finished delivery must be recorded
	var finals []queue.Final
	err := q.tx(ctx, func(tx pgx.Tx) error {
		var err error
		finals, err = q.complete(ctx, tx, l, results, domainBackoff)
		return err
	})
	// Whatever happened, this node stops renewing the lease: done, lost, or failed to record
	// (then it expires and another attempt records the delivery again, at least once).
	q.release(l.ID)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", l.ID, err)
	}
	q.notify()
	return finals, nil
}

func (q *Queue) complete(ctx context.Context, tx pgx.Tx, l *queue.Lease, results []queue.Result, domainBackoff bool) ([]queue.Final, error) {
	if err := q.fence(ctx, tx, l); err != nil {
		return nil, err
	}
	u, err := q.loadUnit(ctx, tx, l.MsgID, l.Domain, true)
	if err != nil {
		return nil, err
	}
	now, err := txNow(ctx, tx)
	if err != nil {
		return nil, err
	}
	var finals []queue.Final
	var evs []queue.Event
	for _, r := range u.rcpts {
		if !containsFold(l.Recipients, r.addr) {
			continue
		}
		ev, next := q.applyResult(u, r, findResult(results, r.addr), now)
		_, err := tx.Exec(ctx, `UPDATE mq_rcpt SET status = $3, attempts = $4, next_attempt = $5, last_code = $6,
			last_enhanced = $7, last_detail = $8, updated_at = $9 WHERE msg_id = $1 AND idx = $2`,
			l.MsgID, r.idx, string(ev.Type), ev.Attempt, next, ev.SMTPCode, ev.EnhancedCode, ev.Detail, now)
		if err != nil {
			return nil, err
		}
		if ev.Type == queue.EventBounced {
			if err := suppressBounce(ctx, tx, l.MsgID, u.mailbox, r.addr, findResult(results, r.addr), now); err != nil {
				return nil, err
			}
		}
		evs = append(evs, ev)
		if ev.Type == queue.EventDeferred && u.data.Cancel { // cancelled during the attempt: it takes what is left
			if err := cancelRcpts(ctx, tx, l.MsgID, []int{r.idx}, now); err != nil {
				return nil, err
			}
			evs = append(evs, cancelEvent(&u.data, r.addr, ev.Attempt))
			continue
		}
		if ev.Type != queue.EventDelivered && ev.Type != queue.EventDeferred {
			finals = append(finals, queue.Final{Recipient: r.addr, Event: ev.Type, Detail: ev.Detail,
				SMTPCode: ev.SMTPCode, EnhancedCode: ev.EnhancedCode, MXHost: ev.MXHost})
		}
	}
	if err := q.domainOutcome(ctx, tx, l.Domain, domainBackoff, now); err != nil {
		return nil, err
	}
	if err := q.reschedule(ctx, tx, l.MsgID, l.Domain, nil); err != nil {
		return nil, err
	}
	if err := q.appendEvents(ctx, tx, l.MsgID, now, evs); err != nil {
		return nil, err
	}
	return finals, q.dropBodyIfDone(ctx, tx, l.MsgID)
}

// applyResult turns one recipient's result into its event and next attempt time (nil when
// final), as the Pebble queue does.
func (q *Queue) applyResult(u *unitMsg, r rcpt, res queue.Result, now time.Time) (queue.Event, *time.Time) {
	ev := queue.Event{Recipient: r.addr, MXHost: res.MXHost, SMTPCode: res.SMTPCode, EnhancedCode: res.EnhancedCode,
		Detail: res.Detail, Attempt: r.attempts + 1, TLS: res.TLS, Tags: u.data.Tags, SourceIP: res.SourceIP, IPPool: res.IPPool}
	switch res.Outcome {
	case queue.Delivered:
		ev.Type = queue.EventDelivered
		return ev, nil
	case queue.Bounced:
		ev.Type = queue.EventBounced
		return ev, nil
	}
	next := now.Add(q.opts.Backoff(ev.Attempt, u.id+"\x00"+r.addr))
	exp := u.data.ExpiresAt
	switch {
	case !exp.IsZero() && !now.Before(exp):
		ev.Type = queue.EventExpired
		return ev, nil
	case !next.Before(u.data.start(u.queuedAt).Add(q.opts.MaxLifetime)):
		ev.Type, ev.Detail = queue.EventFailed, "maximum queue lifetime reached; last error: "+res.Detail
		return ev, nil
	case !exp.IsZero() && next.After(exp):
		next = exp // wake at expiry so "expired" is reported on time
	}
	ev.Type = queue.EventDeferred
	return ev, &next
}

// domainOutcome updates the domain's shared backoff: one more consecutive failure (backing
// off BackoffInitial doubling) on a connection-level failure, reset by anything else.
func (q *Queue) domainOutcome(ctx context.Context, tx pgx.Tx, domain string, backoff bool, now time.Time) error {
	if !backoff {
		_, err := tx.Exec(ctx, `UPDATE mq_domain SET failures = 0, backoff_until = NULL WHERE domain = $1 AND failures > 0`, domain)
		return err
	}
	var failures int
	err := tx.QueryRow(ctx, `UPDATE mq_domain SET failures = failures + 1 WHERE domain = $1 RETURNING failures`,
		domain).Scan(&failures)
	if err != nil {
		return err
	}
	until := now.Add(q.opts.Backoff(failures, domain))
	_, err = tx.Exec(ctx, `UPDATE mq_domain SET backoff_until = $2 WHERE domain = $1`, domain, until)
	return err
}

// reschedule releases the unit's lease and sets its due time to the earliest next attempt
// of its pending recipients (or until, when later), or removes it when none is pending.
func (q *Queue) reschedule(ctx context.Context, tx pgx.Tx, msgID, domain string, until *time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE mq_unit SET lease_id = NULL, lease_expires = NULL,
		due = greatest(now(), coalesce($3, '-infinity'::timestamptz), (SELECT min(next_attempt) FROM mq_rcpt
			WHERE msg_id = $1 AND domain = $2 AND status IN ('queued', 'deferred')))
		WHERE msg_id = $1 AND domain = $2 AND EXISTS (SELECT 1 FROM mq_rcpt
			WHERE msg_id = $1 AND domain = $2 AND status IN ('queued', 'deferred'))`, msgID, domain, until)
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM mq_unit WHERE msg_id = $1 AND domain = $2`, msgID, domain)
	return err
}

// Postpone hands a lease back without an attempt: its unit is due at until (or now, if
// earlier), with no event and no attempt counted. ErrLeaseLost when the lease is gone.
func (q *Queue) Postpone(ctx context.Context, l *queue.Lease, until time.Time) error {
	err := q.tx(context.WithoutCancel(ctx), func(tx pgx.Tx) error {
		if err := q.fence(ctx, tx, l); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE mq_unit SET lease_id = NULL, lease_expires = NULL, due = greatest(now(), $3)
			WHERE msg_id = $1 AND domain = $2`, l.MsgID, l.Domain, until)
		return err
	})
	q.release(l.ID)
	if err != nil {
		return fmt.Errorf("postpone %s: %w", l.ID, err)
	}
	q.notify()
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func findResult(results []queue.Result, addr string) queue.Result {
	for _, r := range results {
		if strings.EqualFold(r.Recipient, addr) {
			return r
		}
	}
	return queue.Result{Recipient: addr, Outcome: queue.Deferred, Detail: "no result reported for recipient"}
}
