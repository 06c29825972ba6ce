package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"multimail.dev/multimail/api/mcp"
)

// magicLinkArgs is the seed's MCP send_email invocation (with the obfuscated addresses
// written out).
func magicLinkArgs() map[string]any {
	return map[string]any{
		"mailbox_id": "auth@yourproduct.com",
		"to":         "user@example.com",
		"subject":    "Your secure sign-in link",
		"html":       "<p>Sign in here: <a href='https://app.yourproduct.com/auth/verify?token=aBcDeFgH'>Click to sign in</a></p><p>Expires in 10 minutes. One-time use only.</p><p style='color:#888;font-size:12px;'>If you did not request this, you can safely ignore this email.</p>",
		"text":       "Sign in: https://app.yourproduct.com/auth/verify?token=aBcDeFgH\nExpires in 10 minutes.",
		"priority":   "high",
		"tags":       []string{"auth", "magic-link"},
	}
}

// bearerTransport adds an API key to every request.
type bearerTransport struct{ key string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

func TestMCPOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	t.Run("no key is 401", func(t *testing.T) {
		r := e.do("POST", "/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		if r.status != 401 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		r = e.do("POST", "/mcp", "mm_live_wrong", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		if r.status != 401 {
			t.Fatalf("bad key: %d %s", r.status, r.body)
		}
	})
	tr := &sdk.StreamableClientTransport{Endpoint: e.http.URL + "/mcp",
		HTTPClient: &http.Client{Transport: bearerTransport{e.keys["send"]}}, MaxRetries: -1}
	exerciseMCP(t, e, tr)
}

func TestMCPOverStdio(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serverIn, clientOut := io.Pipe()
	clientIn, serverOut := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- mcp.RunStdio(ctx, e.http.URL, e.keys["send"], serverIn, serverOut) }()
	exerciseMCP(t, e, &sdk.IOTransport{Reader: clientIn, Writer: clientOut})
	_ = clientOut.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("RunStdio did not return after stdin closed")
	}
}

// exerciseMCP lists the tools, sends the seed's magic link and makes a bad call.
func exerciseMCP(t *testing.T, e *testEnv, tr sdk.Transport) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		if tl.Description == "" || tl.InputSchema == nil {
			t.Errorf("tool %s lacks a description or schema", tl.Name)
		}
	}
	want := mcp.ToolNames()
	slices.Sort(want)
	slices.Sort(names)
	if !slices.Equal(names, want) || len(names) != 35 { // 19 of mail, approvals and sending, 14 of oversight controls, 2 of the test outbox
		t.Fatalf("tools %v", names)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "send_email", Arguments: magicLinkArgs()})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("send_email failed: %s", toolText(res))
	}
	var sent struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
		QueuedAt  string `json:"queued_at"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &sent); err != nil || !strings.HasPrefix(sent.MessageID, "msg_") || sent.Status != "queued" {
		t.Fatalf("structured %s (%v)", b, err)
	}
	var fromText, fromStructured any
	_ = json.Unmarshal([]byte(toolText(res)), &fromText)
	_ = json.Unmarshal(b, &fromStructured)
	if !reflect.DeepEqual(fromText, fromStructured) {
		t.Errorf("text %q differs from structuredContent %s", toolText(res), b)
	}
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "get_message", Arguments: map[string]any{"message_id": sent.MessageID}})
	if err != nil || res.IsError || !strings.Contains(toolText(res), `"recipients"`) {
		t.Fatalf("get_message: %v %s", err, toolText(res))
	}
	bad := magicLinkArgs()
	bad["subject"] = "line\r\nBcc: x@example.com"
	for name, args := range map[string]map[string]any{"send_email": bad, "read_email": {}} {
		res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"send_email": `"field":"subject"`, "read_email": `"field":"email_id"`}[name]
		if !res.IsError || !strings.Contains(toolText(res), want) {
			t.Errorf("%s bad call: error=%v %s", name, res.IsError, toolText(res))
		}
	}
}

func toolText(res *sdk.CallToolResult) string {
	if len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*sdk.TextContent); ok {
		return tc.Text
	}
	return ""
}

func TestMCPApprovals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := otpBody()
	body["mailbox_id"] = "gated@example.com"
	if r := e.do("POST", "/v1/send_email", "gated", body); r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &sdk.StreamableClientTransport{Endpoint: e.http.URL + "/mcp",
		HTTPClient: &http.Client{Transport: bearerTransport{e.keys["admin"]}}, MaxRetries: -1}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	call := func(name string, args map[string]any) (*sdk.CallToolResult, map[string]any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(toolText(res)), &out)
		return res, out
	}
	_, list := call("list_pending", map[string]any{"state": "pending", "limit": 10})
	aps, _ := list["approvals"].([]any)
	if len(aps) != 1 {
		t.Fatalf("list_pending: %v", list)
	}
	id := aps[0].(map[string]any)["approval_id"].(string)
	for _, bad := range []any{"maybe", "approve/../reject", nil} {
		res, _ := call("decide_email", map[string]any{"approval_id": id, "decision": bad})
		if !res.IsError || !strings.Contains(toolText(res), `"field":"decision"`) {
			t.Fatalf("decide_email decision=%v: %s", bad, toolText(res))
		}
	}
	res, out := call("decide_email", map[string]any{"approval_id": id, "decision": "approve", "reason": "ok by mcp"})
	if res.IsError || out["state"] != "approved" || out["by"] != "mcp:key_admin" {
		t.Fatalf("decide_email approve: %s", toolText(res))
	}
	res, _ = call("decide_email", map[string]any{"approval_id": id, "decision": "reject"})
	if !res.IsError || !strings.Contains(toolText(res), `"conflict"`) {
		t.Fatalf("reject after approve: %s", toolText(res))
	}
}
