package pgqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/queue/pgqueue"
)

// openAudited opens a queue on a fresh database whose audit journal is j.
func openAudited(t *testing.T, aud pgqueue.Auditor) *pgqueue.Queue {
	t.Helper()
	q, err := pgqueue.Open(context.Background(), newPool(t), pgqueue.Options{Audit: aud, PollInterval: testPoll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// TestAuditRecords: sends (at once, decided by a rule, held) and decisions (approve,
// reject) are records of the node's journal, the same records the Pebble queue writes, with
// addresses only as keyed hashes; the chain verifies.
func TestAuditRecords(t *testing.T) {
	t.Parallel()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	j, err := audit.Open(db, audit.Options{Node: "pg.test"})
	if err != nil {
		t.Fatal(err)
	}
	q := openAudited(t, j)
	ctx := context.Background()
	send := func(m *queue.Message) {
		t.Helper()
		m.Mailbox, m.From, m.Body = "agent@example.com", "agent@example.com", []byte("Subject: s\r\n\r\nb\r\n")
		if _, err := q.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	send(&queue.Message{To: []string{"Bob@Dest.example"}, Source: "api", Actor: "api:key_1"})
	send(&queue.Message{To: []string{"c@dest.example"}, Source: "smtp",
		Approval: &queue.Approval{State: queue.ApprovalRejected, By: "rule:2", Rule: "to *.evil", Reason: "blocked"}})
	held := &queue.Message{To: []string{"d@dest.example"}, Source: "api", Actor: "api:key_1", Approval: &queue.Approval{}}
	send(held)
	held2 := &queue.Message{To: []string{"e@dest.example"}, Source: "api", Approval: &queue.Approval{}}
	send(held2)
	if err := q.Approve(ctx, held.Approval.ID, "cli", "looks fine"); err != nil {
		t.Fatal(err)
	}
	if err := q.Reject(ctx, held2.Approval.ID, "api:key_2", "no"); err != nil {
		t.Fatal(err)
	}
	if err := q.Reject(ctx, held2.Approval.ID, "api:key_2", "again"); !errors.Is(err, queue.ErrNotPending) {
		t.Fatalf("second decision: %v", err) // and no record for it
	}
	var buf bytes.Buffer
	if err := j.Export(ctx, &buf, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(bytes.NewReader(buf.Bytes()), audit.VerifyOptions{Key: j.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(buf.String()), "dest.example") {
		t.Fatalf("the journal holds an address:\n%s", buf.String())
	}
	var got []audit.Record
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r audit.Record
		if json.Unmarshal([]byte(l), &r) == nil && r.Kind != "" {
			got = append(got, r)
		}
	}
	want := []struct{ kind, actor, release, rule, reason, object string }{
		{audit.KindSend, "api:key_1", "immediate", "", "", ""},
		{audit.KindSend, "smtp", "rule", "to *.evil", "blocked", ""},
		{audit.KindSend, "api:key_1", "pending", "", "", held.ID},
		{audit.KindSend, "api", "pending", "", "", held2.ID},
		{audit.KindApprove, "cli", "", "", "looks fine", held.ID},
		{audit.KindReject, "api:key_2", "", "", "no", held2.ID},
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.Actor != w.actor || g.Detail["release"] != w.release || g.Rule != w.rule ||
			g.Reason != w.reason || w.object != "" && g.Object != w.object || g.Mailbox != "agent@example.com" {
			t.Errorf("record %d = %+v, want %+v", i+1, g, w)
		}
	}
	if got[0].Rcpts[0] != j.RcptHash("bob@dest.example") || got[1].Detail["decided_by"] != "rule:2" ||
		got[4].Detail["approval"] != held.Approval.ID {
		t.Errorf("records: %+v", got)
	}
}

// failingAuditor refuses every record.
type failingAuditor struct{ calls int }

func (f *failingAuditor) Append(context.Context, ...audit.Record) error {
	f.calls++
	return errors.New("disk full")
}
func (f *failingAuditor) RcptHashes(a []string) []string { return a }

// TestAuditFailureKeepsDecision: the record follows the commit, so a journal that fails
// loses the record, not the send or the decision.
func TestAuditFailureKeepsDecision(t *testing.T) {
	t.Parallel()
	f := &failingAuditor{}
	q := openAudited(t, f)
	ctx := context.Background()
	m := &queue.Message{To: []string{"a@dest.example"}, Body: []byte("x"), Approval: &queue.Approval{}}
	if _, err := q.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := q.Approve(ctx, m.Approval.ID, "cli", ""); err != nil {
		t.Fatal(err)
	}
	if ar, err := q.Approval(ctx, m.Approval.ID); err != nil || ar.State != queue.ApprovalApproved || f.calls != 2 {
		t.Fatalf("approval %+v %v after %d appends", ar, err, f.calls)
	}
}
