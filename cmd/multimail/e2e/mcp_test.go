package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMCPStdioBinary drives `multimail mcp` (the real subcommand, a client of the running
// server) with the go-sdk client: it lists the tools and sends the seed's magic link, which
// reaches the MX.
func TestMCPStdioBinary(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	cmd := exec.Command(Binary(t), "mcp")
	cmd.Env = append(os.Environ(), "MULTIMAIL_API_URL="+n.URL(""), "MULTIMAIL_API_KEY="+APIKey)
	ctx := Context(t, 60*time.Second)
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, tool := range tools.Tools {
		have[tool.Name] = true
	}
	for _, want := range []string{"send_email", "list_emails", "read_email", "tag_email", "get_message", "list_pending", "decide_email", "reply_email", "check_inbox", "cancel_message"} {
		if !have[want] {
			t.Errorf("tool %s missing (have %v)", want, have)
		}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_email", Arguments: map[string]any{
		"mailbox_id": Sender,
		"to":         "user@customer.test",
		"subject":    "Your secure sign-in link",
		"html":       "<p>Sign in here: <a href='https://app.yourproduct.com/auth/verify?token=aBcDeFgH'>Click to sign in</a></p><p>Expires in 10 minutes. One-time use only.</p>",
		"text":       "Sign in: https://app.yourproduct.com/auth/verify?token=aBcDeFgH\nExpires in 10 minutes.",
		"priority":   "high",
		"tags":       []string{"auth", "magic-link"},
	}})
	if err != nil || res.IsError {
		t.Fatalf("send_email tool: %v %+v", err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var r sendResp
	if json.Unmarshal(b, &r) != nil || r.Status != "queued" {
		t.Fatalf("structuredContent %s", b)
	}
	if _, err := n.Hooks.WaitEvent(ctx, r.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
	bad, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_email", Arguments: map[string]any{"mailbox_id": Sender}})
	if err != nil || !bad.IsError {
		t.Errorf("a send without to is not a tool error: %v %+v", err, bad)
	}
}

// bearer adds an API key to every request.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// TestMCPStreamableHTTP calls the tools over /mcp on the HTTP listener with an API key, and
// checks that /mcp refuses a request without one.
func TestMCPStreamableHTTP(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	if code, _ := n.Do("POST", "/mcp", "", []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)); code != 401 {
		t.Errorf("/mcp without a key = %d, want 401", code)
	}
	ctx := Context(t, 60*time.Second)
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: n.URL("/mcp"), HTTPClient: &http.Client{Transport: bearer{APIKey}},
		DisableStandaloneSSE: true, MaxRetries: -1}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_email", Arguments: map[string]any{
		"mailbox_id": Sender, "to": "mcp-http@customer.test", "subject": "over /mcp", "text": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("send_email over /mcp: %v %+v", err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var r sendResp
	if json.Unmarshal(b, &r) != nil || r.MessageID == "" {
		t.Fatalf("structuredContent %s", b)
	}
	got, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_message", Arguments: map[string]any{"message_id": r.MessageID}})
	if err != nil || got.IsError {
		t.Fatalf("get_message: %v %+v", err, got)
	}
}
