package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestSubmissionRefusesSuppressed: an address that hard-bounced (5.1.1 at the MX) is refused
// at RCPT on SMTP submission with 550 5.7.1 naming the suppression and why — the rule the
// API's 422 suppressed applies — while an address refused for policy (5.7.1, never
// suppressed) and a fresh one in the same transaction are accepted and delivered. Python's
// smtplib sees the same reply.
func TestSubmissionRefusesSuppressed(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	for _, to := range []string{"reject-gone@customer.test", "policy-strict@customer.test"} {
		r := send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":%q,"subject":"code","text":"123456"}`, Sender, to))
		waitStatus(t, n, r.MessageID, "bounced")
	}
	c, err := smtp.DialStartTLS(Addr(n.Ports.Submission), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", Sender, Password)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(Sender, nil); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("reject-gone@customer.test", nil)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) ||
		!strings.Contains(se.Message, "suppressed") || !strings.Contains(se.Message, "hard_bounce") || !strings.Contains(se.Message, "5.1.1") {
		t.Fatalf("RCPT of a hard-bounced address: %v", err)
	}
	for _, to := range []string{"policy-strict@customer.test", "fresh@customer.test"} {
		if err := c.Rcpt(to, nil); err != nil {
			t.Fatalf("RCPT %s: %v", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: <%s>\r\nTo: <fresh@customer.test>\r\nSubject: after the bounce\r\n\r\nhello\r\n", Sender)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	ctx := Context(t, 30*time.Second)
	if _, err := n.MX.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}

	py := Tool(t, "python3")
	out := runPython(t, py, pythonEnv(t, n), 30*time.Second, "-c", fmt.Sprintf(`
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", %d, timeout=20)
s.starttls(context=ctx)
s.login(%q, %q)
s.mail(%q)
code, msg = s.rcpt("reject-gone@customer.test")
print(code, msg.decode())
s.quit()
`, n.Ports.Submission, Sender, Password, Sender))
	if !strings.HasPrefix(out, "550 5.7.1 Recipient suppressed: reject-gone@customer.test is suppressed for "+Domain+" (hard_bounce: 5.1.1") {
		t.Fatalf("smtplib saw %q", out)
	}
}
