package pgqueue_test

import (
	"context"
	"errors"
	"testing"

	"multimail.dev/multimail/internal/pgtest"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/queue/pgqueue"
	"multimail.dev/multimail/queue/pgqueue/pgqueuetest"
)

// TestDeleteFencesLease: Delete on node A of a unit node B holds removes the unit, so B's
// Complete gets ErrLeaseLost and writes nothing; the recipient stays failed by the delete.
func TestDeleteFencesLease(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a := pgqueuetest.Open(t, dsn, pgqueue.Options{PollInterval: testPoll})
	b := pgqueuetest.Open(t, dsn, pgqueue.Options{PollInterval: testPoll})
	ctx := context.Background()
	r, err := a.Enqueue(ctx, &queue.Message{To: []string{"x@d.example"}, Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	l, err := b.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.Complete(ctx, l, []queue.Result{{Recipient: "x@d.example", Outcome: queue.Delivered}}, false)
	if !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("Complete after Delete: %v, want ErrLeaseLost", err)
	}
	st, err := b.Status(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rs := st.Recipients[0]; rs.Status != queue.RcptFailed || rs.LastDetail != pgqueue.DeleteDetail {
		t.Fatalf("recipient %+v, want failed by the delete", rs)
	}
}
