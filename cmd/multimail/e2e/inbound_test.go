package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestInboundSwaksAndSmtplib delivers to port 25 with swaks and python's smtplib, then reads
// the mail through the API, checks the received webhook, and checks the refusals.
func TestInboundSwaksAndSmtplib(t *testing.T) {
	t.Parallel()
	swaks := Tool(t, "swaks")
	py := Tool(t, "python3")
	n := Start(t, Options{})
	out, err := exec.Command(swaks, "--server", Addr(n.Ports.SMTP), "--from", "someone@sender.test",
		"--to", Sender, "--header", "Subject: via swaks", "--body", "hello from swaks").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	script := fmt.Sprintf(`
import smtplib
s = smtplib.SMTP("127.0.0.1", %d)
s.ehlo("client.test")
s.sendmail("other@sender.test", [%q], "From: other@sender.test\r\nTo: %s\r\nSubject: via smtplib\r\n\r\nhello\r\n")
for rcpt, want in (("nobody@example.com", 550), ("victim@elsewhere.test", 554)):
    try:
        s.sendmail("other@sender.test", [rcpt], "Subject: x\r\n\r\nx\r\n")
        raise SystemExit("accepted " + rcpt)
    except smtplib.SMTPRecipientsRefused as e:
        code, msg = e.recipients[rcpt]
        assert code == want, (rcpt, code, msg)
        print(rcpt, code, msg.decode())
s.quit()
`, n.Ports.SMTP, Sender, Sender)
	out, err = exec.Command(py, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "5.1.1") || !strings.Contains(string(out), "5.7.1") {
		t.Errorf("refusals lack enhanced codes:\n%s", out)
	}
	code, body := n.Do("GET", "/v1/mailboxes/"+url.PathEscape(Sender)+"/emails?folder=INBOX", APIKey, nil)
	if code != 200 {
		t.Fatalf("list emails = %d %s", code, body)
	}
	var list struct {
		Emails []struct {
			EmailID string `json:"email_id"`
			Subject string `json:"subject"`
		} `json:"emails"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Emails) != 2 {
		t.Fatalf("list emails: %v %s", err, body)
	}
	if list.Emails[0].Subject != "via smtplib" {
		t.Errorf("newest first: got %q first", list.Emails[0].Subject)
	}
	id := list.Emails[0].EmailID
	code, body = n.Do("GET", "/v1/emails/"+id, APIKey, nil)
	if code != 200 || !strings.Contains(string(body), "spf=") {
		t.Errorf("read email = %d %s", code, body)
	}
	h, err := n.Hooks.WaitFor(Context(t, 30*time.Second), func(h Hook) bool {
		return h.Type() == "received" && h.Event["email_id"] == id
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.Event["mailbox_id"] != Sender {
		t.Errorf("received event %s", h.Body)
	}
}

// TestTagsAreKeywords tags an email through the API and reads the tag back as it is stored.
func TestTagsAreKeywords(t *testing.T) {
	t.Parallel()
	swaks := Tool(t, "swaks")
	n := Start(t, Options{})
	if out, err := exec.Command(swaks, "--server", Addr(n.Ports.SMTP), "--from", "a@sender.test",
		"--to", Sender, "--header", "Subject: tag me").CombinedOutput(); err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	code, body := n.Do("GET", "/v1/mailboxes/"+url.PathEscape(Sender)+"/emails", APIKey, nil)
	var list struct {
		Emails []struct {
			EmailID string `json:"email_id"`
		} `json:"emails"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Emails) != 1 {
		t.Fatalf("list = %d %s", code, body)
	}
	id := list.Emails[0].EmailID
	code, body = n.Do("POST", "/v1/emails/"+id+"/tags", APIKey, []byte(`{"add":["consumed","auth"]}`))
	if code != 200 || !strings.Contains(string(body), "consumed") {
		t.Fatalf("tag = %d %s", code, body)
	}
	code, body = n.Do("GET", "/v1/mailboxes/"+url.PathEscape(Sender)+"/emails?tag=consumed", APIKey, nil)
	if code != 200 || !strings.Contains(string(body), id) {
		t.Fatalf("list by tag = %d %s", code, body)
	}
	code, body = n.Do("POST", "/v1/emails/"+id+"/tags", APIKey, []byte(`{"add":["bad tag\r\nX-Injected: 1"]}`))
	if code != 400 {
		t.Errorf("CR/LF tag = %d %s, want 400", code, body)
	}
}
