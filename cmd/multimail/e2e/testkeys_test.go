package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var testKeyLine = regexp.MustCompile(`(?m)^(mm_test_\S+)$`)

// TestTestKeyNeverDelivers: a test key made by `multimail key create --test` sends through
// every door (the HTTP API, MCP over /mcp and over stdio, SMTP submission with the key as the
// password, the Python SDK); each send fires its webhooks with "test": true and ends
// delivered to the test sink, and the harness MX, which receives a live send made after them
// all, never sees one. A live key never sees a test message, nor a test key a live one.
func TestTestKeyNeverDelivers(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	m := testKeyLine.FindStringSubmatch(n.mustCLI(t, "key", "create", "--mailbox", Sender, "--test"))
	if m == nil {
		t.Fatal("no mm_test_ key printed")
	}
	key := m[1]
	if out := n.mustCLI(t, "key", "list"); !regexp.MustCompile(`(?m)\stest\s*$`).MatchString(out) {
		t.Errorf("key list does not mark the test key:\n%s", out)
	}
	ctx := Context(t, 90*time.Second)
	var ids []string

	// HTTP API
	code, out := n.Do("POST", "/v1/send_email", key, []byte(fmt.Sprintf(
		`{"mailbox_id":%q,"to":"api@customer.test","subject":"test api","text":"never delivered"}`, Sender)))
	if code != 202 {
		t.Fatalf("API send: %d %s", code, out)
	}
	var r sendResp
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, r.MessageID)

	// MCP over /mcp and over stdio
	mcpSend := func(tr mcp.Transport, to string) {
		t.Helper()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_email", Arguments: map[string]any{
			"mailbox_id": Sender, "to": to, "subject": "test mcp", "text": "never delivered"}})
		if err != nil || res.IsError {
			t.Fatalf("send_email over MCP: %v %+v", err, res)
		}
		b, _ := json.Marshal(res.StructuredContent)
		var r sendResp
		if json.Unmarshal(b, &r) != nil || r.MessageID == "" {
			t.Fatalf("structuredContent %s", b)
		}
		ids = append(ids, r.MessageID)
	}
	mcpSend(&mcp.StreamableClientTransport{Endpoint: n.URL("/mcp"), HTTPClient: &http.Client{Transport: bearer{key}},
		DisableStandaloneSSE: true, MaxRetries: -1}, "mcp-http@customer.test")
	cmd := exec.Command(Binary(t), "mcp")
	cmd.Env = append(os.Environ(), "MULTIMAIL_API_URL="+n.URL(""), "MULTIMAIL_API_KEY="+key)
	mcpSend(&mcp.CommandTransport{Command: cmd}, "mcp-stdio@customer.test")

	// SMTP submission, the key as the password
	c, err := smtp.DialTLS(Addr(n.Ports.Submissions), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", Sender, key)); err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprintf("From: <%s>\r\nTo: <smtp@customer.test>\r\nSubject: test smtp\r\n\r\nnever delivered\r\n", Sender)
	if err := c.SendMail(Sender, []string{"smtp@customer.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	smtpHook, err := n.Hooks.WaitFor(ctx, func(h Hook) bool {
		return h.Type() == "queued" && !contains(ids, h.MessageID())
	})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, smtpHook.MessageID())

	// the Python SDK
	py := Tool(t, "python3")
	pyOut := runPython(t, py, pythonEnv(t, n, "MULTIMAIL_API_KEY="+key), 60*time.Second, "-c", fmt.Sprintf(`
import multimail
c = multimail.MultimailClient()
assert c.test_mode
r = c.send_email(mailbox_id=%q, to="sdk@customer.test", subject="test sdk", text="never delivered")
print(r.message_id)
`, Sender))
	ids = append(ids, strings.TrimSpace(pyOut))

	for _, id := range ids {
		h, err := n.Hooks.WaitEvent(ctx, id, "delivered")
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if h.Event["test"] != true || h.Event["mx_host"] != "test-sink.invalid" {
			t.Errorf("%s: delivered webhook %v", id, h.Event)
		}
		for _, hk := range n.Hooks.Hooks() {
			if hk.MessageID() == id && hk.Event["test"] != true {
				t.Errorf("%s: %s webhook without \"test\": true", id, hk.Type())
			}
		}
		if code, out := n.Do("GET", "/v1/messages/"+id, key, nil); code != 200 || !strings.Contains(string(out), `"test":true`) {
			t.Errorf("test key reads %s: %d %s", id, code, out)
		}
		if code, _ := n.Do("GET", "/v1/messages/"+id, APIKey, nil); code != 404 {
			t.Errorf("a live key reads test message %s: %d", id, code)
		}
	}

	// a live send after them all: the MX sees it, and only it
	live := send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":"live@customer.test","subject":"live","text":"delivered"}`, Sender))
	if _, err := n.Hooks.WaitEvent(ctx, live.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
	if code, _ := n.Do("GET", "/v1/messages/"+live.MessageID, key, nil); code != 404 {
		t.Errorf("a test key reads a live message: %d", code)
	}
	for _, mm := range n.MX.Messages() {
		if strings.Contains(string(mm.Data), "never delivered") || strings.Contains(string(mm.Data), "Subject: test ") {
			t.Errorf("a test message reached the MX:\n%s", mm.Data)
		}
	}
	if got := len(n.MX.Messages()); got != 1 {
		t.Errorf("the MX received %d messages, want the live one only", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
