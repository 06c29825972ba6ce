package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// TestSuppressedSend: a send to a suppressed address is 422 suppressed naming the field and
// why; ignore_suppression is 403 for a send key; the list is read, added to and deleted
// from over the API; another domain's list is 403.
func TestSuppressedSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if err := e.q.Suppress(ctx, queue.Suppression{Domain: "yourproduct.com", Address: "Gone@Example.com",
		Reason: queue.SuppressHardBounce, Detail: "5.1.1 no such user"}); err != nil {
		t.Fatal(err)
	}
	body := otpBody()
	body["to"] = "ok@example.com"
	body["bcc"] = []string{"x@example.com", "gone@example.com"}
	r := e.do("POST", "/v1/send_email", "send", body)
	code, field, msg := r.apiError(t)
	if r.status != http.StatusUnprocessableEntity || code != CodeSuppressed || field != "bcc[1]" ||
		!strings.Contains(msg, "gone@example.com") || !strings.Contains(msg, "hard_bounce") {
		t.Fatalf("suppressed send: %d %s", r.status, r.body)
	}
	body["ignore_suppression"] = true
	if r = e.do("POST", "/v1/send_email", "send", body); r.status != http.StatusForbidden {
		t.Fatalf("ignore_suppression with a send key: %d %s", r.status, r.body)
	}
	// the list over the API
	r = e.do("GET", "/v1/suppressions?domain=yourproduct.com", "send", nil)
	var list wire.SuppressionList
	r.json(t, &list)
	if len(list.Suppressions) != 1 || list.Suppressions[0].Address != "gone@example.com" || list.Suppressions[0].Reason != "hard_bounce" {
		t.Fatalf("list: %s", r.body)
	}
	r = e.do("POST", "/v1/suppressions", "send", map[string]any{"domain": "yourproduct.com", "address": "ok@example.com"})
	if r.status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	delete(body, "ignore_suppression")
	body["bcc"] = nil
	if r = e.do("POST", "/v1/send_email", "send", body); r.status != 422 {
		t.Fatalf("after a manual entry: %d %s", r.status, r.body)
	}
	e.addKey("ybadmin", mailbox.APIKey{Mailboxes: []string{ownA}, Scopes: []string{"admin"}})
	if r = e.do("DELETE", "/v1/suppressions?domain=yourproduct.com&address=OK@example.com", "ybadmin", nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r = e.do("POST", "/v1/send_email", "send", body); r.status != 202 {
		t.Fatalf("after delete: %d %s", r.status, r.body)
	}
	if r = e.do("GET", "/v1/suppressions?domain=other.example", "send", nil); r.status != 403 {
		t.Fatalf("another domain: %d %s", r.status, r.body)
	}
	for _, b := range []map[string]any{{"domain": "yourproduct.com", "address": "no-at"}, {"domain": "yourproduct.com", "address": "a@b\r\nX: y"}, {"address": "a@b.example"}} {
		if r = e.do("POST", "/v1/suppressions", "send", b); r.status != 400 {
			t.Errorf("%v: %d %s", b, r.status, r.body)
		}
	}
}
