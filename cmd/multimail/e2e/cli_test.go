package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cli runs an admin command of the real binary against the node's data directory.
func (n *Node) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append(args, "--config", n.Config)
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = n.Dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *Node) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := n.cli(t, args...)
	if err != nil {
		t.Fatalf("multimail %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

var apiKeyLine = regexp.MustCompile(`(?m)^(mm_live_\S+)$`)

// TestAdminCLI drives the admin commands against a running server: a new domain and its DNS
// records, a gated mailbox, a key for it, a send that waits for approval, the approval, the
// delivery, and the queue views.
func TestAdminCLI(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	out := n.mustCLI(t, "domain", "add", "agents.test", "--key-type", "ed25519")
	if !strings.Contains(out, "agents.test") || !strings.Contains(out, "v=DKIM1") {
		t.Errorf("domain add:\n%s", out)
	}
	out = n.mustCLI(t, "domain", "dns", "agents.test")
	for _, want := range []string{"MX", "v=spf1", "mm1._domainkey.agents.test", "k=ed25519", "_dmarc.agents.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("domain dns lacks %q:\n%s", want, out)
		}
	}
	out = n.mustCLI(t, "mailbox", "add", "bot@agents.test", "--oversight", "gated_send")
	if !strings.Contains(out, "gated_send") || !strings.Contains(out, "password") {
		t.Errorf("mailbox add:\n%s", out)
	}
	out = n.mustCLI(t, "key", "create", "--mailbox", "bot@agents.test", "--scope", "send,read")
	m := apiKeyLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("key create printed no key:\n%s", out)
	}
	key := m[1]
	code, body := n.Do("POST", "/v1/send_email", key, []byte(`{"mailbox_id":"bot@agents.test","to":"someone@customer.test","subject":"needs a human","text":"hi"}`))
	if code != 202 || !strings.Contains(string(body), "pending_approval") {
		t.Fatalf("gated send = %d %s", code, body)
	}
	out = n.mustCLI(t, "approvals", "list")
	ids := regexp.MustCompile(`apr_[0-9A-Za-z]+`).FindAllString(out, -1)
	if len(ids) != 1 || !strings.Contains(out, "needs a human") {
		t.Fatalf("approvals list:\n%s", out)
	}
	if n.MX.Count() != 0 {
		t.Fatal("a gated message was delivered before approval")
	}
	out = n.mustCLI(t, "approvals", "approve", ids[0], "--reason", "looks fine")
	if !strings.Contains(out, "approved") {
		t.Errorf("approve:\n%s", out)
	}
	if _, err := n.MX.WaitFor(Context(t, 30*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	out = n.mustCLI(t, "queue", "list")
	if !strings.Contains(out, "MESSAGE") {
		t.Errorf("queue list:\n%s", out)
	}
	msgID := regexp.MustCompile(`msg_[0-9A-Za-z]+`).FindString(string(body))
	out = n.mustCLI(t, "queue", "show", msgID)
	for _, want := range []string{"pending_approval", "approved", "looks fine", "delivered"} {
		if !strings.Contains(out, want) {
			t.Errorf("queue show lacks %q:\n%s", want, out)
		}
	}
	out = n.mustCLI(t, "send", "--from", Sender, "--to", "cli@customer.test", "--subject", "from the cli", "--text", "hello")
	if !strings.Contains(out, "msg_") || !strings.Contains(out, "queued") {
		t.Errorf("send:\n%s", out)
	}
	if _, err := n.MX.WaitFor(Context(t, 30*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	if out, err := n.cli(t, "approvals", "approve", "apr_nope"); err == nil || !strings.Contains(out, "not") {
		t.Errorf("approving an unknown id: err %v\n%s", err, out)
	}
}

// TestCLIHelpAndNoServer: every command has --help, and an admin command without a running
// server says so and exits non-zero.
func TestCLIHelpAndNoServer(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"serve", "domain", "mailbox", "key", "queue", "approvals", "audit", "send", "mcp", "version"} {
		out, err := exec.Command(Binary(t), c, "--help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "usage: multimail "+c) {
			t.Errorf("%s --help: %v\n%s", c, err, out)
		}
	}
	cmd := exec.Command(Binary(t), "queue", "list", "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no running server") {
		t.Errorf("queue list without a server: %v\n%s", err, out)
	}
}
