package api

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/internal/interoptest"
)

// TestSeedCurlOTP runs the seed's curl example with the real curl against a real listener.
func TestSeedCurlOTP(t *testing.T) {
	t.Parallel()
	interoptest.Tool(t, "curl")
	script, err := os.ReadFile("testdata/seed_otp_curl.sh")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{})
	cmdText := strings.ReplaceAll(string(script), "https://api.multimail.dev", e.http.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdText)
	cmd.Env = append(os.Environ(), "MULTIMAIL_API_KEY="+e.keys["send"])
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var resp struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
		QueuedAt  string `json:"queued_at"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %q: %v", out, err)
	}
	if !strings.HasPrefix(resp.MessageID, "msg_") || resp.Status != "queued" || resp.QueuedAt == "" {
		t.Fatalf("response %s", out)
	}
	r := e.do("GET", "/v1/messages/"+resp.MessageID, "send", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"priority":"high"`) {
		t.Fatalf("message: %d %s", r.status, r.body)
	}
}
