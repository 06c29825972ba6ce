package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestTestOutboxKeepsSignedBytes: a test key's send goes through the binary to the test sink
// and lands in the mailbox's test outbox with its DKIM-signed bytes (selector mmtest, never
// the published mm1); the test key reads the list and the bytes over HTTP (message/rfc822,
// nosniff), MCP over stdio and the Python SDK; the live agent key gets 404; the harness MX
// receives nothing but a live send made afterwards.
func TestTestOutboxKeepsSignedBytes(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	m := testKeyLine.FindStringSubmatch(n.mustCLI(t, "key", "create", "--mailbox", Sender, "--test"))
	if m == nil {
		t.Fatal("no mm_test_ key printed")
	}
	key := m[1]
	ctx := Context(t, 90*time.Second)
	code, out := n.Do("POST", "/v1/send_email", key, []byte(fmt.Sprintf(
		`{"mailbox_id":%q,"to":["a@customer.test","b@other.test"],"subject":"Your login code","text":"code 318274, never delivered"}`, Sender)))
	if code != 202 {
		t.Fatalf("test send: %d %s", code, out)
	}
	var r sendResp
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	for range 2 { // one delivered webhook per recipient
		if _, err := n.Hooks.WaitEvent(ctx, r.MessageID, "delivered"); err != nil {
			t.Fatal(err)
		}
	}
	outbox := "/v1/mailboxes/" + Sender + "/test_outbox"
	var list struct {
		Messages []struct {
			MessageID   string   `json:"message_id"`
			To          []string `json:"to"`
			Subject     string   `json:"subject"`
			DeliveredAt string   `json:"delivered_at"`
			Size        int      `json:"size"`
		} `json:"messages"`
	}
	// the second recipient's domain may reach the sink a moment after the first
	for i := 0; ; i++ {
		code, out = n.Do("GET", outbox, key, nil)
		if code != 200 || json.Unmarshal(out, &list) != nil {
			t.Fatalf("list: %d %s", code, out)
		}
		if len(list.Messages) == 1 && len(list.Messages[0].To) == 2 || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list.Messages) != 1 || list.Messages[0].MessageID != r.MessageID || len(list.Messages[0].To) != 2 ||
		list.Messages[0].Subject != "Your login code" || list.Messages[0].DeliveredAt == "" || list.Messages[0].Size == 0 {
		t.Fatalf("test outbox: %s", out)
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL(outbox+"/"+r.MessageID), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "message/rfc822" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("read: %d %v\n%s", resp.StatusCode, resp.Header, raw)
	}
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	if !strings.Contains(head, "DKIM-Signature:") || !strings.Contains(head, "s=mmtest;") || strings.Contains(head, "s=mm1;") ||
		!strings.Contains(head, "d="+Domain+";") || !strings.Contains(string(raw), "318274") {
		t.Fatalf("test outbox bytes are not the mmtest-signed message:\n%s", raw)
	}
	if len(raw) != list.Messages[0].Size {
		t.Errorf("size %d, bytes %d", list.Messages[0].Size, len(raw))
	}
	for _, p := range []string{outbox, outbox + "/" + r.MessageID} {
		if code, out := n.Do("GET", p, APIKey, nil); code != 404 {
			t.Errorf("the live key reads %s: %d %s", p, code, out)
		}
	}

	// MCP over stdio: read_test_message gives the same bytes
	cmd := exec.Command(Binary(t), "mcp")
	cmd.Env = append(os.Environ(), "MULTIMAIL_API_URL="+n.URL(""), "MULTIMAIL_API_KEY="+key)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_test_message", Arguments: map[string]any{"mailbox_id": Sender, "message_id": r.MessageID}})
	if err != nil || res.IsError {
		t.Fatalf("read_test_message: %v %+v", err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var got struct {
		Raw string `json:"raw"`
	}
	if json.Unmarshal(b, &got) != nil || got.Raw != string(raw) {
		t.Errorf("read_test_message over stdio: %s", b)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_test_outbox", Arguments: map[string]any{"mailbox_id": Sender}})
	if err != nil || res.IsError {
		t.Fatalf("list_test_outbox: %v %+v", err, res)
	}
	if b, _ := json.Marshal(res.StructuredContent); !strings.Contains(string(b), r.MessageID) {
		t.Errorf("list_test_outbox over stdio: %s", b)
	}
	_ = cs.Close()

	// the Python SDK
	py := Tool(t, "python3")
	pyOut := runPython(t, py, pythonEnv(t, n, "MULTIMAIL_API_KEY="+key), 60*time.Second, "-c", fmt.Sprintf(`
import multimail
c = multimail.MultimailClient()
page = c.list_test_outbox(%q)
assert [m.message_id for m in page.messages] == [%q], page
d = c.read_test_message(%q, %q)
assert b"s=mmtest;" in d.content and d.content_type == "message/rfc822", d
print(len(d.content))
`, Sender, r.MessageID, Sender, r.MessageID))
	if strings.TrimSpace(pyOut) != fmt.Sprint(len(raw)) {
		t.Errorf("SDK read %s bytes, want %d", pyOut, len(raw))
	}

	// a live send afterwards: the MX sees it, and only it
	live := send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":"live@customer.test","subject":"live","text":"delivered"}`, Sender))
	if _, err := n.Hooks.WaitEvent(ctx, live.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
	for _, mm := range n.MX.Messages() {
		if strings.Contains(string(mm.Data), "318274") {
			t.Errorf("a test message reached the MX:\n%s", mm.Data)
		}
	}
	if got := len(n.MX.Messages()); got != 1 {
		t.Errorf("the MX received %d messages, want the live one only", got)
	}
	if code, out := n.Do("GET", outbox, key, nil); code != 200 || strings.Contains(string(out), live.MessageID) {
		t.Errorf("a live message in the test outbox: %d %s", code, out)
	}
}
