package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// sendAPI sends one message through the API as Sender and returns its id.
func sendAPI(t *testing.T, n *Node, to, subject string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"mailbox_id": Sender, "to": to, "subject": subject, "text": "hi"})
	code, out := n.Do("POST", "/v1/send_email", APIKey, body)
	if code != 202 {
		t.Fatalf("send = %d %s", code, out)
	}
	var r struct {
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r.MessageID
}

// TestHonestCLI: the admin CLI refuses what would do nothing (retry of a delivered or
// bounced message, delete of a delivered one: exit 1 with why, 409 on the API), revokes
// keys, deletes mailboxes and domains only when confirmed and says what goes, pages the
// queue, and sends with Cc, Bcc, Reply-To and attachments.
func TestHonestCLI(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	ctx := Context(t, 60*time.Second)

	delivered := sendAPI(t, n, "someone@customer.test", "one")
	bounced := sendAPI(t, n, "reject-1@customer.test", "two")
	waitStatus(t, n, delivered, "delivered")
	waitStatus(t, n, bounced, "bounced")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"queue", "retry", delivered}, "nothing to retry"},
		{[]string{"queue", "retry", bounced}, "nothing to retry"},
		{[]string{"queue", "delete", delivered}, "nothing left to delete"},
	} {
		out, err := n.cli(t, c.args...)
		if err == nil || !strings.Contains(out, c.want) || !strings.Contains(out, "conflict") {
			t.Errorf("multimail %s: err %v, want exit 1 saying %q:\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
	if code, body := n.Do("POST", "/v1/admin/queue/"+delivered+"/retry", "", nil); code != 401 {
		t.Errorf("retry without a key = %d %s", code, body)
	}

	// Paging: one per page, the second page by --cursor, and --all.
	out, err := n.cli(t, "queue", "list", "--limit", "1")
	if err != nil || !strings.Contains(out, delivered) || strings.Contains(out, bounced) {
		t.Fatalf("queue list --limit 1: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`--cursor (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("queue list --limit 1 did not say how to get the next page:\n%s", out)
	}
	if out := n.mustCLI(t, "queue", "list", "--limit", "1", "--cursor", m[1]); !strings.Contains(out, bounced) || strings.Contains(out, delivered) {
		t.Errorf("second page:\n%s", out)
	}
	if out := n.mustCLI(t, "queue", "list", "--limit", "1", "--all"); !strings.Contains(out, bounced) || !strings.Contains(out, delivered) {
		t.Errorf("--all:\n%s", out)
	}
	if out := n.mustCLI(t, "queue", "list", "--state", "bounced", "--mailbox", Sender); !strings.Contains(out, bounced) || strings.Contains(out, delivered) {
		t.Errorf("--state bounced:\n%s", out)
	}

	// send with Cc, Bcc, Reply-To and an attachment.
	att := filepath.Join(t.TempDir(), "report.csv")
	if err := os.WriteFile(att, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := n.MX.Count()
	n.mustCLI(t, "send", "--from", Sender, "--to", "to@customer.test", "--cc", "cc@customer.test", "--bcc", "bcc@customer.test",
		"--reply-to", "replies@example.com", "--subject", "with parts", "--text", "see attached", "--attach", att)
	msgs, err := n.MX.WaitUntil(ctx, func(ms []mtatest.Message) bool {
		rcpts := 0
		for _, m := range ms[before:] {
			rcpts += len(m.To)
		}
		return rcpts >= 3
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := string(msgs[len(msgs)-1].Data)
	for _, want := range []string{`(?m)^Cc: .*cc@customer\.test`, `(?m)^Reply-To: .*replies@example\.com`, `filename=report\.csv`} {
		if !regexp.MustCompile(want).MatchString(raw) {
			t.Errorf("sent message lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "bcc@customer.test") {
		t.Errorf("Bcc shows in the message:\n%s", raw)
	}

	// key revoke: the key stops working.
	out = n.mustCLI(t, "key", "create", "--mailbox", Sender, "--scope", "read")
	key := apiKeyLine.FindStringSubmatch(out)[1]
	if code, _ := n.Do("GET", "/v1/mailboxes/"+Sender+"/emails", key, nil); code != 200 {
		t.Fatalf("new key = %d", code)
	}
	id := regexp.MustCompile(`key (key_[0-9a-z]+) for`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("key create did not name the key:\n%s", out)
	}
	if out := n.mustCLI(t, "key", "revoke", id[1]); !strings.Contains(out, "revoked") {
		t.Errorf("key revoke:\n%s", out)
	}
	if code, _ := n.Do("GET", "/v1/mailboxes/"+Sender+"/emails", key, nil); code != 401 {
		t.Errorf("a revoked key = %d, want 401", code)
	}
	if out, err := n.cli(t, "key", "revoke", id[1]); err == nil {
		t.Errorf("revoking twice succeeded:\n%s", out)
	}

	// mailbox delete: refused without --yes, saying what would go; then done.
	n.mustCLI(t, "mailbox", "add", "leaving@example.com", "--oversight", "autonomous")
	sendAPI(t, n, "leaving@example.com", "stored mail")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := n.cli(t, "mailbox", "delete", "leaving@example.com")
		if strings.Contains(out, "1 stored emails") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err = n.cli(t, "mailbox", "delete", "leaving@example.com")
	if err == nil || !strings.Contains(out, "1 stored emails") || !strings.Contains(out, "confirm") {
		t.Fatalf("mailbox delete without --yes: %v\n%s", err, out)
	}
	out = n.mustCLI(t, "mailbox", "delete", "leaving@example.com", "--yes")
	if !strings.Contains(out, "1 emails") || !strings.Contains(out, "config file") {
		t.Errorf("mailbox delete --yes:\n%s", out)
	}
	if out := n.mustCLI(t, "mailbox", "list"); strings.Contains(out, "leaving@") {
		t.Errorf("deleted mailbox still listed:\n%s", out)
	}

	// domain delete: refused while it has mailboxes, then with --yes.
	out, err = n.cli(t, "domain", "delete", Domain, "--yes")
	if err == nil || !strings.Contains(out, "delete them first") {
		t.Errorf("domain delete with mailboxes: %v\n%s", err, out)
	}
	n.mustCLI(t, "domain", "add", "short-lived.test", "--key-type", "ed25519")
	if out, err := n.cli(t, "domain", "delete", "short-lived.test"); err == nil || !strings.Contains(out, "DKIM") {
		t.Errorf("domain delete without --yes: %v\n%s", err, out)
	}
	if out := n.mustCLI(t, "domain", "delete", "short-lived.test", "--yes"); !strings.Contains(out, "deleted") {
		t.Errorf("domain delete --yes:\n%s", out)
	}
	// Every one of those admin actions is in the log.
	if c := strings.Count(n.Output(), "admin action"); c < 4 {
		t.Errorf("%d admin actions logged, want at least 4", c)
	}
}

// TestBannerFormats: a node with a config never says "dev default"; with --log-format json
// the banner is one JSON log record; /metrics has multimail_build_info.
func TestBannerFormats(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	if out := n.Output(); strings.Contains(out, "dev default") || !strings.Contains(out, "ready in") {
		t.Errorf("banner with a config:\n%s", out)
	}
	id := sendAPI(t, n, "someone@customer.test", "for the metrics")
	waitStatus(t, n, id, "delivered")
	if _, err := n.Hooks.WaitEvent(Context(t, 30*time.Second), id, "delivered"); err != nil {
		t.Fatal(err)
	}
	code, body := n.Do("GET", "/metrics", "", nil)
	for _, m := range []string{"multimail_build_info{", "multimail_webhook_deliveries_total", "multimail_webhook_lag_seconds", "multimail_queue_oldest_age_seconds"} {
		if code != 200 || !strings.Contains(string(body), m) {
			t.Errorf("/metrics (%d) lacks %s", code, m)
		}
	}
	j := Start(t, Options{Args: []string{"--log-format", "json"}})
	ready := 0
	for _, line := range strings.Split(j.Output(), "\n") {
		if !strings.Contains(line, "multimail ready") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("banner line is not JSON: %v: %s", err, line)
		}
		ready++
		if rec["dev_default"] != false || rec["listeners"] == nil {
			t.Errorf("banner record: %s", line)
		}
	}
	if ready != 1 || strings.Contains(j.Output(), "ready in") {
		t.Errorf("%d JSON banner records, want 1, and no text banner:\n%s", ready, j.Output())
	}
}
