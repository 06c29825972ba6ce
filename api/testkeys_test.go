package api

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// drainNoLease runs the queue's Next until it has nothing due: a test message must never come
// out of it (the queue delivers it to the sink itself); any lease fails the test.
func drainNoLease(t *testing.T, q *queue.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	l, err := q.Next(ctx)
	if l != nil {
		t.Fatalf("a lease came out of the queue: %+v", l)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}

// TestTestKeys: a test key is created "mm_test_…" with send/read/tag only; its sends pass
// validation and oversight, are signed with the unpublished test selector and no identity
// header, never reach a deliverer nor the Sent folder, end "delivered" to the sink with
// "test": true; a live key never sees them and a test key never sees live messages; the
// idempotency keys of the two never meet.
func TestTestKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()

	r := e.do("POST", "/v1/admin/keys", "admin", map[string]any{"mailbox": ownA, "test": true, "scopes": []string{"read", "approve"}})
	if r.status != 422 {
		t.Fatalf("test key with approve: %d %s", r.status, r.body)
	}
	if _, field, _ := r.apiError(t); field != "scopes[1]" {
		t.Fatalf("field %q", field)
	}
	r = e.do("POST", "/v1/admin/keys", "admin", map[string]any{"mailboxes": []string{ownA, ownG}, "test": true})
	var k wire.Key
	r.json(t, &k)
	if r.status != 201 || !k.Test || !strings.HasPrefix(k.APIKey, mailbox.TestAPIKeyPrefix) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	e.keys["test"] = k.APIKey
	var list wire.KeyList
	e.do("GET", "/v1/admin/keys", "admin", nil).json(t, &list)
	found := false
	for _, lk := range list.Keys {
		found = found || (lk.KeyID == k.KeyID && lk.Test && lk.APIKey == "")
	}
	if !found {
		t.Fatalf("key list: %+v", list)
	}

	sentBefore := sentCount(t, e)
	body := otpBody()
	body["idempotency_key"] = "same-key"
	r = e.do("POST", "/v1/send_email", "test", body)
	if r.status != 202 {
		t.Fatalf("test send: %d %s", r.status, r.body)
	}
	var rec wire.SendResponse
	r.json(t, &rec)
	live := e.send(body) // the same idempotency key from a live key: its own message
	if live == rec.MessageID {
		t.Fatal("a live key got the test key's idempotent result")
	}
	raw, err := e.q.Body(ctx, rec.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("s=mmtest;")) || bytes.Contains(raw, []byte("s=mm1;")) || bytes.Contains(raw, []byte(identity.FieldName)) {
		t.Fatalf("test mail signed with a published key or with an identity header:\n%s", raw)
	}
	for range 3 { // the live message is leased; the test one never is
		ctx2, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		l, err := e.q.Next(ctx2)
		cancel()
		if err != nil {
			break
		}
		if l.MsgID != live {
			t.Fatalf("leased %s, want only the live %s", l.MsgID, live)
		}
		if _, err := e.q.Complete(ctx, l, []queue.Result{{Recipient: "user@example.com", Outcome: queue.Delivered}}, false); err != nil {
			t.Fatal(err)
		}
	}
	var m wire.Message
	r = e.do("GET", "/v1/messages/"+rec.MessageID, "test", nil)
	r.json(t, &m)
	if r.status != 200 || !m.Test || m.Status != "delivered" {
		t.Fatalf("test key reads its message: %d %s", r.status, r.body)
	}
	sink := false
	for _, ev := range m.Events {
		sink = sink || (ev.Event == "delivered" && ev.MXHost == queue.TestSink)
	}
	if !sink {
		t.Fatalf("no delivery to the sink in %s", r.body)
	}
	evs, err := e.q.Events(ctx, rec.MessageID)
	if err != nil || len(evs) == 0 {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if !ev.Test {
			t.Fatalf("event not marked test (webhooks carry it): %+v", ev)
		}
	}
	if r := e.do("GET", "/v1/messages/"+rec.MessageID, "send", nil); r.status != 404 {
		t.Fatalf("a live key sees a test message: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/messages/"+live, "test", nil); r.status != 404 {
		t.Fatalf("a test key sees a live message: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/messages/"+live+"/cancel", "test", nil); r.status != 404 {
		t.Fatalf("a test key cancels a live message: %d %s", r.status, r.body)
	}
	if got := sentCount(t, e); got != sentBefore+1 { // the live send only
		t.Fatalf("Sent has %d, want %d", got, sentBefore+1)
	}

	// gated_send: held, decided by the operator, then the sink; a live agent key never sees it.
	gb := otpBody()
	gb["mailbox_id"] = ownG
	r = e.do("POST", "/v1/send_email", "test", gb)
	r.json(t, &rec)
	if r.status != 202 || rec.Status != "pending_approval" {
		t.Fatalf("gated test send: %d %s", r.status, r.body)
	}
	var al wire.ApprovalList
	e.do("GET", "/v1/approvals", "gated", nil).json(t, &al)
	for _, a := range al.Approvals {
		if a.MessageID == rec.MessageID {
			t.Fatalf("a live agent key lists a test approval: %+v", a)
		}
	}
	e.do("GET", "/v1/approvals", "admin", nil).json(t, &al)
	var apr string
	for _, a := range al.Approvals {
		if a.MessageID == rec.MessageID && a.Test {
			apr = a.ApprovalID
		}
	}
	if apr == "" {
		t.Fatalf("the operator does not see the test approval: %+v", al)
	}
	if r := e.do("POST", "/v1/approvals/"+apr+"/approve", "admin", map[string]string{"reason": "test"}); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	drainNoLease(t, e.q)
	if st, err := e.q.Status(ctx, rec.MessageID); err != nil || st.State != "delivered" || !st.Test {
		t.Fatalf("approved test message: %+v %v", st, err)
	}
}

func sentCount(t *testing.T, e *testEnv) int {
	t.Helper()
	fs, err := e.store.Folders(context.Background(), ownA)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Name == "Sent" {
			return int(f.Messages)
		}
	}
	return 0
}
