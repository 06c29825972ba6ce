package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
)

// TestTestOutboxAPI: a test key's send that reached the sink is listed in its mailbox's test
// outbox (newest first, paged) and read as message/rfc822 with nosniff, signed with the test
// selector; the operator reads it too; a live agent key gets 404 on both routes; a bad
// cursor names its field; the MCP tools list it and give the bytes.
func TestTestOutboxAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	first := sinkTestMessage(t, e) // key "outbox_test", ownA
	second := sinkTestMessage(t, e)

	var page wire.TestOutbox
	r := e.do("GET", "/v1/mailboxes/"+ownA+"/test_outbox?limit=1", "outbox_test", nil)
	r.json(t, &page)
	if r.status != 200 || len(page.Messages) != 1 || page.Messages[0].MessageID != second || page.NextCursor == "" {
		t.Fatalf("page 1: %d %s", r.status, r.body)
	}
	it := page.Messages[0]
	if len(it.To) != 1 || it.To[0] != "user@example.com" || it.Subject != "Your one-time sign-in code" || it.Size == 0 ||
		it.QueuedAt.IsZero() || it.DeliveredAt.IsZero() || !it.ExpiresAt.After(it.DeliveredAt) {
		t.Fatalf("item %s", r.body)
	}
	r = e.do("GET", "/v1/mailboxes/"+ownA+"/test_outbox?limit=1&cursor="+page.NextCursor, "admin", nil)
	r.json(t, &page)
	if r.status != 200 || len(page.Messages) != 1 || page.Messages[0].MessageID != first {
		t.Fatalf("page 2 as the operator: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/v1/mailboxes/"+ownA+"/test_outbox?cursor=msg_bogus", "outbox_test", nil)
	if _, field, _ := r.apiError(t); r.status != 400 || field != "cursor" {
		t.Fatalf("bad cursor: %d %s", r.status, r.body)
	}

	r = e.do("GET", "/v1/mailboxes/"+ownA+"/test_outbox/"+first, "outbox_test", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "message/rfc822" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("read: %d %v %s", r.status, r.header, r.body)
	}
	if !strings.Contains(string(r.body), "s=mmtest;") || !strings.Contains(string(r.body), "847291") {
		t.Fatalf("bytes:\n%s", r.body)
	}
	for _, path := range []string{"/test_outbox", "/test_outbox/" + first} {
		if r := e.do("GET", "/v1/mailboxes/"+ownA+path, "send", nil); r.status != 404 {
			t.Fatalf("a live agent key reads %s: %d %s", path, r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/mailboxes/"+ownA+"/test_outbox/"+e.send(otpBody()), "outbox_test", nil); r.status != 404 {
		t.Fatalf("a live message in the test outbox: %d %s", r.status, r.body)
	}
	e.addKey("other_test", mailbox.APIKey{Mailboxes: []string{otherM}, Scopes: []string{"send", "read"}, Test: true})
	if r := e.do("GET", "/v1/mailboxes/"+ownA+"/test_outbox/"+first, "other_test", nil); r.status != 403 {
		t.Fatalf("another mailbox's test key: %d %s", r.status, r.body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &sdk.StreamableClientTransport{Endpoint: e.http.URL + "/mcp",
		HTTPClient: &http.Client{Transport: bearerTransport{e.keys["outbox_test"]}}, MaxRetries: -1}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "list_test_outbox", Arguments: map[string]any{"mailbox_id": ownA}})
	if err != nil || res.IsError || !strings.Contains(toolText(res), first) || !strings.Contains(toolText(res), second) {
		t.Fatalf("list_test_outbox: %v %s", err, toolText(res))
	}
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "read_test_message", Arguments: map[string]any{"mailbox_id": ownA, "message_id": first}})
	if err != nil || res.IsError {
		t.Fatalf("read_test_message: %v %s", err, toolText(res))
	}
	var raw struct {
		ContentType string `json:"content_type"`
		Raw         string `json:"raw"`
		Size        int    `json:"size"`
	}
	if err := json.Unmarshal([]byte(toolText(res)), &raw); err != nil || raw.ContentType != "message/rfc822" ||
		!strings.Contains(raw.Raw, "s=mmtest;") || raw.Size != len(raw.Raw) {
		t.Fatalf("read_test_message: %v %s", err, toolText(res))
	}
}
