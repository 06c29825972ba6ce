package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"multimail.dev/multimail/audit"
)

// TestAuditRecordsSendsAndDecisions: with Options.Audit, every enqueue (released at once, by a
// rule, or held) and every decision is a record of the chain, with who, rule and reason, and
// recipient addresses only as keyed hashes; the export verifies.
func TestAuditRecordsSendsAndDecisions(t *testing.T) {
	db := memDB(t)
	j, err := audit.Open(db, audit.Options{Node: "q.test"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := Open(db, Options{Audit: j, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	body := []byte("Subject: s\r\n\r\nb\r\n")
	mustEnqueue := func(m *Message) Receipt {
		t.Helper()
		m.Body, m.From = body, "agent@example.com"
		r, err := q.Enqueue(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mustEnqueue(&Message{Mailbox: "agent@example.com", To: []string{"Bob@Dest.example"}, Source: "api", Actor: "api:key_1"})
	mustEnqueue(&Message{Mailbox: "agent@example.com", To: []string{"c@dest.example"}, Source: "smtp",
		Approval: &Approval{State: ApprovalRejected, By: "rule:2", Rule: "to *.evil", Reason: "blocked"}})
	held := &Message{Mailbox: "agent@example.com", To: []string{"d@dest.example"}, Source: "api", Actor: "api:key_1",
		Approval: &Approval{}}
	mustEnqueue(held)
	if err := q.Approve(ctx, held.Approval.ID, "cli", "looks fine"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := j.Export(ctx, &buf, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(bytes.NewReader(buf.Bytes()), audit.VerifyOptions{Key: j.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(buf.String()), "dest.example") || strings.Contains(buf.String(), "Subject") {
		t.Fatalf("the journal holds an address or a subject:\n%s", buf.String())
	}
	var got []audit.Record
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r audit.Record
		if json.Unmarshal([]byte(l), &r) == nil && r.Kind != "" {
			got = append(got, r)
		}
	}
	want := []struct{ kind, actor, release, rule, reason string }{
		{audit.KindSend, "api:key_1", "immediate", "", ""},
		{audit.KindSend, "smtp", "rule", "to *.evil", "blocked"},
		{audit.KindSend, "api:key_1", "pending", "", ""},
		{audit.KindApprove, "cli", "", "", "looks fine"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.Actor != w.actor || g.Detail["release"] != w.release || g.Rule != w.rule || g.Reason != w.reason {
			t.Errorf("record %d = %+v, want %+v", i+1, g, w)
		}
	}
	if got[0].Rcpts[0] != j.RcptHash("bob@dest.example") || got[1].Detail["decided_by"] != "rule:2" ||
		got[3].Object != held.ID || got[3].Mailbox != "agent@example.com" {
		t.Errorf("records: %+v", got)
	}
}

// TestAuditConcurrentEnqueues: sends from many goroutines each get exactly one record, and
// the chain verifies (its order is the commit order, with no gap).
func TestAuditConcurrentEnqueues(t *testing.T) {
	db := memDB(t)
	j, err := audit.Open(db, audit.Options{Node: "q.test"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := Open(db, Options{Audit: j})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make(chan string, 200)
	for g := range 8 {
		wg.Go(func() {
			for range 25 {
				r, err := q.Enqueue(ctx, &Message{Mailbox: fmt.Sprintf("m%d@example.com", g), From: "a@example.com",
					To: []string{"x@dest.example"}, Body: []byte("Subject: s\r\n\r\nb\r\n")})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- r.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	var buf bytes.Buffer
	if err := j.Export(ctx, &buf, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(bytes.NewReader(buf.Bytes()), audit.VerifyOptions{Key: j.PublicKey()})
	if err != nil || rep.Records != 200 {
		t.Fatalf("%+v %v", rep, err)
	}
	for id := range ids {
		if c := strings.Count(buf.String(), `"object":"`+id+`"`); c != 1 {
			t.Errorf("message %s has %d records", id, c)
		}
	}
}
