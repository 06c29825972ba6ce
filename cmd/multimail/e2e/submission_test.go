package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// TestSubmissionInteropClients submits with python's smtplib and swaks over both submission
// ports, and checks the refusals of docs/api.md, SMTP with the exact codes.
func TestSubmissionInteropClients(t *testing.T) {
	t.Parallel()
	py := Tool(t, "python3")
	swaks := Tool(t, "swaks")
	n := Start(t, Options{})
	script := fmt.Sprintf(`
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
S, P, KEY = %q, %q, %q
msg = "From: %%s\r\nTo: py@customer.test\r\nSubject: via smtplib\r\n\r\nhi\r\n" %% S
s = smtplib.SMTP("127.0.0.1", %d)
s.ehlo()
code, _ = s.docmd("AUTH", "PLAIN AGF1dGhAZXhhbXBsZS5jb20AeA==")
assert code in (523, 530, 538), ("AUTH before TLS", code)
try:
    s.sendmail(S, ["py@customer.test"], msg); raise SystemExit("unauthenticated send accepted")
except smtplib.SMTPSenderRefused as e:
    assert e.smtp_code == 530, e
s.starttls(context=ctx); s.ehlo()
try:
    s.login(S, "wrong"); raise SystemExit("wrong password accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.login(S, P)
try:
    s.sendmail("other@example.com", ["py@customer.test"], msg); raise SystemExit("forged sender accepted")
except smtplib.SMTPSenderRefused as e:
    assert e.smtp_code == 553, e
try:
    s.sendmail(S, ["py@customer.test"], msg.replace("From: " + S, "From: ceo@example.com"))
    raise SystemExit("forged From accepted")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 553, e
s.sendmail(S, ["py@customer.test"], msg)
s.quit()
t = smtplib.SMTP_SSL("127.0.0.1", %d, context=ctx)
t.login(S, KEY)
t.sendmail(S, ["py2@customer.test"], msg)
t.quit()
print("ok")
`, Sender, Password, APIKey, n.Ports.Submission, n.Ports.Submissions)
	if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"--server", Addr(n.Ports.Submission), "--tls"},
		{"--server", Addr(n.Ports.Submissions), "--tls-on-connect"},
	} {
		args = append(args, "--auth", "PLAIN", "--auth-user", Sender, "--auth-password", Password,
			"--from", Sender, "--to", "swaks@customer.test", "--h-Subject", "via swaks")
		if out, err := exec.Command(swaks, args...).CombinedOutput(); err != nil {
			t.Fatalf("swaks %v: %v\n%s", args[:3], err, out)
		}
	}
	if _, err := n.MX.WaitFor(Context(t, 30*time.Second), 4); err != nil {
		t.Fatal(err)
	}
}

// TestDKIMVerifiesIndependently checks the delivered signatures with python3-dkim (Debian's
// dkimpy, not go-msgauth), using the key records `multimail domain dns` prints: the domain's
// DKIM signature and the identity signature (docs/identity.md).
func TestDKIMVerifiesIndependently(t *testing.T) {
	t.Parallel()
	py := "/usr/bin/python3" // Debian's, which has python3-dkim
	if out, err := exec.Command(py, "-c", "import dkim").CombinedOutput(); err != nil {
		if os.Getenv("MULTIMAIL_INTEROP") == "1" {
			t.Fatalf("python3-dkim missing: %v %s", err, out)
		}
		t.Skipf("python3-dkim missing: %s", out)
	}
	n := Start(t, Options{})
	n.mustCLI(t, "domain", "add", "ed.test", "--key-type", "ed25519")
	n.mustCLI(t, "mailbox", "add", "bot@ed.test", "--oversight", "autonomous")
	key := apiKeyLine.FindStringSubmatch(n.mustCLI(t, "key", "create", "--mailbox", "bot@ed.test"))[1]
	for _, c := range []struct{ domain, from, key string }{{Domain, Sender, APIKey}, {"ed.test", "bot@ed.test", key}} {
		dns := n.mustCLI(t, "domain", "dns", c.domain)
		// Both the domain's DKIM record (mm1) and the identity record (mmid1), as published.
		recs := map[string]string{}
		for _, sel := range []string{"mm1", "mmid1"} {
			rec := regexp.MustCompile(`(?m)^` + sel + `\._domainkey\.` + regexp.QuoteMeta(c.domain) + `\.\s.*TXT\s+(.*)$`).FindStringSubmatch(dns)
			if rec == nil {
				t.Fatalf("no %s record in:\n%s", sel, dns)
			}
			txt := strings.ReplaceAll(strings.Trim(rec[1], " "), "\" \"", "")
			recs[sel+"._domainkey."+c.domain] = strings.Trim(txt, "\"")
		}
		txt, _ := json.Marshal(recs)
		code, body := n.Do("POST", "/v1/send_email", c.key, []byte(fmt.Sprintf(
			`{"mailbox_id":%q,"to":"dkim-%s@customer.test","subject":"signed","text":"check me","html":"<p>check me</p>"}`, c.from, c.domain)))
		if code != 202 {
			t.Fatalf("send = %d %s", code, body)
		}
		var r sendResp
		json.Unmarshal(body, &r)
		ms, err := n.MX.WaitUntil(Context(t, 30*time.Second), func(ms []mtatest.Message) bool { return findFrom(ms, r.MessageID) >= 0 })
		if err != nil {
			t.Fatal(err)
		}
		raw := ms[findFrom(ms, r.MessageID)].Data
		dir := t.TempDir()
		mp, rp := filepath.Join(dir, "msg"), filepath.Join(dir, "rec")
		os.WriteFile(mp, raw, 0o600)
		os.WriteFile(rp, txt, 0o600)
		// Every DKIM-Signature: the domain's and the identity signature (Ed25519, mmid1).
		script := `import dkim, json, sys
msg = open(sys.argv[1], "rb").read(); recs = json.load(open(sys.argv[2]))
d = dkim.DKIM(msg)
n = sum(1 for k, v in d.headers if k.lower() == b"dkim-signature")
ok = n == 2 and all(d.verify(idx=i, dnsfunc=lambda name, timeout=5: recs.get(name.decode().rstrip("."), "").encode() or None) for i in range(n))
print("verified", n if ok else "FAILED")
sys.exit(0 if ok else 1)`
		out, err := exec.Command(py, "-c", script, mp, rp).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "verified") {
			t.Fatalf("dkimpy on %s: %v %s\nrecord %s\n%s", c.domain, err, out, txt, raw)
		}
	}
}

// TestApprovalRules: in gated_send, a rule auto-approves auth mail (sent at once, with the
// approval record naming the rule), a rule rejects mail to a blocked domain (never sent), and
// anything else waits.
func TestApprovalRules(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: `[[mailbox]]
address = "gated@example.com"
oversight = "gated_send"
api_keys = ["mm_live_e2e_gated_key_00000000001"]

[[approval_rule]]
mailbox = "gated@example.com"
tags = ["auth"]
action = "auto_approve"

[[approval_rule]]
mailbox = "gated@example.com"
recipients = ["*@blocked.test"]
action = "reject"
`})
	const key = "mm_live_e2e_gated_key_00000000001"
	sendAs := func(body string) sendResp {
		code, out := n.Do("POST", "/v1/send_email", key, []byte(body))
		var r sendResp
		if code != 202 || json.Unmarshal(out, &r) != nil {
			t.Fatalf("send = %d %s", code, out)
		}
		return r
	}
	auto := sendAs(`{"mailbox_id":"gated@example.com","to":"user@customer.test","subject":"code","text":"123456","tags":["auth"],"priority":"high"}`)
	rej := sendAs(`{"mailbox_id":"gated@example.com","to":"x@blocked.test","subject":"no","text":"x"}`)
	held := sendAs(`{"mailbox_id":"gated@example.com","to":"user2@customer.test","subject":"hold","text":"x"}`)
	if auto.Status != "queued" || rej.Status != "rejected" || held.Status != "pending_approval" {
		t.Fatalf("statuses %q %q %q", auto.Status, rej.Status, held.Status)
	}
	ctx := Context(t, 30*time.Second)
	if _, err := n.Hooks.WaitEvent(ctx, auto.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
	code, body := n.Do("GET", "/v1/messages/"+auto.MessageID, key, nil)
	if code != 200 || !strings.Contains(string(body), `"state":"approved"`) || !strings.Contains(string(body), `rule:1`) {
		t.Errorf("auto-approved message has no approval record naming the rule: %s", body)
	}
	if _, err := n.Hooks.WaitEvent(ctx, rej.MessageID, "rejected"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Hooks.WaitEvent(ctx, held.MessageID, "pending_approval"); err != nil {
		t.Fatal(err)
	}
	// The agent's own key sees its held send but cannot approve it.
	code, body = n.Do("GET", "/v1/approvals", key, nil)
	id := regexp.MustCompile(`apr_[0-9A-Z]+`).FindString(string(body))
	if code != 200 || id == "" {
		t.Fatalf("approvals = %d %s", code, body)
	}
	if code, body := n.Do("POST", "/v1/approvals/"+id+"/approve", key, nil); code != 403 {
		t.Errorf("self-approval = %d %s, want 403", code, body)
	}
	if ms := n.MX.Messages(); len(ms) != 1 {
		t.Errorf("MX got %d messages, want only the auto-approved one", len(ms))
	}
	// No key is created with send and approve on the same mailbox; an operator key (approve,
	// no send) decides.
	if out, err := n.cli(t, "key", "create", "--mailbox", "gated@example.com", "--scope", "send,approve"); err == nil || !strings.Contains(out, "scopes") {
		t.Errorf("key create --scope send,approve: %v\n%s", err, out)
	}
	op := apiKeyLine.FindStringSubmatch(n.mustCLI(t, "key", "create", "--mailbox", "gated@example.com", "--scope", "approve"))[1]
	if code, body := n.Do("POST", "/v1/approvals/"+id+"/approve", op, []byte(`{"reason":"operator"}`)); code != 200 || !strings.Contains(string(body), `"approved"`) {
		t.Errorf("operator approval = %d %s, want 200", code, body)
	}
	if _, err := n.Hooks.WaitEvent(ctx, held.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
}

// TestOversightAddress: a monitored mailbox's sends are copied to its oversight address, and
// a gated mailbox's held sends produce an approval request there (here a local mailbox, so
// both land in its INBOX).
func TestOversightAddress(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: `[[mailbox]]
address = "human@example.com"
oversight = "autonomous"
password = "human-password-1"
api_keys = ["mm_live_e2e_human_key_00000000001"]

[[mailbox]]
address = "watched@example.com"
oversight = "monitored"
oversight_address = "human@example.com"
api_keys = ["mm_live_e2e_watch_key_00000000001"]

[[mailbox]]
address = "held@example.com"
oversight = "gated_send"
oversight_address = "human@example.com"
api_keys = ["mm_live_e2e_held_key_000000000001"]
`})
	for _, c := range []struct{ key, from string }{
		{"mm_live_e2e_watch_key_00000000001", "watched@example.com"},
		{"mm_live_e2e_held_key_000000000001", "held@example.com"},
	} {
		code, body := n.Do("POST", "/v1/send_email", c.key, []byte(fmt.Sprintf(
			`{"mailbox_id":%q,"to":"someone@customer.test","subject":"from %s","text":"x"}`, c.from, c.from)))
		if code != 202 {
			t.Fatalf("send = %d %s", code, body)
		}
	}
	const human = "mm_live_e2e_human_key_00000000001"
	waitUntil(t, 30*time.Second, func() bool {
		_, body := n.Do("GET", "/v1/mailboxes/human@example.com/emails", human, nil)
		return strings.Contains(string(body), "Monitored send: from watched@example.com") &&
			strings.Contains(string(body), "Approval needed: from held@example.com")
	})
}
