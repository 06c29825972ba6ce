// Package queuetest is the conformance suite of queue.Core: what every backend of the
// delivery queue (the Pebble queue.Queue, queue/pgqueue on PostgreSQL) must do the same way.
// A backend's test calls Run with a function that opens a fresh, empty queue; a backend that
// several nodes can share also calls RunShared, whose function opens n queues on one store.
//
// The suite runs on the real clock (a SQL backend takes its time from the database), with
// short backoffs and lease times, and never asserts how long anything took.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// Open opens a fresh, empty queue with o.
type Open func(t *testing.T, o queue.Options) queue.Core

// OpenShared opens n queues (nodes) on one fresh, empty store with o.
type OpenShared func(t *testing.T, o queue.Options, n int) []queue.Core

// Run runs the conformance suite against the queues open makes.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"DeliverOnce", testDeliverOnce},
		{"Idempotency", testIdempotency},
		{"LaneOrder", testLaneOrder},
		{"LowNotStarved", testLowNotStarved},
		{"DeferBackoff", testDeferBackoff},
		{"Bounce", testBounce},
		{"LeaseExpires", testLeaseExpires},
		{"Postpone", testPostpone},
		{"DomainConcurrency", testDomainConcurrency},
		{"DomainBackoff", testDomainBackoff},
		{"Journal", testJournal},
		{"Outbox", testOutbox},
		{"ConcurrentWorkers", testConcurrentWorkers},
		{"SendAt", testSendAt},
		{"Expires", testExpires},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// RunShared runs the tests of several nodes sharing one store.
func RunShared(t *testing.T, open OpenShared) {
	t.Run("SharedDeliverOnce", func(t *testing.T) { testSharedDeliverOnce(t, open) })
	t.Run("SharedIdempotency", func(t *testing.T) { testSharedIdempotency(t, open) })
	t.Run("SharedLeaseTakeover", func(t *testing.T) { testSharedLeaseTakeover(t, open) })
	t.Run("SharedOutboxID", func(t *testing.T) { testSharedOutboxID(t, open) })
	t.Run("SharedDomainLimits", func(t *testing.T) { testSharedDomainLimits(t, open) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func enqueue(t *testing.T, q queue.Core, m *queue.Message) queue.Receipt {
	t.Helper()
	if m.Body == nil {
		m.Body = []byte("Subject: hi\r\n\r\nbody\r\n")
	}
	r, err := q.Enqueue(ctx(t), m)
	must(t, err)
	return r
}

func next(t *testing.T, q queue.Core, lanes ...queue.Lane) *queue.Lease {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := q.Next(c, lanes...)
	must(t, err)
	return l
}

// noNext asserts that nothing is leased within a short wait.
func noNext(t *testing.T, q queue.Core, lanes ...queue.Lane) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if l, err := q.Next(c, lanes...); err == nil {
		t.Fatalf("leased %s/%s, want nothing", l.MsgID, l.Domain)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: %v, want the context's deadline", err)
	}
}

func results(l *queue.Lease, o queue.Outcome, code int, enh string) []queue.Result {
	var rs []queue.Result
	for _, r := range l.Recipients {
		rs = append(rs, queue.Result{Recipient: r, Outcome: o, SMTPCode: code, EnhancedCode: enh,
			Detail: "reply", MXHost: "mx." + l.Domain})
	}
	return rs
}

func complete(t *testing.T, q queue.Core, l *queue.Lease, o queue.Outcome, code int, enh string) []queue.Final {
	t.Helper()
	f, err := q.Complete(ctx(t), l, results(l, o, code, enh), false)
	must(t, err)
	return f
}

func eventTypes(t *testing.T, q queue.Core, id string) []queue.EventType {
	t.Helper()
	evs, err := q.Events(ctx(t), id)
	must(t, err)
	var out []queue.EventType
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.MsgID != id {
			t.Fatalf("event %d = %+v: want seq %d of %s", i, e, i+1, id)
		}
		out = append(out, e.Type)
	}
	return out
}

func wantTypes(t *testing.T, got []queue.EventType, want ...queue.EventType) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

func rcptStatus(t *testing.T, q queue.Core, id string) map[string]string {
	t.Helper()
	st, err := q.Status(ctx(t), id)
	must(t, err)
	out := map[string]string{}
	for _, r := range st.Recipients {
		out[r.Address] = r.Status
	}
	return out
}

func testDeliverOnce(t *testing.T, open Open) {
	q := open(t, queue.Options{})
	body := []byte("Subject: x\r\n\r\nhello\r\n")
	r := enqueue(t, q, &queue.Message{Mailbox: "a@example.com", From: "a@example.com",
		To: []string{"x@one.example", "y@two.example", "z@one.example"}, Body: body, Tags: []string{"t1"}})
	if r.Status != queue.StatusQueued || r.ID == "" || r.QueuedAt.IsZero() || r.Duplicate {
		t.Fatalf("receipt = %+v", r)
	}
	got, err := q.Body(ctx(t), r.ID)
	must(t, err)
	if string(got) != string(body) {
		t.Fatalf("body = %q", got)
	}
	seen := map[string][]string{}
	for range 2 {
		l := next(t, q)
		if l.MsgID != r.ID || l.Attempt != 1 || l.From != "a@example.com" || l.Mailbox != "a@example.com" ||
			!slices.Equal(l.Tags, []string{"t1"}) || l.ID == "" || l.Expires.IsZero() {
			t.Fatalf("lease = %+v", l)
		}
		seen[l.Domain] = slices.Sorted(slices.Values(l.Recipients))
		if f := complete(t, q, l, queue.Delivered, 250, "2.0.0"); len(f) != 0 {
			t.Fatalf("finals = %+v", f)
		}
	}
	if !slices.Equal(seen["one.example"], []string{"x@one.example", "z@one.example"}) ||
		!slices.Equal(seen["two.example"], []string{"y@two.example"}) {
		t.Fatalf("leased %v", seen)
	}
	noNext(t, q)
	for a, s := range rcptStatus(t, q, r.ID) {
		if s != queue.RcptDelivered {
			t.Fatalf("%s is %s", a, s)
		}
	}
	if _, err := q.Body(ctx(t), r.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("body after delivery: %v, want ErrNotFound", err)
	}
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventQueued, queue.EventDelivered, queue.EventDelivered, queue.EventDelivered)
	if _, err := q.Status(ctx(t), "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("unknown status: %v", err)
	}
}

func testIdempotency(t *testing.T, open Open) {
	q := open(t, queue.Options{})
	m := func(hash string) *queue.Message {
		return &queue.Message{Mailbox: "a@example.com", To: []string{"x@one.example"},
			IdempotencyKey: "k1", RequestHash: hash}
	}
	r1 := enqueue(t, q, m("h1"))
	r2 := enqueue(t, q, m("h1"))
	if !r2.Duplicate || r2.ID != r1.ID || r2.Status != r1.Status {
		t.Fatalf("second = %+v, first %+v", r2, r1)
	}
	if _, err := q.Enqueue(ctx(t), m("h2")); !errors.Is(err, queue.ErrIdempotencyConflict) {
		t.Fatalf("other request with the key: %v", err)
	}
	got, ok, err := q.Idempotent(ctx(t), "a@example.com", "k1", "h1")
	must(t, err)
	if !ok || got.ID != r1.ID {
		t.Fatalf("Idempotent = %+v %v", got, ok)
	}
	if _, ok, _ := q.Idempotent(ctx(t), "b@example.com", "k1", "h1"); ok {
		t.Fatal("a key is per mailbox")
	}
	next(t, q)
	noNext(t, q) // one message, not two
}

func testLaneOrder(t *testing.T, open Open) {
	q := open(t, queue.Options{})
	low := enqueue(t, q, &queue.Message{To: []string{"a@l.example"}, Lane: queue.LaneLow})
	norm := enqueue(t, q, &queue.Message{To: []string{"a@n.example"}})
	high := enqueue(t, q, &queue.Message{To: []string{"a@h.example"}, Lane: queue.LaneHigh})
	var order []string
	for range 3 {
		l := next(t, q, queue.LaneHigh, queue.LaneNormal, queue.LaneLow)
		order = append(order, l.MsgID)
		complete(t, q, l, queue.Delivered, 250, "2.0.0")
	}
	if !slices.Equal(order, []string{high.ID, norm.ID, low.ID}) {
		t.Fatalf("order %v, want high %s, normal %s, low %s", order, high.ID, norm.ID, low.ID)
	}
}

// testLowNotStarved: with normal always due, low is still served (LowEvery = 2: at least
// one pick in every few is low) and high still comes first.
func testLowNotStarved(t *testing.T, open Open) {
	q := open(t, queue.Options{LowEvery: 2})
	for i := range 6 {
		enqueue(t, q, &queue.Message{To: []string{fmt.Sprintf("a@n%d.example", i)}})
	}
	low := enqueue(t, q, &queue.Message{To: []string{"a@l.example"}, Lane: queue.LaneLow})
	lowAt := -1
	for i := range 7 {
		l := next(t, q, queue.LaneHigh, queue.LaneNormal, queue.LaneLow)
		if l.MsgID == low.ID && lowAt < 0 {
			lowAt = i
		}
		complete(t, q, l, queue.Delivered, 250, "2.0.0")
	}
	if lowAt < 0 || lowAt > 3 {
		t.Fatalf("low served at pick %d of 7 (LowEvery 2)", lowAt)
	}
}

func testDeferBackoff(t *testing.T, open Open) {
	q := open(t, queue.Options{BackoffInitial: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example"}})
	l := next(t, q)
	if f := complete(t, q, l, queue.Deferred, 451, "4.3.0"); len(f) != 0 {
		t.Fatalf("finals on defer: %+v", f)
	}
	if s := rcptStatus(t, q, r.ID)["a@d.example"]; s != queue.RcptDeferred {
		t.Fatalf("status %s, want deferred", s)
	}
	l2 := next(t, q) // due again after the backoff
	if l2.MsgID != r.ID || l2.Attempt != 2 || l2.ID == l.ID {
		t.Fatalf("second lease %+v after %+v", l2, l)
	}
	complete(t, q, l2, queue.Delivered, 250, "2.0.0")
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventQueued, queue.EventDeferred, queue.EventDelivered)
	evs, err := q.Events(ctx(t), r.ID)
	must(t, err)
	if evs[1].Attempt != 1 || evs[1].SMTPCode != 451 || evs[2].Attempt != 2 || evs[2].MXHost != "mx.d.example" {
		t.Fatalf("events %+v", evs)
	}
}

func testBounce(t *testing.T, open Open) {
	q := open(t, queue.Options{})
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example", "b@d.example"}})
	l := next(t, q)
	rs := []queue.Result{
		{Recipient: "a@d.example", Outcome: queue.Bounced, SMTPCode: 550, EnhancedCode: "5.7.1", Detail: "no", MXHost: "mx"},
		{Recipient: "b@d.example", Outcome: queue.Delivered, SMTPCode: 250, MXHost: "mx"},
	}
	f, err := q.Complete(ctx(t), l, rs, false)
	must(t, err)
	if len(f) != 1 || f[0].Recipient != "a@d.example" || f[0].Event != queue.EventBounced || f[0].SMTPCode != 550 ||
		f[0].EnhancedCode != "5.7.1" {
		t.Fatalf("finals %+v", f)
	}
	st := rcptStatus(t, q, r.ID)
	if st["a@d.example"] != queue.RcptBounced || st["b@d.example"] != queue.RcptDelivered {
		t.Fatalf("status %v", st)
	}
	noNext(t, q)
}

func testLeaseExpires(t *testing.T, open Open) {
	q := open(t, queue.Options{LeaseTTL: 200 * time.Millisecond})
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example"}})
	l1 := next(t, q)
	l2 := next(t, q) // l1 expired: the unit is leased again
	if l2.MsgID != r.ID || l2.ID == l1.ID {
		t.Fatalf("second lease %+v, first %+v", l2, l1)
	}
	if _, err := q.Complete(ctx(t), l1, results(l1, queue.Delivered, 250, ""), false); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("Complete of an expired lease: %v, want ErrLeaseLost", err)
	}
	if err := q.Postpone(ctx(t), l1, time.Now()); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("Postpone of an expired lease: %v, want ErrLeaseLost", err)
	}
	if s := rcptStatus(t, q, r.ID)["a@d.example"]; s == queue.RcptDelivered {
		t.Fatal("the lost lease's result was recorded")
	}
	_, err := q.Complete(ctx(t), l2, results(l2, queue.Delivered, 250, ""), false)
	if err != nil && !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatal(err)
	}
	if err == nil && rcptStatus(t, q, r.ID)["a@d.example"] != queue.RcptDelivered {
		t.Fatal("not delivered")
	}
}

func testPostpone(t *testing.T, open Open) {
	q := open(t, queue.Options{})
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example"}})
	l := next(t, q)
	must(t, q.Postpone(ctx(t), l, time.Now().Add(100*time.Millisecond)))
	l2 := next(t, q)
	if l2.MsgID != r.ID || l2.Attempt != 1 {
		t.Fatalf("after postpone %+v", l2)
	}
	complete(t, q, l2, queue.Delivered, 250, "")
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventQueued, queue.EventDelivered)
}

func testDomainConcurrency(t *testing.T, open Open) {
	q := open(t, queue.Options{PerDomainConcurrency: 1})
	enqueue(t, q, &queue.Message{To: []string{"a@d.example"}})
	enqueue(t, q, &queue.Message{To: []string{"b@d.example"}})
	other := enqueue(t, q, &queue.Message{To: []string{"c@e.example"}})
	l := next(t, q)
	if l.Domain != "d.example" {
		t.Fatalf("first lease %s", l.Domain)
	}
	if l2 := next(t, q); l2.MsgID != other.ID {
		t.Fatalf("second lease %s/%s, want the other domain's", l2.MsgID, l2.Domain)
	}
	noNext(t, q) // d.example is at its cap
	complete(t, q, l, queue.Delivered, 250, "")
	if l3 := next(t, q); l3.Domain != "d.example" {
		t.Fatalf("third lease %s", l3.Domain)
	}
}

func testDomainBackoff(t *testing.T, open Open) {
	q := open(t, queue.Options{BackoffInitial: 300 * time.Millisecond, BackoffMax: 400 * time.Millisecond})
	enqueue(t, q, &queue.Message{To: []string{"a@d.example"}})
	enqueue(t, q, &queue.Message{To: []string{"b@d.example"}})
	l := next(t, q)
	_, err := q.Complete(ctx(t), l, results(l, queue.Deferred, 421, "4.4.2"), true)
	must(t, err)
	start := time.Now()
	l2 := next(t, q) // the other message waits for the domain's backoff
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("domain backoff not applied: %s leased after %v", l2.MsgID, time.Since(start))
	}
}

func testJournal(t *testing.T, open Open) {
	q := open(t, queue.Options{})
	must(t, q.Record(ctx(t), queue.Event{Type: queue.EventReceived, MsgID: "em_1", MailboxID: "a@example.com", EmailID: "em_1"}))
	must(t, q.Record(ctx(t), queue.Event{Type: queue.EventReceived, MsgID: "em_1", MailboxID: "a@example.com", EmailID: "em_1"}))
	evs, err := q.Events(ctx(t), "em_1")
	must(t, err)
	if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 || evs[0].EmailID != "em_1" || evs[0].Time.IsZero() {
		t.Fatalf("events %+v", evs)
	}
	if evs, err := q.Events(ctx(t), "em_2"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("unknown subject: %v %v, want ErrNotFound", evs, err)
	}
}

func testOutbox(t *testing.T, open Open) {
	q := open(t, queue.Options{Subscribers: []queue.Subscriber{{ID: "wh0"},
		{ID: "wh1", Events: []queue.EventType{queue.EventDelivered}}}})
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example"}})
	l := next(t, q)
	complete(t, q, l, queue.Delivered, 250, "")
	due, err := q.OutboxDue(ctx(t), 10)
	must(t, err)
	// wh0's chain head is "queued" (its "delivered" waits behind it); wh1 has only "delivered".
	got := map[string]queue.OutboxItem{}
	for _, it := range due {
		got[it.Subscriber+"/"+string(it.Event.Type)] = it
	}
	if len(due) != 2 || got["wh0/queued"].ID == "" || got["wh1/delivered"].ID == "" {
		t.Fatalf("due %+v", due)
	}
	first := got["wh0/queued"]
	if first.Event.MsgID != r.ID || first.FirstTry.IsZero() {
		t.Fatalf("item %+v", first)
	}
	if again, _ := q.OutboxDue(ctx(t), 10); len(again) != 0 {
		t.Fatalf("items in flight handed out again: %+v", again)
	}
	must(t, q.OutboxRetry(ctx(t), first, time.Now().Add(100*time.Millisecond), "503"))
	must(t, q.OutboxAck(ctx(t), got["wh1/delivered"]))
	var retried queue.OutboxItem
	for i := 0; i < 100 && retried.ID == ""; i++ {
		due, err := q.OutboxDue(ctx(t), 10)
		must(t, err)
		if len(due) > 0 {
			retried = due[0]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if retried.ID != first.ID || retried.Attempts != 1 || retried.Event.Type != queue.EventQueued {
		t.Fatalf("retried %+v, first %+v", retried, first)
	}
	must(t, q.OutboxAck(ctx(t), retried))
	due, err = q.OutboxDue(ctx(t), 10)
	must(t, err)
	if len(due) != 1 || due[0].Event.Type != queue.EventDelivered || due[0].Subscriber != "wh0" || due[0].ID == first.ID {
		t.Fatalf("after ack %+v", due)
	}
	must(t, q.OutboxAck(ctx(t), due[0]))
	if _, ok := q.OutboxNextDue(ctx(t)); ok {
		t.Fatal("outbox not empty")
	}
}

// testConcurrentWorkers: workers racing on one queue lease every unit exactly once.
func testConcurrentWorkers(t *testing.T, open Open) {
	q := open(t, queue.Options{})
	const n = 40
	for i := range n {
		enqueue(t, q, &queue.Message{To: []string{fmt.Sprintf("a@d%d.example", i%7)}})
	}
	counts := work(t, []queue.Core{q}, 4, n)
	for id, c := range counts {
		if c != 1 {
			t.Fatalf("%s delivered %d times", id, c)
		}
	}
}

// work runs workers per queue until total units were completed, and counts completions by
// message id.
func work(t *testing.T, qs []queue.Core, workers, total int) map[string]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		done   int
		wg     sync.WaitGroup
	)
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, q := range qs {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					l, err := q.Next(c)
					if err != nil {
						return
					}
					if _, err := q.Complete(c, l, results(l, queue.Delivered, 250, ""), false); err != nil {
						t.Errorf("Complete: %v", err)
						return
					}
					mu.Lock()
					counts[l.MsgID]++
					done++
					if done == total {
						cancel()
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(counts) != total {
		t.Fatalf("%d of %d units delivered", len(counts), total)
	}
	return counts
}

func testSharedDeliverOnce(t *testing.T, open OpenShared) {
	qs := open(t, queue.Options{}, 3)
	const n = 30
	for i := range n {
		enqueue(t, qs[i%3], &queue.Message{To: []string{fmt.Sprintf("a@d%d.example", i%5)}})
	}
	for id, c := range work(t, qs, 2, n) {
		if c != 1 {
			t.Fatalf("%s delivered %d times", id, c)
		}
	}
}

func testSharedIdempotency(t *testing.T, open OpenShared) {
	qs := open(t, queue.Options{}, 2)
	var wg sync.WaitGroup
	rs := make([]queue.Receipt, 8)
	for i := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := qs[i%2].Enqueue(ctx(t), &queue.Message{Mailbox: "a@example.com", To: []string{"x@d.example"},
				Body: []byte("x"), IdempotencyKey: "race", RequestHash: "h"})
			if err != nil {
				t.Error(err)
			}
			rs[i] = r
		}()
	}
	wg.Wait()
	firsts := 0
	for _, r := range rs {
		if r.ID != rs[0].ID {
			t.Fatalf("two messages for one key: %s, %s", r.ID, rs[0].ID)
		}
		if !r.Duplicate {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d enqueues won the key, want 1", firsts)
	}
}

// testSharedLeaseTakeover: a node's lease that expires (the node died or stalled) is taken by
// another node, and the first node can no longer complete it (the fencing).
func testSharedLeaseTakeover(t *testing.T, open OpenShared) {
	qs := open(t, queue.Options{LeaseTTL: 300 * time.Millisecond}, 2)
	r := enqueue(t, qs[0], &queue.Message{To: []string{"a@d.example"}})
	l1 := next(t, qs[0])
	l2 := next(t, qs[1])
	if l2.MsgID != r.ID || l2.ID == l1.ID {
		t.Fatalf("takeover lease %+v", l2)
	}
	if _, err := qs[0].Complete(ctx(t), l1, results(l1, queue.Delivered, 250, ""), false); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("stale node's Complete: %v, want ErrLeaseLost", err)
	}
	complete(t, qs[1], l2, queue.Delivered, 250, "")
	wantTypes(t, eventTypes(t, qs[0], r.ID), queue.EventQueued, queue.EventDelivered)
}

// testSharedOutboxID: an outbox item handed out by one node and not acknowledged is handed
// out by another with the same webhook-id (at least once, same id).
func testSharedOutboxID(t *testing.T, open OpenShared) {
	qs := open(t, queue.Options{LeaseTTL: 200 * time.Millisecond, Subscribers: []queue.Subscriber{{ID: "wh0"}}}, 2)
	enqueue(t, qs[0], &queue.Message{To: []string{"a@d.example"}})
	d0, err := qs[0].OutboxDue(ctx(t), 10)
	must(t, err)
	if len(d0) != 1 {
		t.Fatalf("due %+v", d0)
	}
	var d1 []queue.OutboxItem
	for i := 0; i < 100 && len(d1) == 0; i++ {
		time.Sleep(20 * time.Millisecond)
		d1, err = qs[1].OutboxDue(ctx(t), 10)
		must(t, err)
	}
	if len(d1) != 1 || d1[0].ID != d0[0].ID {
		t.Fatalf("other node's due %+v, first %+v", d1, d0)
	}
	must(t, qs[1].OutboxAck(ctx(t), d1[0]))
}

// testSharedDomainLimits: PerDomainConcurrency and a domain's backoff hold across nodes.
func testSharedDomainLimits(t *testing.T, open OpenShared) {
	qs := open(t, queue.Options{PerDomainConcurrency: 1, BackoffInitial: 300 * time.Millisecond,
		BackoffMax: 400 * time.Millisecond}, 2)
	enqueue(t, qs[0], &queue.Message{To: []string{"a@d.example"}})
	enqueue(t, qs[0], &queue.Message{To: []string{"b@d.example"}})
	l := next(t, qs[0])
	noNext(t, qs[1]) // the domain's one slot is taken on the other node
	_, err := qs[0].Complete(ctx(t), l, results(l, queue.Deferred, 421, "4.4.2"), true)
	must(t, err)
	start := time.Now()
	l2 := next(t, qs[1]) // the other message waits for the domain's backoff, set by node 0
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("domain backoff not shared: %s leased after %v", l2.MsgID, time.Since(start))
	}
}

func testSendAt(t *testing.T, open Open) {
	q := open(t, queue.Options{})
	at := time.Now().Add(time.Second)
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example"}, SendAt: at})
	noNext(t, q) // not before SendAt
	l := next(t, q)
	if l.MsgID != r.ID {
		t.Fatalf("lease %+v", l)
	}
	complete(t, q, l, queue.Delivered, 250, "")
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventQueued, queue.EventScheduled, queue.EventDelivered)
}

// testExpires: a deferred recipient is retried no later than the message's ExpiresAt, and
// when that passes Next finalises it as expired and tells OnFinal (with the body still
// readable); the body is gone afterwards.
func testExpires(t *testing.T, open Open) {
	type call struct {
		id     string
		finals []queue.Final
		body   error
	}
	calls := make(chan call, 4)
	var q queue.Core
	q = open(t, queue.Options{BackoffInitial: time.Hour, BackoffMax: time.Hour,
		OnFinal: func(ctx context.Context, id string, finals []queue.Final) {
			_, err := q.Body(ctx, id)
			calls <- call{id, finals, err}
		}})
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example"}, ExpiresAt: time.Now().Add(500 * time.Millisecond)})
	l := next(t, q)
	complete(t, q, l, queue.Deferred, 451, "4.0.0")
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if got, err := q.Next(c); err == nil {
		t.Fatalf("leased %+v past its expiry", got)
	}
	select {
	case got := <-calls:
		if got.id != r.ID || len(got.finals) != 1 || got.finals[0].Event != queue.EventExpired ||
			got.finals[0].Recipient != "a@d.example" || got.body != nil {
			t.Fatalf("OnFinal %+v", got)
		}
	default:
		t.Fatal("OnFinal not called")
	}
	if s := rcptStatus(t, q, r.ID)["a@d.example"]; s != queue.RcptExpired {
		t.Fatalf("status %s", s)
	}
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventQueued, queue.EventDeferred, queue.EventExpired)
	if _, err := q.Body(ctx(t), r.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("body after expiry: %v", err)
	}
}
