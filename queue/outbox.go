package queue

// outbox.go is the webhook outbox: one entry per (subscriber, event), written in the batch
// that writes the event, delivered in order per (subscriber, subject). The in-memory index
// (rebuilt on Open) keeps, per chain, the pending sequence numbers and a heap of chains by
// the time their head is ready, so OutboxDue never scans Pebble.

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

type chainKey struct{ sub, subject string }

type obItem struct {
	seq  uint64
	next int64 // unix ns
}

// obChain is the pending entries of one (subscriber, subject), lowest seq first.
type obChain struct {
	key       chainKey
	items     []obItem
	busyUntil int64 // handed out by OutboxDue; not again before this (unless acked/retried)
	hpos      int
}

func (c *obChain) ready() int64 { return max(c.items[0].next, c.busyUntil) }

type chainHeap []*obChain

func (h chainHeap) Len() int           { return len(h) }
func (h chainHeap) Less(i, j int) bool { return h[i].ready() < h[j].ready() }
func (h chainHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hpos, h[j].hpos = i, j
}
func (h *chainHeap) Push(x any) {
	c := x.(*obChain)
	c.hpos = len(*h)
	*h = append(*h, c)
}
func (h *chainHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	c.hpos = -1
	return c
}

// outbox is the in-memory outbox index.
type outbox struct {
	mu     sync.Mutex
	chains map[chainKey]*obChain
	h      chainHeap
	kick   chan struct{}
}

func (o *outbox) init() {
	o.chains = map[chainKey]*obChain{}
	o.kick = make(chan struct{}, 1)
}

// add indexes committed entries and signals the kick channel.
func (o *outbox) add(es []outboxEntry) {
	o.mu.Lock()
	for _, e := range es {
		o.insert(e)
	}
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *outbox) insert(e outboxEntry) {
	k := chainKey{e.ref.sub, e.ref.subject}
	c := o.chains[k]
	if c == nil {
		c = &obChain{key: k, hpos: -1}
		o.chains[k] = c
	}
	it := obItem{seq: e.ref.seq, next: e.next}
	i, _ := slices.BinarySearchFunc(c.items, it.seq, func(a obItem, s uint64) int { return cmpU64(a.seq, s) })
	c.items = slices.Insert(c.items, i, it)
	if c.hpos < 0 {
		heap.Push(&o.h, c)
	} else {
		heap.Fix(&o.h, c.hpos)
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// remove drops one entry; it reports whether it was indexed.
func (o *outbox) remove(k chainKey, seq uint64) {
	c := o.chains[k]
	if c == nil {
		return
	}
	c.items = slices.DeleteFunc(c.items, func(it obItem) bool { return it.seq == seq })
	c.busyUntil = 0
	if len(c.items) == 0 {
		heap.Remove(&o.h, c.hpos)
		delete(o.chains, k)
		return
	}
	heap.Fix(&o.h, c.hpos)
}

// reschedule sets the next attempt of one entry and frees its chain.
func (o *outbox) reschedule(k chainKey, seq uint64, next int64) {
	c := o.chains[k]
	if c == nil {
		return
	}
	for i := range c.items {
		if c.items[i].seq == seq {
			c.items[i].next = next
		}
	}
	c.busyUntil = 0
	heap.Fix(&o.h, c.hpos)
}

// OutboxDue returns up to limit items that are due and head their (subscriber, subject)
// chain. An item handed out is not handed out again for LeaseTTL unless OutboxAck or
// OutboxRetry is called for it first, so a dispatcher may call OutboxDue while earlier
// items are in flight.
func (q *Queue) OutboxDue(ctx context.Context, limit int) ([]OutboxItem, error) {
	if limit <= 0 {
		limit = 100
	}
	now := q.now()
	q.ob.mu.Lock()
	defer q.ob.mu.Unlock()
	var out []OutboxItem
	for len(out) < limit && q.ob.h.Len() > 0 && q.ob.h[0].ready() <= now.UnixNano() {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		c := q.ob.h[0]
		c.busyUntil = now.Add(q.opts.LeaseTTL).UnixNano()
		heap.Fix(&q.ob.h, 0)
		it, err := q.readOutbox(c.key, c.items[0].seq)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
			q.log.Error("queue: dropping unreadable outbox entry", "err", err)
			q.ob.remove(c.key, c.items[0].seq)
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, it)
	}
	return out, nil
}

func (q *Queue) readOutbox(k chainKey, seq uint64) (OutboxItem, error) {
	var rec outboxRecord
	if err := q.get(outboxKey(k.sub, k.subject, seq), &rec); err != nil {
		return OutboxItem{}, fmt.Errorf("outbox %s/%s/%d: %w", k.sub, k.subject, seq, err)
	}
	return OutboxItem{ID: webhookID(k.subject, seq), Subscriber: k.sub, Event: rec.Event,
		Attempts: rec.Attempts, NextAttempt: rec.Next, FirstTry: rec.First}, nil
}

// webhookID is the stable webhook-id of an event: the same for every retry.
func webhookID(subject string, seq uint64) string { return fmt.Sprintf("%s.%d", subject, seq) }

// OutboxAck removes a delivered item; the next item of its chain becomes due.
// Written without fsync: an ack lost in a crash means one more delivery (at-least-once).
func (q *Queue) OutboxAck(ctx context.Context, it OutboxItem) error {
	k := chainKey{it.Subscriber, it.Event.MsgID}
	b := q.db.NewBatch()
	del(b, outboxKey(k.sub, k.subject, it.Event.Seq))
	if err := commit(b, pebble.NoSync); err != nil {
		return fmt.Errorf("outbox ack %s: %w", it.ID, err)
	}
	q.ob.mu.Lock()
	q.ob.remove(k, it.Event.Seq)
	q.ob.mu.Unlock()
	return nil
}

// OutboxRetry records a failed attempt and schedules the next at next. An item older than
// OutboxMaxAge (counted from FirstTry) is dropped instead, and its chain moves on.
func (q *Queue) OutboxRetry(ctx context.Context, it OutboxItem, next time.Time, lastErr string) error {
	now := q.now()
	if !now.Before(it.FirstTry.Add(q.opts.OutboxMaxAge)) {
		q.log.Warn("queue: dropping webhook event after max age", "msg_id", it.Event.MsgID,
			"subscriber", it.Subscriber, "webhook_id", it.ID, "attempts", it.Attempts+1, "err", lastErr)
		return q.OutboxAck(ctx, it)
	}
	k := chainKey{it.Subscriber, it.Event.MsgID}
	rec := outboxRecord{Event: it.Event, Attempts: it.Attempts + 1, Next: next, First: it.FirstTry, LastErr: lastErr}
	b := q.db.NewBatch()
	set(b, outboxKey(k.sub, k.subject, it.Event.Seq), encodeValue(rec))
	if err := commit(b, pebble.NoSync); err != nil {
		return fmt.Errorf("outbox retry %s: %w", it.ID, err)
	}
	q.ob.mu.Lock()
	q.ob.reschedule(k, it.Event.Seq, next.UnixNano())
	q.ob.mu.Unlock()
	return nil
}

// OutboxKick is signalled (capacity 1, never closed) when new items appear.
func (q *Queue) OutboxKick() <-chan struct{} { return q.ob.kick }

// OutboxNextDue returns when the earliest pending chain head becomes ready (false = none).
func (q *Queue) OutboxNextDue(ctx context.Context) (time.Time, bool) {
	q.ob.mu.Lock()
	defer q.ob.mu.Unlock()
	if q.ob.h.Len() == 0 {
		return time.Time{}, false
	}
	return timeFromNanos(q.ob.h[0].ready()), true
}

// loadOutbox rebuilds the outbox index from famOutbox (Open).
func (q *Queue) loadOutbox() error {
	return q.scan(familyPrefix(famOutbox), func(k, v []byte) error {
		ref, err := parseOutboxKey(k)
		var rec outboxRecord
		if err == nil {
			err = decodeValue(v, &rec)
		}
		if err != nil {
			q.log.Error("queue: skipping corrupt outbox entry", "key", FormatKey(k), "err", err)
			return nil
		}
		q.ob.insert(outboxEntry{ref: ref, next: rec.Next.UnixNano()})
		return nil
	})
}
