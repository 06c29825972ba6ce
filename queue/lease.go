package queue

// lease.go hands out work (Next), persists leases and returns expired or orphaned ones.

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// leaseState is an outstanding lease in memory.
type leaseState struct {
	id      ulid
	p       picked
	m       *msgRecord    // the message as leased (immutable after Enqueue); nil after restart
	rcpts   []*rcptRecord // its recipients as leased, valid while its generation is gen
	gen     uint64
	genOK   bool // the message was in the seqCache at lease time
	expires int64
	hpos    int // index in Queue.lexp, -1 when absent
}

// leaseHeap orders leases by expiry.
type leaseHeap []*leaseState

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h leaseHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hpos, h[j].hpos = i, j
}
func (h *leaseHeap) Push(x any) {
	ls := x.(*leaseState)
	ls.hpos = len(*h)
	*h = append(*h, ls)
}
func (h *leaseHeap) Pop() any {
	old := *h
	ls := old[len(old)-1]
	*h = old[:len(old)-1]
	ls.hpos = -1
	return ls
}

var allLanes = []Lane{LaneHigh, LaneNormal, LaneLow}

// Next blocks until a delivery is due in one of lanes (tried in the given order, with the
// low-lane starvation guard) whose domain is under its concurrency cap and not backing off,
// or ctx ends (returns ctx.Err()). No lanes means all, high first. Recipients past ExpiresAt
// or MaxLifetime are finalised here (expired/failed events) instead of being leased.
func (q *Queue) Next(ctx context.Context, lanes ...Lane) (*Lease, error) {
	if len(lanes) == 0 {
		lanes = allLanes
	}
	for _, l := range lanes {
		if !l.valid() {
			return nil, fmt.Errorf("%w: lane %d", ErrInvalid, l)
		}
	}
	for {
		p, ok, wake, err := q.pickOrWait(lanes)
		if err != nil {
			return nil, err
		}
		if ok {
			l, err := q.lease(ctx, p)
			if err != nil || l != nil {
				return l, err
			}
			continue // stale or fully finalised unit: pick again
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		case <-q.done:
			return nil, ErrClosed
		}
	}
}

func (q *Queue) pickOrWait(lanes []Lane) (picked, bool, <-chan struct{}, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return picked{}, false, nil, ErrClosed
	}
	p, ok := q.s.pick(lanes, q.now().UnixNano(), q.opts.LowEvery)
	return p, ok, q.wake, nil
}

// lease turns a picked unit into a persisted lease. It returns (nil, nil) when the unit
// turned out stale or all its recipients were finalised; those go to the OnFinal hook.
func (q *Queue) lease(ctx context.Context, p picked) (*Lease, error) {
	l, fin, err := q.leaseUnit(p)
	if fin != nil {
		q.reportFinals(ctx, fin)
	}
	return l, err
}

// leaseUnit is lease under the message lock.
func (q *Queue) leaseUnit(p picked) (*Lease, *selfFinals, error) {
	mu := q.msgLock(p.u.id)
	mu.Lock()
	defer mu.Unlock()
	l, fin, err := q.leaseLocked(p)
	if l == nil {
		q.mu.Lock()
		q.s.release(p.d, p.lane)
		if err != nil { // put it back so nothing is lost; the error is Pebble's
			q.s.add(p.lane, p.d.name, p.u)
		}
		q.notifyLocked()
		q.mu.Unlock()
	}
	return l, fin, err
}

func (q *Queue) leaseLocked(p picked) (*Lease, *selfFinals, error) {
	skey := schedKey(p.lane, p.u.due, p.u.id, p.d.name)
	ok, err := q.exists(skey)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		q.dropStale(p)
		return nil, nil, nil
	}
	m, rcpts, err := q.loadMsgAndRcpts(p.u.id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		q.log.Error("queue: dropping schedule entry of unreadable message", "msg_id", formatID(prefixMsg, p.u.id), "err", err)
		return nil, nil, q.dropEntry(skey, p)
	}
	if err != nil {
		return nil, nil, err
	}
	now := q.now()
	b := q.db.NewBatch()
	del(b, skey)
	j := q.msgJournal(b, m)
	live, finals := q.finaliseDue(j, m, rcpts, p.d.name, now)
	if m.Test && len(live) > 0 { // never leased: delivered to the test sink here, in the same commit
		addrs := make([]string, 0, len(live))
		for _, r := range live {
			q.applyResult(j, m, r, Result{Recipient: r.Addr, Outcome: Delivered, MXHost: TestSink,
				Detail: "test key: delivered to the test sink, never to an MX"}, now)
			addrs = append(addrs, r.Addr)
		}
		if err := q.keepTestCopy(b, p.u.id, m, addrs, now); err != nil { // the test outbox (testout.go)
			b.Close()
			return nil, nil, err
		}
		live = nil
	}
	if len(live) == 0 {
		fin, err := q.commitFinalised(b, j, m, rcpts, finals, p)
		return nil, fin, err
	}
	ls, l := q.newLease(p, m, rcpts, live, now)
	set(b, leaseKey(ls.id), encodeValue(leaseRecord{
		Msg: m.ID, Domain: p.d.name, Lane: p.lane, Expires: l.Expires, Attempt: l.Attempt,
	}))
	// The journal is empty unless some recipients were finalised: then sync, as they have
	// events. NoSync otherwise: a lease lost in a crash leaves the schedule entry in place,
	// which is what restart would do with the lease anyway.
	journaled := len(j.events) > 0 // finalised or cancelled recipients
	if err := j.flush(); err != nil {
		b.Close()
		return nil, nil, err
	}
	if err := commit(b, syncIf(journaled)); err != nil {
		return nil, nil, err
	}
	q.afterJournal(j)
	q.mu.Lock()
	q.leases[ls.id] = ls
	heap.Push(&q.lexp, ls)
	q.mu.Unlock()
	q.signalResched()
	return l, q.newSelfFinals(p.u.id, m, finals, false), nil
}

func syncIf(sync bool) *pebble.WriteOptions {
	if sync {
		return pebble.Sync
	}
	return pebble.NoSync
}

// finaliseDue marks recipients of domain past ExpiresAt or MaxLifetime as expired/failed and
// returns those still to be attempted and the finalised ones.
func (q *Queue) finaliseDue(j *journal, m *msgRecord, rcpts []*rcptRecord, domain string, now time.Time) ([]*rcptRecord, []Final) {
	var live []*rcptRecord
	var finals []Final
	for _, r := range rcpts {
		if r.Domain != domain || !r.pending() {
			continue
		}
		switch {
		case r.Cancel: // cancelled while its lease was live, and the lease was lost
			q.cancelRcpt(j, m, r, now)
		case !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt):
			finals = append(finals, q.finalise(j, m, r, EventExpired, "expired before delivery", now))
		case !now.Before(m.start().Add(q.opts.MaxLifetime)):
			detail := "maximum queue lifetime reached"
			if r.LastDetail != "" {
				detail += "; last error: " + r.LastDetail
			}
			finals = append(finals, q.finalise(j, m, r, EventFailed, detail, now))
		default:
			live = append(live, r)
		}
	}
	return live, finals
}

// finalise sets a recipient's terminal state and journals it (no result from a remote). The
// Final keeps the last remote reply, if any, for a DSN.
func (q *Queue) finalise(j *journal, m *msgRecord, r *rcptRecord, ev EventType, detail string, now time.Time) Final {
	f := Final{Recipient: r.Addr, Event: ev, Detail: detail, SMTPCode: r.LastCode, EnhancedCode: r.LastEnhanced}
	r.Status, r.LastDetail, r.Updated = string(ev), detail, now
	r.Next = time.Time{}
	j.putRcpt(r)
	j.add(Event{Type: ev, Recipient: r.Addr, Detail: detail, Attempt: r.Attempts, Tags: m.Tags})
	return f
}

// commitFinalised commits a unit whose recipients were all finalised in lease. With an
// OnFinal hook the body outlives the commit: reportFinals deletes it after the hook.
func (q *Queue) commitFinalised(b *pebble.Batch, j *journal, m *msgRecord, rcpts []*rcptRecord,
	finals []Final, p picked) (*selfFinals, error) {
	done := allFinal(rcpts)
	hook := q.onFinal.Load() != nil
	if done && !hook {
		del(b, bodyKey(p.u.id))
	}
	if err := j.flush(); err != nil {
		b.Close()
		return nil, err
	}
	if err := commit(b, pebble.Sync); err != nil {
		return nil, err
	}
	if done && !hook {
		q.seqs.forget(p.u.id)
	}
	q.mu.Lock()
	q.s.ages.remove(idSecond(p.u.id))
	q.mu.Unlock()
	q.afterJournal(j)
	return q.newSelfFinals(p.u.id, m, finals, done && hook), nil
}

// selfFinals are recipients the queue finalised itself, for the OnFinal hook.
type selfFinals struct {
	id         ulid
	msgID      string
	finals     []Final
	deleteBody bool // every recipient is final: delete the body after the hook
}

func (q *Queue) newSelfFinals(id ulid, m *msgRecord, finals []Final, deleteBody bool) *selfFinals {
	if len(finals) == 0 && !deleteBody {
		return nil
	}
	return &selfFinals{id: id, msgID: m.ID, finals: finals, deleteBody: deleteBody}
}

// reportFinals calls the OnFinal hook (no lock held), then deletes the body if it is due.
func (q *Queue) reportFinals(ctx context.Context, f *selfFinals) {
	if fn := q.onFinal.Load(); fn != nil && len(f.finals) > 0 {
		(*fn)(ctx, f.msgID, f.finals)
	}
	if f.deleteBody {
		q.deleteBodyLater(f.id)
	}
}

// deleteBodyLater deletes the body of a message whose recipients are all final, in a batch
// of its own (after the OnFinal hook read it).
func (q *Queue) deleteBodyLater(id ulid) {
	mu := q.msgLock(id)
	mu.Lock()
	defer mu.Unlock()
	rcpts, err := q.loadRcpts(id)
	if err == nil && !allFinal(rcpts) {
		return
	}
	b := q.db.NewBatch()
	del(b, bodyKey(id))
	if err := commit(b, pebble.Sync); err != nil {
		q.log.Error("queue: deleting body", "msg_id", formatID(prefixMsg, id), "err", err)
	}
	q.seqs.forget(id)
}

func (q *Queue) newLease(p picked, m *msgRecord, rcpts, live []*rcptRecord, now time.Time) (*leaseState, *Lease) {
	ls := &leaseState{id: newULID(now), p: p, m: m, rcpts: rcpts, hpos: -1}
	ls.gen, ls.genOK = q.seqs.generation(p.u.id)
	expires := now.Add(q.opts.LeaseTTL)
	ls.expires = expires.UnixNano()
	l := &Lease{
		ID: formatID(prefixLease, ls.id), MsgID: m.ID, Domain: p.d.name, Lane: p.lane,
		From: m.From, Mailbox: m.Mailbox, Tags: slices.Clone(m.Tags), Expires: expires,
		RequireTLS: m.RequireTLS,
	}
	for _, r := range live {
		l.Recipients = append(l.Recipients, r.Addr)
		l.Attempt = max(l.Attempt, r.Attempts+1)
	}
	return ls, l
}

// dropStale forgets a picked unit whose schedule key is gone (Retry/Delete raced with pick).
func (q *Queue) dropStale(p picked) {
	q.mu.Lock()
	q.s.uncancel(p.ref(), p.u.retry)
	q.mu.Unlock()
}

// dropEntry deletes a schedule key whose message cannot be read.
func (q *Queue) dropEntry(skey []byte, p picked) error {
	b := q.db.NewBatch()
	del(b, skey)
	if err := commit(b, pebble.NoSync); err != nil {
		return err
	}
	q.mu.Lock()
	q.s.ages.remove(idSecond(p.u.id))
	q.mu.Unlock()
	return nil
}

// lockedMsg parses msgID, takes the message's lock and loads it with its recipients, for an
// operation on one message (errors name op: "retry msg_…: …"; an unparsable id is
// ErrNotFound). On success the caller calls unlock.
func (q *Queue) lockedMsg(op, msgID string) (id ulid, m *msgRecord, rcpts []*rcptRecord, unlock func(), err error) {
	id, err = parseID(prefixMsg, msgID)
	if err != nil {
		return id, nil, nil, nil, fmt.Errorf("%s %s: %w", op, msgID, ErrNotFound)
	}
	mu := q.msgLock(id)
	mu.Lock()
	if m, rcpts, err = q.loadMsgAndRcpts(id); err != nil {
		mu.Unlock()
		return id, nil, nil, nil, fmt.Errorf("%s %s: %w", op, msgID, err)
	}
	return id, m, rcpts, mu.Unlock, nil
}

func (q *Queue) loadMsgAndRcpts(id ulid) (*msgRecord, []*rcptRecord, error) {
	m, err := q.loadMsg(id)
	if err != nil {
		return nil, nil, err
	}
	rcpts, err := q.loadRcpts(id)
	return m, rcpts, err
}

func (q *Queue) signalResched() {
	select {
	case q.resched <- struct{}{}:
	default:
	}
}

// popExpiredLocked removes leases that expired by now from memory. Needs q.mu.
func (q *Queue) popExpiredLocked(now int64) []*leaseState {
	var out []*leaseState
	for len(q.lexp) > 0 && q.lexp[0].expires <= now {
		ls := heap.Pop(&q.lexp).(*leaseState)
		delete(q.leases, ls.id)
		out = append(out, ls)
	}
	return out
}

// takeLease removes a live lease from memory so that nobody else (sweeper) touches it.
func (q *Queue) takeLease(id ulid) (*leaseState, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ls := q.leases[id]
	if ls == nil {
		return nil, ErrLeaseLost
	}
	if ls.expires <= q.now().UnixNano() {
		return nil, ErrLeaseLost // the sweeper returns it to ready
	}
	delete(q.leases, id)
	heap.Remove(&q.lexp, ls.hpos)
	return ls, nil
}

// returnLease puts a lease's unit back on the schedule. Its due time is the earliest next
// attempt of its pending recipients (already past, since it was leased), so it is ready at
// once and the schedule key stays derivable from the recipient records.
func (q *Queue) returnLease(ls *leaseState, why string) {
	mu := q.msgLock(ls.p.u.id)
	mu.Lock()
	defer mu.Unlock()
	id := ls.p.u.id
	b := q.db.NewBatch()
	del(b, leaseKey(ls.id))
	u, ok, err := q.requeue(b, ls.p.lane, id, ls.p.d.name)
	if err == nil {
		err = commit(b, pebble.NoSync)
	} else {
		b.Close()
	}
	if err != nil { // the lease key stays; the next Open returns it
		q.log.Error("queue: returning lease", "msg_id", formatID(prefixMsg, id), "err", err)
	}
	q.log.Info("queue: lease returned to ready", "msg_id", formatID(prefixMsg, id),
		"domain", ls.p.d.name, "reason", why)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.s.release(ls.p.d, ls.p.lane)
	if ok || err != nil {
		q.s.add(ls.p.lane, ls.p.d.name, u)
	} else {
		q.s.ages.remove(idSecond(id))
	}
	q.notifyLocked()
}

// requeue writes the schedule entry of (id, domain) from its recipients; ok is false when no
// recipient of domain is pending any more.
func (q *Queue) requeue(b *pebble.Batch, lane Lane, id ulid, domain string) (unit, bool, error) {
	rcpts, err := q.loadRcpts(id)
	if err != nil {
		return unit{due: q.now().UnixNano(), id: id, retry: true}, false, err
	}
	due, ok := unitDue(rcpts, domain)
	if !ok {
		return unit{}, false, nil
	}
	u := unit{due: due, id: id, retry: true}
	set(b, schedKey(lane, due, id, domain), []byte{schedFlagRetry})
	return u, true, nil
}

// restoreLeases returns every persisted lease to ready, in one synced batch (Open).
func (q *Queue) restoreLeases() error {
	b := q.db.NewBatch()
	n := 0
	err := q.scan(familyPrefix(famLease), func(k, v []byte) error {
		del(b, k)
		var lr leaseRecord
		err := decodeValue(v, &lr)
		var id ulid
		if err == nil {
			id, err = parseID(prefixMsg, lr.Msg)
		}
		if err != nil || !lr.Lane.valid() {
			q.log.Error("queue: dropping corrupt lease", "key", FormatKey(k), "err", err)
			return nil
		}
		n++
		_, _, err = q.requeue(b, lr.Lane, id, lr.Domain)
		return err
	})
	if err != nil {
		b.Close()
		return err
	}
	if n > 0 {
		q.log.Info("queue: returned orphaned leases to ready", "count", n)
	}
	return commit(b, pebble.Sync)
}

// loadSched rebuilds the in-memory schedule from famSched.
func (q *Queue) loadSched() error {
	return q.scan(familyPrefix(famSched), func(k, v []byte) error {
		e, err := parseSchedKey(k)
		if err != nil || !e.lane.valid() {
			q.log.Error("queue: skipping corrupt schedule key", "key", FormatKey(k))
			return nil
		}
		retry := len(v) > 0 && v[0]&schedFlagRetry != 0
		q.s.add(e.lane, e.domain, unit{due: e.due, id: e.id, retry: retry})
		q.s.ages.add(idSecond(e.id))
		return nil
	})
}

// idSecond is the enqueue second embedded in a message id.
func idSecond(id ulid) int64 { return id.time().Unix() }
