package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestDeliveredLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.send(LaneNormal, "a@x.example", "b@x.example", "c@y.example")
	got := map[string][]string{}
	for range 2 {
		l := h.next()
		if l.MsgID != id || l.Attempt != 1 || l.From != "a@example.com" || l.Lane != LaneNormal {
			t.Fatalf("lease %+v", l)
		}
		got[l.Domain] = l.Recipients
		if f := h.complete(l, false, delivered(l.Recipients...)...); len(f) != 0 {
			t.Fatalf("finals %+v", f)
		}
	}
	if !slices.Equal(got["x.example"], []string{"a@x.example", "b@x.example"}) || len(got["y.example"]) != 1 {
		t.Fatalf("leases by domain %v", got)
	}
	h.none()
	st := h.status(id)
	if st.State != RcptDelivered || rcptStatus(st, "a@x.example").Attempts != 1 {
		t.Fatalf("status %+v", st)
	}
	if _, err := h.q.Body(context.Background(), id); !isErr(err, ErrNotFound) {
		t.Fatalf("body kept after delivery: %v", err)
	}
	if ev := h.eventTypes(id); !slices.Equal(ev, []EventType{EventQueued, EventDelivered, EventDelivered, EventDelivered}) {
		t.Fatalf("events %v", ev)
	}
	if h.q.Depth(LaneNormal) != 0 || h.q.OldestAge() != 0 {
		t.Fatalf("depth %d oldest %v after delivery", h.q.Depth(LaneNormal), h.q.OldestAge())
	}
}

func TestDeferredBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{BackoffInitial: time.Minute, BackoffMax: 4 * time.Minute})
	id := h.send(LaneNormal, "a@x.example")
	var prev time.Duration
	for attempt := 1; attempt <= 5; attempt++ {
		l := h.next()
		if l.Attempt != attempt {
			t.Fatalf("attempt %d, want %d", l.Attempt, attempt)
		}
		h.complete(l, false, deferred("a@x.example")...)
		r := rcptStatus(h.status(id), "a@x.example")
		wait := r.NextAttempt.Sub(h.clock.Now())
		base := min(time.Minute<<(attempt-1), 4*time.Minute)
		if r.Status != RcptDeferred || r.Attempts != attempt || r.LastCode != 451 ||
			wait < base*8/10 || wait >= base*12/10 {
			t.Fatalf("attempt %d: %+v, wait %v (base %v)", attempt, r, wait, base)
		}
		if attempt > 1 && attempt <= 3 && wait <= prev/2 {
			t.Fatalf("backoff did not grow: %v after %v", wait, prev)
		}
		prev = wait
		h.none()
		if h.q.DeferredCount() != 1 {
			t.Fatalf("deferred count %d", h.q.DeferredCount())
		}
		h.advance(wait - time.Second)
		h.none()
		h.advance(time.Second)
	}
	if n := len(h.eventTypes(id)); n != 6 {
		t.Fatalf("%d events, want queued + 5 deferred", n)
	}
}

func TestJitterSpreadsAndIsBounded(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for i := range 1000 {
		f := jitter(formatID(prefixMsg, fixedULID(byte(i)))+string(rune(i)), 1)
		if f < 0.8 || f >= 1.2 {
			t.Fatalf("jitter %v out of range", f)
		}
		seen[int(f*100)] = true
	}
	if len(seen) < 30 {
		t.Fatalf("jitter not spread: %d distinct percent values", len(seen))
	}
}

func TestBouncedReturnsFinal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.send(LaneNormal, "a@x.example", "b@x.example")
	l := h.next()
	f := h.complete(l, false,
		Result{Recipient: "a@x.example", Outcome: Bounced, SMTPCode: 550, EnhancedCode: "5.1.1", Detail: "no such user", MXHost: "mx"},
		Result{Recipient: "b@x.example", Outcome: Delivered, SMTPCode: 250})
	if len(f) != 1 || f[0].Recipient != "a@x.example" || f[0].Event != EventBounced || f[0].EnhancedCode != "5.1.1" {
		t.Fatalf("finals %+v", f)
	}
	if st := h.status(id); st.State != "completed" || rcptStatus(st, "a@x.example").Status != RcptBounced {
		t.Fatalf("status %+v", st)
	}
}

func TestMissingResultCountsAsDeferred(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.send(LaneNormal, "a@x.example", "b@x.example")
	h.complete(h.next(), false, delivered("a@x.example")...)
	if r := rcptStatus(h.status(id), "b@x.example"); r.Status != RcptDeferred {
		t.Fatalf("recipient without result: %+v", r)
	}
}

func TestMaxLifetimeFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{MaxLifetime: time.Hour, BackoffInitial: 20 * time.Minute, BackoffMax: time.Hour})
	id := h.send(LaneNormal, "a@x.example")
	var finals []Final
	for i := 0; len(finals) == 0 && i < 10; i++ {
		finals = h.complete(h.next(), false, deferred("a@x.example")...)
		if len(finals) == 0 {
			h.advance(rcptStatus(h.status(id), "a@x.example").NextAttempt.Sub(h.clock.Now()))
		}
	}
	if len(finals) != 1 || finals[0].Event != EventFailed || finals[0].SMTPCode != 451 {
		t.Fatalf("finals %+v", finals)
	}
	if st := h.status(id); st.State != RcptFailed {
		t.Fatalf("state %s", st.State)
	}
	if !h.clock.Now().Before(h.status(id).QueuedAt.Add(time.Hour)) {
		t.Fatal("failed only after the lifetime; should fail when the next retry would pass it")
	}
	h.none()
}

func TestMaxLifetimeFailsAtLeaseAfterRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{MaxLifetime: time.Hour})
	id := h.send(LaneNormal, "a@x.example")
	h.clock.Advance(2 * time.Hour) // e.g. the server was down
	h.restart()
	h.none()
	if ev := h.eventTypes(id); !slices.Equal(ev, []EventType{EventQueued, EventFailed}) {
		t.Fatalf("events %v", ev)
	}
	if h.q.Depth(LaneNormal) != 0 || h.q.OldestAge() != 0 {
		t.Fatalf("depth %d, oldest %v", h.q.Depth(LaneNormal), h.q.OldestAge())
	}
}

func TestExpiresAt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{BackoffInitial: 10 * time.Minute, BackoffMax: time.Hour})
	m := &Message{To: []string{"a@x.example"}, Lane: LaneNormal, ExpiresAt: h.clock.Now().Add(5 * time.Minute)}
	h.enqueue(m)
	h.complete(h.next(), false, deferred("a@x.example")...)
	r := rcptStatus(h.status(m.ID), "a@x.example")
	if !r.NextAttempt.Equal(m.ExpiresAt) {
		t.Fatalf("next attempt %v, want capped at expiry %v", r.NextAttempt, m.ExpiresAt)
	}
	h.advance(5 * time.Minute)
	h.none() // due now, but expired: finalised instead of leased
	if st := h.status(m.ID); st.State != RcptExpired {
		t.Fatalf("state %s", st.State)
	}
	if ev := h.eventTypes(m.ID); !slices.Equal(ev, []EventType{EventQueued, EventDeferred, EventExpired}) {
		t.Fatalf("events %v", ev)
	}
}

func TestExpiredAtComplete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{LeaseTTL: time.Hour})
	m := &Message{To: []string{"a@x.example"}, ExpiresAt: h.clock.Now().Add(time.Minute)}
	h.enqueue(m)
	l := h.next()
	h.clock.Advance(2 * time.Minute) // the attempt took long
	f := h.complete(l, false, deferred("a@x.example")...)
	if len(f) != 1 || f[0].Event != EventExpired {
		t.Fatalf("finals %+v", f)
	}
}

func TestLeaseExpiryReturnsToReady(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{LeaseTTL: time.Minute})
	id := h.send(LaneNormal, "a@x.example")
	l := h.next()
	h.none()
	h.advance(time.Minute)
	l2 := h.next() // the sweeper returned it
	if l2.MsgID != id || l2.ID == l.ID {
		t.Fatalf("second lease %+v", l2)
	}
	if _, err := h.q.Complete(context.Background(), l, delivered("a@x.example"), false); !isErr(err, ErrLeaseLost) {
		t.Fatalf("Complete on expired lease = %v, want ErrLeaseLost", err)
	}
	h.complete(l2, false, delivered("a@x.example")...)
	if st := h.status(id); st.State != RcptDelivered {
		t.Fatalf("state %s", st.State)
	}
	if _, err := h.q.Complete(context.Background(), l2, nil, false); !isErr(err, ErrLeaseLost) {
		t.Fatalf("second Complete = %v, want ErrLeaseLost", err)
	}
	if _, err := h.q.Complete(context.Background(), &Lease{ID: "garbage"}, nil, false); !isErr(err, ErrLeaseLost) {
		t.Fatalf("Complete of a bad id = %v, want ErrLeaseLost", err)
	}
}

func TestNextBlocksUntilEnqueue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	got := make(chan *Lease, 1)
	go func() {
		l, _ := h.q.Next(context.Background(), LaneNormal)
		got <- l
	}()
	id := h.send(LaneNormal, "a@x.example")
	select {
	case l := <-got:
		if l == nil || l.MsgID != id {
			t.Fatalf("lease %+v", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next not woken by Enqueue")
	}
}

func TestNextContextAndClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.q.Next(ctx); err != context.Canceled {
		t.Fatalf("Next with cancelled ctx = %v", err)
	}
	if _, err := h.q.Next(context.Background(), LaneHigh, Lane(3)); !isErr(err, ErrInvalid) {
		t.Fatalf("Next with a bad lane = %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := h.q.Next(context.Background())
		errc <- err
	}()
	h.q.Close()
	select {
	case err := <-errc:
		if !isErr(err, ErrClosed) {
			t.Fatalf("Next after Close = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next not released by Close")
	}
}

func TestNextWakesAtDueTimeWithRealClock(t *testing.T) {
	t.Parallel()
	db := memDB(t)
	defer db.Close()
	q, err := Open(db, Options{BackoffInitial: 50 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := &Message{To: []string{"a@x.example"}}
	if _, err := q.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	l, err := q.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Complete(ctx, l, deferred("a@x.example"), false); err != nil {
		t.Fatal(err)
	}
	l, err = q.Next(ctx) // woken by the timer, no Poke
	if err != nil || l.Attempt != 2 {
		t.Fatalf("Next after backoff = %+v, %v", l, err)
	}
}
