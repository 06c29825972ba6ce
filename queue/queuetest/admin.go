package queuetest

// admin.go is the conformance suite of queue.Admin (List, Cancel, Retry, Delete) and of the
// test outbox (queue.TestOutboxReader), and the several-nodes test of Cancel.

import (
	"errors"
	"slices"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// AdminQueue is a queue with the admin actions.
type AdminQueue interface {
	queue.Core
	queue.Admin
}

// OpenAdmin opens a fresh, empty AdminQueue with o.
type OpenAdmin func(t *testing.T, o queue.Options) AdminQueue

// OpenAdminShared opens n AdminQueues (nodes) on one fresh, empty store with o.
type OpenAdminShared func(t *testing.T, o queue.Options, n int) []AdminQueue

// RunAdmin runs the admin actions' conformance tests.
func RunAdmin(t *testing.T, open OpenAdmin) {
	t.Run("AdminList", func(t *testing.T) { testAdminList(t, open(t, queue.Options{})) })
	t.Run("CancelScheduled", func(t *testing.T) { testCancelScheduled(t, open(t, queue.Options{})) })
	t.Run("CancelInFlight", func(t *testing.T) { testCancelInFlight(t, open(t, queue.Options{})) })
	t.Run("Retry", func(t *testing.T) {
		testRetry(t, open(t, queue.Options{BackoffInitial: time.Hour, BackoffMax: 2 * time.Hour}))
	})
	t.Run("Delete", func(t *testing.T) { testDelete(t, open(t, queue.Options{})) })
}

// RunAdminShared runs the admin tests of several nodes sharing one store.
func RunAdminShared(t *testing.T, open OpenAdminShared) {
	t.Run("CancelOtherNodesLease", func(t *testing.T) { testCancelOtherNode(t, open(t, queue.Options{}, 2)) })
}

func ids(sts []queue.Status) []string {
	var out []string
	for _, st := range sts {
		out = append(out, st.ID)
	}
	return out
}

func testAdminList(t *testing.T, q AdminQueue) {
	c := ctx(t)
	a := enqueue(t, q, &queue.Message{Mailbox: "a@example.com", To: []string{"x@d.example"}}).ID
	b := enqueue(t, q, &queue.Message{Mailbox: "b@example.com", To: []string{"y@d.example"}}).ID
	d := enqueue(t, q, &queue.Message{Mailbox: "a@example.com", To: []string{"z@e.example"}}).ID
	for range 3 { // deliver b only
		l := next(t, q)
		if l.MsgID == b {
			complete(t, q, l, queue.Delivered, 250, "2.0.0")
		} else {
			must(t, q.Postpone(c, l, time.Now().Add(time.Hour)))
		}
	}
	all, err := q.List(c, queue.ListFilter{})
	must(t, err)
	if want := []string{a, b, d}; !slices.Equal(ids(all), want) {
		t.Fatalf("List = %v, want %v", ids(all), want)
	}
	if all[0].Mailbox != "a@example.com" || len(all[0].Recipients) != 1 || all[0].Events != nil {
		t.Fatalf("List[0] = %+v", all[0])
	}
	for _, tc := range []struct {
		f    queue.ListFilter
		want []string
	}{
		{queue.ListFilter{Mailbox: "a@example.com"}, []string{a, d}},
		{queue.ListFilter{State: queue.RcptDelivered}, []string{b}},
		{queue.ListFilter{State: queue.RcptQueued}, []string{a, d}},
		{queue.ListFilter{Limit: 2}, []string{a, b}},
		{queue.ListFilter{After: a, Limit: 1}, []string{b}},
		{queue.ListFilter{After: b}, []string{d}},
		{queue.ListFilter{After: d}, nil},
		{queue.ListFilter{Mailbox: "nobody@example.com"}, nil},
	} {
		got, err := q.List(c, tc.f)
		must(t, err)
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.f, ids(got), tc.want)
		}
	}
}

func testCancelScheduled(t *testing.T, q AdminQueue) {
	c := ctx(t)
	if _, err := q.Cancel(c, queue.NewMessageID(time.Now()), "api:k1"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Cancel of unknown: %v, want ErrNotFound", err)
	}
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example", "b@e.example"}, SendAt: time.Now().Add(time.Hour)})
	res, err := q.Cancel(c, r.ID, "api:k1")
	must(t, err)
	slices.Sort(res.Cancelled)
	if !slices.Equal(res.Cancelled, []string{"a@d.example", "b@e.example"}) || len(res.InFlight) != 0 {
		t.Fatalf("Cancel = %+v", res)
	}
	for a, s := range rcptStatus(t, q, r.ID) {
		if s != queue.RcptCancelled {
			t.Fatalf("%s: %s, want cancelled", a, s)
		}
	}
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventQueued, queue.EventScheduled, queue.EventCancelled, queue.EventCancelled)
	evs, err := q.Events(c, r.ID)
	must(t, err)
	if evs[2].Detail != queue.CancelDetail {
		t.Fatalf("cancelled event %+v", evs[2])
	}
	if _, err := q.Body(c, r.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Body after cancel: %v, want ErrNotFound", err)
	}
	if _, err := q.Cancel(c, r.ID, "api:k1"); !errors.Is(err, queue.ErrNothingToCancel) {
		t.Fatalf("second Cancel: %v, want ErrNothingToCancel", err)
	}
	noNext(t, q)
}

func testCancelInFlight(t *testing.T, q AdminQueue) {
	c := ctx(t)
	// Deferred by the attempt: the cancel takes it.
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example"}})
	l := next(t, q)
	res, err := q.Cancel(c, r.ID, "api:k1")
	must(t, err)
	if len(res.Cancelled) != 0 || !slices.Equal(res.InFlight, []string{"a@d.example"}) {
		t.Fatalf("Cancel = %+v", res)
	}
	if _, err := q.Cancel(c, r.ID, "api:k1"); !errors.Is(err, queue.ErrNothingToCancel) {
		t.Fatalf("second Cancel: %v, want ErrNothingToCancel", err)
	}
	complete(t, q, l, queue.Deferred, 451, "4.3.0")
	if s := rcptStatus(t, q, r.ID)["a@d.example"]; s != queue.RcptCancelled {
		t.Fatalf("status %s, want cancelled", s)
	}
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventQueued, queue.EventDeferred, queue.EventCancelled)
	noNext(t, q)
	// Delivered by the attempt: the outcome stands.
	r = enqueue(t, q, &queue.Message{To: []string{"b@d.example"}})
	l = next(t, q)
	_, err = q.Cancel(c, r.ID, "api:k1")
	must(t, err)
	complete(t, q, l, queue.Delivered, 250, "2.0.0")
	if s := rcptStatus(t, q, r.ID)["b@d.example"]; s != queue.RcptDelivered {
		t.Fatalf("status %s, want delivered", s)
	}
	// Handed back without an attempt: the next pick cancels it.
	r = enqueue(t, q, &queue.Message{To: []string{"c@d.example"}})
	l = next(t, q)
	_, err = q.Cancel(c, r.ID, "api:k1")
	must(t, err)
	must(t, q.Postpone(c, l, time.Now()))
	noNext(t, q)
	if s := rcptStatus(t, q, r.ID)["c@d.example"]; s != queue.RcptCancelled {
		t.Fatalf("status %s, want cancelled", s)
	}
}

func testRetry(t *testing.T, q AdminQueue) {
	c := ctx(t)
	if err := q.Retry(c, queue.NewMessageID(time.Now())); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Retry of unknown: %v, want ErrNotFound", err)
	}
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example"}})
	other := enqueue(t, q, &queue.Message{To: []string{"b@d.example"}})
	l := next(t, q)
	_, err := q.Complete(c, l, results(l, queue.Deferred, 421, "4.4.2"), true) // an hour's domain backoff
	must(t, err)
	noNext(t, q)
	must(t, q.Retry(c, l.MsgID))
	seen := map[string]bool{}
	for range 2 { // the retried message and, the domain's backoff cleared, the other
		l2 := next(t, q)
		seen[l2.MsgID] = true
		complete(t, q, l2, queue.Delivered, 250, "2.0.0")
	}
	if !seen[r.ID] || !seen[other.ID] {
		t.Fatalf("leased %v after Retry, want %s and %s", seen, r.ID, other.ID)
	}
	must(t, q.Retry(c, r.ID)) // nothing pending: no error
}

func testDelete(t *testing.T, q AdminQueue) {
	c := ctx(t)
	if err := q.Delete(c, queue.NewMessageID(time.Now())); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Delete of unknown: %v, want ErrNotFound", err)
	}
	r := enqueue(t, q, &queue.Message{To: []string{"a@d.example", "b@e.example"}})
	l := next(t, q)
	complete(t, q, l, queue.Delivered, 250, "2.0.0")
	must(t, q.Delete(c, r.ID))
	st, err := q.Status(c, r.ID)
	must(t, err)
	if st.State != "completed" {
		t.Fatalf("state %s, want completed", st.State)
	}
	for _, rs := range st.Recipients {
		if rs.Address == l.Recipients[0] && rs.Status != queue.RcptDelivered ||
			rs.Address != l.Recipients[0] && (rs.Status != queue.RcptFailed || rs.LastDetail != "deleted by admin") {
			t.Fatalf("recipient %+v", rs)
		}
	}
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventQueued, queue.EventDelivered, queue.EventFailed)
	if _, err := q.Body(c, r.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Body after delete: %v, want ErrNotFound", err)
	}
	noNext(t, q)
}

// testCancelOtherNode: node A cancels a message whose unit node B holds in a live lease;
// B's attempt stands and its Complete cancels what it leaves pending; both nodes list the
// same.
func testCancelOtherNode(t *testing.T, qs []AdminQueue) {
	a, b := qs[0], qs[1]
	c := ctx(t)
	r := enqueue(t, a, &queue.Message{Mailbox: "s@example.com", To: []string{"x@d.example", "y@e.example"}})
	l := next(t, b, queue.LaneNormal)
	res, err := a.Cancel(c, r.ID, "api:k1")
	must(t, err)
	if !slices.Equal(res.InFlight, l.Recipients) || len(res.Cancelled) != 1 {
		t.Fatalf("Cancel = %+v with %v leased by the other node", res, l.Recipients)
	}
	complete(t, b, l, queue.Deferred, 451, "4.3.0")
	for _, q := range qs {
		for addr, s := range rcptStatus(t, q, r.ID) {
			if s != queue.RcptCancelled {
				t.Fatalf("%s: %s, want cancelled", addr, s)
			}
		}
	}
	la, err := a.List(c, queue.ListFilter{Mailbox: "s@example.com"})
	must(t, err)
	lb, err := b.List(c, queue.ListFilter{Mailbox: "s@example.com"})
	must(t, err)
	if len(la) != 1 || len(lb) != 1 || la[0].State != queue.RcptCancelled || lb[0].State != la[0].State ||
		!slices.Equal(ids(la), ids(lb)) {
		t.Fatalf("List on A = %+v, on B = %+v", la, lb)
	}
	noNext(t, a)
}
