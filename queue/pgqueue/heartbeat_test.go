package pgqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"multimail.dev/multimail/internal/pgtest"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/queue/pgqueue"
	"multimail.dev/multimail/queue/pgqueue/pgqueuetest"
)

// TestHeartbeat: a node whose heartbeat runs keeps its lease past LeaseTTL (another node
// cannot take the unit, and the first completes it); once its heartbeat stops (the node is
// gone) the unit returns to the pool within LeaseTTL and the stale lease cannot complete.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var qs []*pgqueue.Queue
	for range 2 {
		qs = append(qs, pgqueuetest.Open(t, dsn, pgqueue.Options{PollInterval: testPoll, Heartbeat: 100 * time.Millisecond,
			Queue: queue.Options{LeaseTTL: time.Second}}).Queue)
	}
	a, b := qs[0], qs[1]
	for _, to := range []string{"x@one.example", "y@two.example"} {
		if _, err := a.Enqueue(ctx, &queue.Message{To: []string{to}, Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := a.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// b takes the other unit, then finds nothing for two and a half lease times: a renews its
	// lease (and b its own).
	lb, err := b.Next(ctx)
	if err != nil || lb.Domain == l.Domain {
		t.Fatalf("b's lease %+v, %v", lb, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancelShort()
	if got, err := b.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b took %+v (err %v) while a renews it", got, err)
	}
	if _, err := a.Complete(ctx, l, []queue.Result{{Recipient: l.Recipients[0], Outcome: queue.Delivered}}, false); err != nil {
		t.Fatalf("a's Complete after renewals: %v", err)
	}
	// b's own lease is renewed too; now b dies (its heartbeat stops) holding it.
	b.Close()
	taken, err := a.Next(ctx)
	if err != nil || taken.MsgID != lb.MsgID || taken.ID == lb.ID {
		t.Fatalf("a's takeover %+v, %v", taken, err)
	}
	if _, err := b.Complete(ctx, lb, []queue.Result{{Recipient: lb.Recipients[0], Outcome: queue.Delivered}}, false); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("dead node's Complete: %v, want ErrLeaseLost", err)
	}
	if _, err := a.Complete(ctx, taken, []queue.Result{{Recipient: taken.Recipients[0], Outcome: queue.Delivered}}, false); err != nil {
		t.Fatal(err)
	}
}
