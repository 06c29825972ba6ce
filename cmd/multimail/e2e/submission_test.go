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
// ports, and checks the refusals of CONTRACT.md §3 with the exact codes.
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

// TestDKIMVerifiesIndependently checks the delivered signature with python3-dkim (Debian's
// dkimpy, not go-msgauth), using the key record `multimail domain dns` prints.
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
		rec := regexp.MustCompile(`(?m)^mm1\._domainkey\.` + regexp.QuoteMeta(c.domain) + `\.\s.*TXT\s+(.*)$`).FindStringSubmatch(dns)
		if rec == nil {
			t.Fatalf("no DKIM record in:\n%s", dns)
		}
		txt := strings.ReplaceAll(strings.Trim(rec[1], " "), "\" \"", "")
		txt = strings.Trim(txt, "\"")
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
		os.WriteFile(rp, []byte(txt), 0o600)
		script := `import dkim, sys
msg = open(sys.argv[1], "rb").read(); rec = open(sys.argv[2], "rb").read()
ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec)
print("verified" if ok else "FAILED")
sys.exit(0 if ok else 1)`
		out, err := exec.Command(py, "-c", script, mp, rp).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "verified") {
			t.Fatalf("dkimpy on %s: %v %s\nrecord %s\n%s", c.domain, err, out, txt, raw)
		}
	}
}
