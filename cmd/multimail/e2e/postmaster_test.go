package e2e

import (
	"net/url"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestPostmasterInbound: port 25 takes postmaster@ and abuse@ of a local domain without such
// mailboxes and stores them in the [inbound] postmaster mailbox (RFC 5321 §4.5.1, RFC 2142),
// the address domain dns publishes in DMARC rua=.
func TestPostmasterInbound(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: "[[mailbox]]\naddress = \"ops@example.com\"\noversight = \"autonomous\"\n\n[inbound]\npostmaster = \"ops@example.com\"\n"})
	c, err := smtp.Dial(Addr(n.Ports.SMTP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "From: reporter@sender.test\r\nTo: postmaster@example.com\r\nSubject: dmarc report\r\n\r\nreport\r\n"
	if err := c.SendMail("reporter@sender.test", []string{"postmaster@example.com", "Abuse@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("postmaster@/abuse@ refused: %v", err)
	}
	if err := c.SendMail("reporter@sender.test", []string{"hostmaster@example.com"}, strings.NewReader(msg)); err == nil {
		t.Errorf("hostmaster@ (no such mailbox) accepted")
	}
	out := n.mustCLI(t, "key", "create", "--mailbox", "ops@example.com", "--scope", "read")
	key := apiKeyLine.FindStringSubmatch(out)[1]
	code, body := n.Do("GET", "/v1/mailboxes/"+url.PathEscape("ops@example.com")+"/emails", key, nil)
	if code != 200 || strings.Count(string(body), "dmarc report") != 1 {
		t.Errorf("ops@ inbox = %d %s, want the report once", code, body)
	}
}
