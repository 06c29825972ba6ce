package queuetest

// oversight.go is the conformance suite of queue.Oversight: messages held for approval, the
// decisions (approve, approve with a release rewrite, reject, rules' decisions at enqueue),
// listing, expiry and SendAt across the hold, and the events and webhooks each journals; and,
// for a backend several nodes share, nodes racing to decide one approval.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// OversightQueue is a queue with the approval workflow.
type OversightQueue interface {
	queue.Core
	queue.Oversight
}

// OpenOversight opens a fresh, empty OversightQueue with o.
type OpenOversight func(t *testing.T, o queue.Options) OversightQueue

// OpenOversightShared opens n OversightQueues (nodes) on one fresh, empty store with o.
type OpenOversightShared func(t *testing.T, o queue.Options, n int) []OversightQueue

// RunOversight runs the approval workflow's conformance tests.
func RunOversight(t *testing.T, open OpenOversight) {
	tests := []struct {
		name string
		fn   func(*testing.T, OpenOversight)
	}{
		{"Held", testHeld},
		{"Approve", testApprove},
		{"Reject", testReject},
		{"RuleDecisions", testRuleDecisions},
		{"ApproveRelease", testApproveRelease},
		{"NotFound", testApprovalNotFound},
		{"Listing", testApprovalListing},
		{"ExpiresWhileHeld", testExpiresWhileHeld},
		{"SendAtAfterApproval", testSendAtAfterApproval},
		{"Webhooks", testApprovalWebhooks},
		{"HeldIdempotency", testHeldIdempotency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// RunOversightShared runs the approval tests of several nodes sharing one store.
func RunOversightShared(t *testing.T, open OpenOversightShared) {
	t.Run("DecisionRace", func(t *testing.T) { testDecisionRace(t, open) })
}

// hold enqueues a message held for approval to a@one.example and b@two.example.
func hold(t *testing.T, q OversightQueue, m *queue.Message) (queue.Receipt, *queue.Approval) {
	t.Helper()
	if m.Approval == nil {
		m.Approval = &queue.Approval{}
	}
	if m.To == nil {
		m.To = []string{"a@One.example", "b@two.example"}
	}
	if m.Mailbox == "" {
		m.Mailbox, m.From, m.Subject, m.Tags = "gated@example.com", "gated@example.com", "held one", []string{"t1"}
	}
	return enqueue(t, q, m), m.Approval
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s = %v, want %v", what, err, want)
	}
}

func testHeld(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	r, a := hold(t, q, &queue.Message{})
	if r.Status != queue.StatusPendingApproval || !strings.HasPrefix(a.ID, "apr_") || a.State != queue.ApprovalPending {
		t.Fatalf("receipt %+v approval %+v", r, a)
	}
	noNext(t, q)
	st, err := q.Status(ctx(t), r.ID)
	must(t, err)
	if st.State != queue.StatusPendingApproval || st.Approval == nil || st.Approval.ID != a.ID ||
		st.Approval.State != queue.ApprovalPending {
		t.Fatalf("status %+v approval %+v", st, st.Approval)
	}
	for addr, s := range rcptStatus(t, q, r.ID) {
		if s != queue.RcptPendingApproval {
			t.Fatalf("%s is %s", addr, s)
		}
	}
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventPendingApproval)
	pend, err := q.Approvals(ctx(t), queue.ApprovalPending)
	must(t, err)
	if len(pend) != 1 {
		t.Fatalf("pending %+v", pend)
	}
	ar := pend[0]
	if ar.ID != a.ID || ar.MsgID != r.ID || ar.Mailbox != "gated@example.com" || ar.Subject != "held one" ||
		!slices.Equal(ar.To, []string{"a@one.example", "b@two.example"}) || !slices.Equal(ar.Tags, []string{"t1"}) ||
		ar.CreatedAt.IsZero() || !ar.DecidedAt.IsZero() || ar.State != queue.ApprovalPending {
		t.Fatalf("approval record %+v", ar)
	}
	if _, err := q.Body(ctx(t), r.ID); err != nil {
		t.Fatalf("held body: %v", err)
	}
}

func testApprove(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	r, a := hold(t, q, &queue.Message{})
	must(t, q.Approve(ctx(t), a.ID, "api:k1", "looks fine"))
	wantErr(t, "second Approve", q.Approve(ctx(t), a.ID, "api:k2", ""), queue.ErrNotPending)
	wantErr(t, "Reject after Approve", q.Reject(ctx(t), a.ID, "api:k2", ""), queue.ErrNotPending)
	evs, err := q.Events(ctx(t), r.ID)
	must(t, err)
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventPendingApproval, queue.EventApproved, queue.EventQueued)
	if e := evs[1]; e.By != "api:k1" || e.Reason != "looks fine" || !slices.Equal(e.Tags, []string{"t1"}) {
		t.Fatalf("approved event %+v", e)
	}
	ar, err := q.Approval(ctx(t), a.ID)
	must(t, err)
	if ar.State != queue.ApprovalApproved || ar.By != "api:k1" || ar.Reason != "looks fine" || ar.DecidedAt.IsZero() {
		t.Fatalf("approval %+v", ar)
	}
	if pend, _ := q.Approvals(ctx(t), queue.ApprovalPending); len(pend) != 0 {
		t.Fatalf("still pending: %+v", pend)
	}
	if st, _ := q.Status(ctx(t), r.ID); st.Approval == nil || st.Approval.State != queue.ApprovalApproved {
		t.Fatalf("status approval %+v", st.Approval)
	}
	for range 2 {
		complete(t, q, next(t, q), queue.Delivered, 250, "2.0.0")
	}
	noNext(t, q)
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventPendingApproval, queue.EventApproved, queue.EventQueued,
		queue.EventDelivered, queue.EventDelivered)
}

func testReject(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	r, a := hold(t, q, &queue.Message{})
	must(t, q.Reject(ctx(t), a.ID, "cli", "spam"))
	wantErr(t, "second Reject", q.Reject(ctx(t), a.ID, "cli", ""), queue.ErrNotPending)
	wantErr(t, "Approve after Reject", q.Approve(ctx(t), a.ID, "cli", ""), queue.ErrNotPending)
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventPendingApproval, queue.EventRejected)
	noNext(t, q)
	if _, err := q.Body(ctx(t), r.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("rejected body: %v", err)
	}
	st, err := q.Status(ctx(t), r.ID)
	must(t, err)
	if st.State != queue.RcptRejected || st.Approval == nil || st.Approval.State != queue.ApprovalRejected ||
		st.Approval.By != "cli" || st.Approval.Reason != "spam" {
		t.Fatalf("status %+v approval %+v", st, st.Approval)
	}
	for addr, s := range rcptStatus(t, q, r.ID) {
		if s != queue.RcptRejected {
			t.Fatalf("%s is %s", addr, s)
		}
	}
}

// testRuleDecisions: a rule's decision at enqueue keeps the record and its events; an
// approved message is sent at once, a rejected one never.
func testRuleDecisions(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	ok := &queue.Approval{State: queue.ApprovalApproved, By: "rule:0", Rule: "auth tag"}
	r1, _ := hold(t, q, &queue.Message{Approval: ok, To: []string{"a@one.example"}})
	no := &queue.Approval{State: queue.ApprovalRejected, By: "rule:2", Rule: "no partners", Reason: "blocked"}
	r2, _ := hold(t, q, &queue.Message{Approval: no, To: []string{"b@two.example"}})
	if r1.Status != queue.StatusQueued || r2.Status != queue.StatusRejected || ok.DecidedAt.IsZero() || no.DecidedAt.IsZero() {
		t.Fatalf("receipts %+v %+v approvals %+v %+v", r1, r2, ok, no)
	}
	wantTypes(t, eventTypes(t, q, r1.ID), queue.EventApproved, queue.EventQueued)
	wantTypes(t, eventTypes(t, q, r2.ID), queue.EventRejected)
	evs, err := q.Events(ctx(t), r2.ID)
	must(t, err)
	if e := evs[0]; e.By != "rule:2" || e.Rule != "no partners" || e.Reason != "blocked" {
		t.Fatalf("rejected event %+v", e)
	}
	if l := next(t, q); l.MsgID != r1.ID {
		t.Fatalf("leased %s", l.MsgID)
	}
	noNext(t, q)
	if _, err := q.Body(ctx(t), r2.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("rejected body: %v", err)
	}
	wantErr(t, "Approve a rule's rejection", q.Approve(ctx(t), no.ID, "cli", ""), queue.ErrNotPending)
	all, err := q.Approvals(ctx(t), "")
	must(t, err)
	slices.SortFunc(all, func(x, y queue.ApprovalRecord) int { return strings.Compare(x.By, y.By) })
	if len(all) != 2 || all[0].ID != ok.ID || all[1].ID != no.ID || all[1].Rule != "no partners" {
		t.Fatalf("approvals %+v", all)
	}
	if _, err := q.Enqueue(ctx(t), &queue.Message{To: []string{"a@one.example"}, Body: []byte("x"),
		Approval: &queue.Approval{State: "maybe"}}); !errors.Is(err, queue.ErrInvalid) {
		t.Fatalf("unknown state: %v", err)
	}
}

// testApproveRelease: the release's body is what is delivered; a failing release leaves the
// message held and undecided.
func testApproveRelease(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	r, a := hold(t, q, &queue.Message{Body: []byte("held\r\n"), To: []string{"a@one.example"}})
	boom := errors.New("no key")
	err := q.ApproveRelease(ctx(t), a.ID, "cli", "", func(*queue.ApprovalRecord, []byte) ([]byte, error) { return nil, boom })
	wantErr(t, "failing release", err, boom)
	noNext(t, q)
	if ar, _ := q.Approval(ctx(t), a.ID); ar == nil || ar.State != queue.ApprovalPending {
		t.Fatalf("after a failed release: %+v", ar)
	}
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventPendingApproval)
	var seen *queue.ApprovalRecord
	var got []byte
	must(t, q.ApproveRelease(ctx(t), a.ID, "cli", "ok", func(ar *queue.ApprovalRecord, body []byte) ([]byte, error) {
		seen, got = ar, body
		return append([]byte("X-Released: yes\r\n"), body...), nil
	}))
	if seen == nil || seen.State != queue.ApprovalApproved || seen.ID != a.ID || seen.By != "cli" || seen.MsgID != r.ID ||
		string(got) != "held\r\n" {
		t.Fatalf("release saw %+v %q", seen, got)
	}
	want := "X-Released: yes\r\nheld\r\n"
	if b, err := q.Body(ctx(t), r.ID); err != nil || string(b) != want {
		t.Fatalf("body %q %v", b, err)
	}
	if st, _ := q.Status(ctx(t), r.ID); st.Size != len(want) {
		t.Fatalf("size %d, want %d", st.Size, len(want))
	}
	if l := next(t, q); l.MsgID != r.ID {
		t.Fatalf("leased %s", l.MsgID)
	}
}

func testApprovalNotFound(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	for _, id := range []string{"", "apr_nope", queue.NewApprovalID(time.Now())} {
		wantErr(t, fmt.Sprintf("Approve(%q)", id), q.Approve(ctx(t), id, "x", ""), queue.ErrNotFound)
		wantErr(t, fmt.Sprintf("Reject(%q)", id), q.Reject(ctx(t), id, "x", ""), queue.ErrNotFound)
		_, err := q.Approval(ctx(t), id)
		wantErr(t, fmt.Sprintf("Approval(%q)", id), err, queue.ErrNotFound)
	}
	if all, err := q.Approvals(ctx(t), ""); err != nil || len(all) != 0 {
		t.Fatalf("approvals of an empty queue: %+v %v", all, err)
	}
}

// testApprovalListing: Approvals lists in creation order, filtered by state.
func testApprovalListing(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	var ids []string
	base := time.Now()
	for i := range 3 { // ids made in later milliseconds: creation order is id order
		a := &queue.Approval{ID: queue.NewApprovalID(base.Add(time.Duration(i) * time.Millisecond))}
		hold(t, q, &queue.Message{Subject: fmt.Sprint(i), Mailbox: "m@example.com", To: []string{"a@one.example"}, Approval: a})
		ids = append(ids, a.ID)
	}
	must(t, q.Approve(ctx(t), ids[1], "cli", ""))
	must(t, q.Reject(ctx(t), ids[2], "cli", ""))
	for _, c := range []struct {
		state queue.ApprovalState
		want  []string
	}{
		{"", ids},
		{queue.ApprovalPending, ids[:1]},
		{queue.ApprovalApproved, ids[1:2]},
		{queue.ApprovalRejected, ids[2:]},
	} {
		got, err := q.Approvals(ctx(t), c.state)
		must(t, err)
		var gotIDs []string
		for _, ar := range got {
			gotIDs = append(gotIDs, ar.ID)
		}
		if !slices.Equal(gotIDs, c.want) {
			t.Fatalf("Approvals(%q) = %v, want %v", c.state, gotIDs, c.want)
		}
	}
}

// testExpiresWhileHeld: a message held past its ExpiresAt stays held; once approved, its
// recipients expire instead of being attempted, and OnFinal is told.
func testExpiresWhileHeld(t *testing.T, open OpenOversight) {
	finals := make(chan []queue.Final, 4)
	q := open(t, queue.Options{OnFinal: func(_ context.Context, _ string, f []queue.Final) { finals <- f }})
	r, a := hold(t, q, &queue.Message{To: []string{"a@one.example"}, ExpiresAt: time.Now().Add(-time.Second)})
	noNext(t, q)
	if ar, _ := q.Approval(ctx(t), a.ID); ar == nil || ar.State != queue.ApprovalPending {
		t.Fatalf("held past expiry: %+v", ar)
	}
	must(t, q.Approve(ctx(t), a.ID, "cli", ""))
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if l, err := q.Next(c); err == nil {
		t.Fatalf("leased %+v past its expiry", l)
	}
	select {
	case f := <-finals:
		if len(f) != 1 || f[0].Event != queue.EventExpired || f[0].Recipient != "a@one.example" {
			t.Fatalf("finals %+v", f)
		}
	default:
		t.Fatal("OnFinal not called")
	}
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventPendingApproval, queue.EventApproved, queue.EventQueued, queue.EventExpired)
}

// testSendAtAfterApproval: a message approved before its SendAt waits for it.
func testSendAtAfterApproval(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	r, a := hold(t, q, &queue.Message{To: []string{"a@one.example"}, SendAt: time.Now().Add(time.Hour)})
	must(t, q.Approve(ctx(t), a.ID, "cli", ""))
	noNext(t, q)
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventPendingApproval, queue.EventApproved, queue.EventQueued, queue.EventScheduled)
	if s := rcptStatus(t, q, r.ID)["a@one.example"]; s != queue.RcptQueued {
		t.Fatalf("status %s", s)
	}
}

// testApprovalWebhooks: the hold and the decision reach the webhook outbox, in order.
func testApprovalWebhooks(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{Subscribers: []queue.Subscriber{{ID: "all"},
		{ID: "decisions", Events: []queue.EventType{queue.EventApproved, queue.EventRejected}}}})
	r1, a1 := hold(t, q, &queue.Message{To: []string{"a@one.example"}})
	r2, a2 := hold(t, q, &queue.Message{To: []string{"a@one.example"}})
	must(t, q.Approve(ctx(t), a1.ID, "cli", ""))
	must(t, q.Reject(ctx(t), a2.ID, "cli", ""))
	got := map[string][]queue.EventType{}
	for range 20 {
		items, err := q.OutboxDue(ctx(t), 100)
		must(t, err)
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			k := it.Subscriber + " " + it.Event.MsgID
			got[k] = append(got[k], it.Event.Type)
			must(t, q.OutboxAck(ctx(t), it))
		}
	}
	want := map[string][]queue.EventType{
		"all " + r1.ID:       {queue.EventPendingApproval, queue.EventApproved, queue.EventQueued},
		"all " + r2.ID:       {queue.EventPendingApproval, queue.EventRejected},
		"decisions " + r1.ID: {queue.EventApproved},
		"decisions " + r2.ID: {queue.EventRejected},
	}
	if len(got) != len(want) {
		t.Fatalf("outbox %v, want %v", got, want)
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Fatalf("outbox %s = %v, want %v", k, got[k], w)
		}
	}
}

// testHeldIdempotency: a repeated held send returns the first receipt, still pending.
func testHeldIdempotency(t *testing.T, open OpenOversight) {
	q := open(t, queue.Options{})
	r, _ := hold(t, q, &queue.Message{IdempotencyKey: "k1", RequestHash: "h1"})
	again, _ := hold(t, q, &queue.Message{IdempotencyKey: "k1", RequestHash: "h1"})
	if !again.Duplicate || again.ID != r.ID || again.Status != queue.StatusPendingApproval {
		t.Fatalf("repeat %+v, first %+v", again, r)
	}
	if pend, _ := q.Approvals(ctx(t), queue.ApprovalPending); len(pend) != 1 {
		t.Fatalf("pending %+v", pend)
	}
}

// testDecisionRace: two nodes decide the same approval at once, round after round (approve
// against approve, approve against reject, approve with a release rewrite against reject):
// exactly one decision wins, the other gets ErrNotPending, the journal has one decision
// event, the body is the winner's (rewritten, kept or dropped), and an approved message is
// leased once.
func testDecisionRace(t *testing.T, open OpenOversightShared) {
	qs := open(t, queue.Options{}, 2)
	const rounds = 42
	approved := map[string]bool{}
	wins := [2]int{}
	for i := range rounds {
		r, a := hold(t, qs[i%2], &queue.Message{To: []string{fmt.Sprintf("r%d@d%d.example", i, i)}})
		decide := []func(q OversightQueue) error{
			func(q OversightQueue) error { return q.Approve(ctx(t), a.ID, "node0", "") },
			func(q OversightQueue) error { return q.Approve(ctx(t), a.ID, "node1", "") },
		}
		release := func(_ *queue.ApprovalRecord, body []byte) ([]byte, error) {
			return append([]byte("X-Released: node0\r\n"), body...), nil
		}
		switch i % 3 {
		case 1:
			decide[1] = func(q OversightQueue) error { return q.Reject(ctx(t), a.ID, "node1", "") }
		case 2:
			decide[0] = func(q OversightQueue) error { return q.ApproveRelease(ctx(t), a.ID, "node0", "", release) }
			decide[1] = func(q OversightQueue) error { return q.Reject(ctx(t), a.ID, "node1", "") }
		}
		errs := make([]error, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for n := range 2 {
			wg.Go(func() {
				<-start
				errs[n] = decide[n](qs[n])
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for n, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = n
			case err == nil:
				t.Fatalf("round %d: both decisions won", i)
			case !errors.Is(err, queue.ErrNotPending):
				t.Fatalf("round %d: node %d: %v, want ErrNotPending", i, n, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no decision won: %v", i, errs)
		}
		wins[winner]++
		ar, err := qs[1-winner].Approval(ctx(t), a.ID)
		must(t, err)
		want := []queue.EventType{queue.EventPendingApproval, queue.EventApproved, queue.EventQueued}
		if ar.State == queue.ApprovalRejected {
			want = []queue.EventType{queue.EventPendingApproval, queue.EventRejected}
		} else {
			approved[r.ID] = true
		}
		if ar.By != fmt.Sprintf("node%d", winner) {
			t.Fatalf("round %d: node %d won but the record says %+v", i, winner, ar)
		}
		wantTypes(t, eventTypes(t, qs[0], r.ID), want...)
		body, err := qs[1].Body(ctx(t), r.ID)
		switch {
		case ar.State == queue.ApprovalRejected && !errors.Is(err, queue.ErrNotFound):
			t.Fatalf("round %d: rejected, body %q %v", i, body, err)
		case ar.State == queue.ApprovalApproved && (err != nil ||
			strings.HasPrefix(string(body), "X-Released:") != (i%3 == 2)):
			t.Fatalf("round %d: approved by node %d, body %q %v", i, winner, body, err)
		}
	}
	t.Logf("%d rounds: node 0 won %d, node 1 won %d", rounds, wins[0], wins[1])
	for range len(approved) {
		l := next(t, qs[0])
		if !approved[l.MsgID] {
			t.Fatalf("leased %s: not approved, or twice", l.MsgID)
		}
		delete(approved, l.MsgID)
		complete(t, qs[0], l, queue.Delivered, 250, "2.0.0")
	}
	noNext(t, qs[1])
}
