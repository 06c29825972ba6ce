package queue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestStrictPriorityForHigh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{LowEvery: 2})
	for i := range 5 {
		h.send(LaneNormal, fmt.Sprintf("n%d@bulk.example", i))
		h.send(LaneLow, fmt.Sprintf("l%d@bulk.example", i))
	}
	h.clock.Advance(time.Second) // the high message is younger than all bulk mail
	hi := h.send(LaneHigh, "code@login.example")
	if l := h.next(LaneHigh, LaneNormal, LaneLow); l.MsgID != hi {
		t.Fatalf("first lease %s (lane %s), want the high message", l.MsgID, l.Lane)
	}
	h.none(LaneHigh) // high-only workers see nothing else
}

func TestLaneOnlyServesItsLane(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.send(LaneNormal, "a@x.example")
	h.none(LaneHigh)
	h.none(LaneLow)
	if l := h.next(LaneNormal); l.Lane != LaneNormal {
		t.Fatalf("lane %s", l.Lane)
	}
}

func TestLowStarvationGuard(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{LowEvery: 4, PerDomainConcurrency: 100})
	for i := range 20 {
		h.send(LaneNormal, fmt.Sprintf("n%d@n.example", i))
		h.send(LaneLow, fmt.Sprintf("l%d@l.example", i))
	}
	var seq []string
	for range 12 {
		seq = append(seq, h.next(LaneHigh, LaneNormal, LaneLow).Lane.String()[:1])
	}
	if got := strings.Join(seq, ""); got != "nnnlnnnlnnnl" {
		t.Fatalf("pick sequence %s, want nnnl repeated", got)
	}
}

func TestLowServedWhenNormalEmpty(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := h.send(LaneLow, "a@x.example")
	if l := h.next(LaneHigh, LaneNormal, LaneLow); l.MsgID != id {
		t.Fatalf("lease %+v", l)
	}
}

func TestPerDomainConcurrencyDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{PerDomainConcurrency: 2})
	for i := range 3 {
		h.send(LaneNormal, fmt.Sprintf("u%d@busy.example", i))
	}
	h.clock.Advance(time.Second)
	other := h.send(LaneNormal, "x@quiet.example")
	l1, l2 := h.next(LaneNormal), h.next(LaneNormal)
	if l1.Domain != "busy.example" || l2.Domain != "busy.example" {
		t.Fatalf("first leases %s %s", l1.Domain, l2.Domain)
	}
	// busy.example is at its cap: the older busy message must not block quiet.example.
	if l := h.next(LaneNormal); l.MsgID != other {
		t.Fatalf("third lease %s to %s, want the quiet.example message", l.MsgID, l.Domain)
	}
	h.none(LaneNormal)
	h.complete(l1, false, delivered(l1.Recipients...)...)
	if l := h.next(LaneNormal); l.Domain != "busy.example" {
		t.Fatalf("after a slot freed: %s", l.Domain)
	}
}

func TestDomainBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{BackoffInitial: time.Minute, BackoffMax: time.Hour})
	a := h.send(LaneNormal, "a@down.example")
	h.clock.Advance(time.Millisecond) // ids sort by millisecond
	b := h.send(LaneNormal, "b@down.example")
	h.clock.Advance(time.Millisecond)
	c := h.send(LaneNormal, "c@up.example")
	l := h.next(LaneNormal)
	if l.MsgID != a {
		t.Fatalf("first lease %s", l.MsgID)
	}
	h.complete(l, true, deferred("a@down.example")...)
	// down.example backs off as a whole: b is skipped, c is served.
	if l := h.next(LaneNormal); l.MsgID != c {
		t.Fatalf("lease %s, want c (domain down.example backing off)", l.MsgID)
	}
	h.none(LaneNormal)
	h.advance(72 * time.Second) // > 1.2 x BackoffInitial
	l = h.next(LaneNormal)
	if l.MsgID != b {
		t.Fatalf("after backoff: %s, want b", l.MsgID)
	}
	h.complete(l, true, deferred("b@down.example")...) // second consecutive failure: ~2 min
	h.advance(72 * time.Second)
	h.none(LaneNormal)
	h.advance(2 * time.Minute)
	l = h.next(LaneNormal)
	h.complete(l, false, delivered(l.Recipients...)...) // success resets
	h.mu(func() {
		if d := h.q.s.domains["down.example"]; d != nil && (d.failures != 0 || d.backingOff) {
			t.Fatalf("domain state not reset: %+v", d)
		}
	})
	if ok, _ := h.q.exists(domainKey("down.example")); ok {
		t.Fatal("domain key kept after success")
	}
}

func (h *harness) mu(fn func()) {
	h.q.mu.Lock()
	defer h.q.mu.Unlock()
	fn()
}

func TestNextIsFIFOWithinLane(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	var ids []string
	for i := range 5 {
		ids = append(ids, h.send(LaneNormal, fmt.Sprintf("u@d%d.example", i)))
		h.clock.Advance(time.Millisecond)
	}
	for i := range 5 {
		if l := h.next(LaneNormal); l.MsgID != ids[i] {
			t.Fatalf("lease %d = %s, want %s", i, l.MsgID, ids[i])
		}
	}
}

func TestConcurrentWorkers(t *testing.T) {
	t.Parallel()
	db := memDB(t)
	defer db.Close()
	q, err := Open(db, Options{PerDomainConcurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 200
	done := make(chan string, n)
	for w := range 8 {
		go func() {
			for {
				l, err := q.Next(ctx, LaneHigh, LaneNormal, LaneLow)
				if err != nil {
					return
				}
				if _, err := q.Complete(ctx, l, delivered(l.Recipients...), false); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				done <- l.MsgID
			}
		}()
	}
	for i := range n {
		m := &Message{To: []string{fmt.Sprintf("u%d@d%d.example", i, i%5)}, Lane: Lane(i % 3)}
		if _, err := q.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case id := <-done:
			if seen[id] {
				t.Fatalf("%s delivered twice", id)
			}
			seen[id] = true
		case <-ctx.Done():
			t.Fatalf("only %d of %d delivered", len(seen), n)
		}
	}
}
