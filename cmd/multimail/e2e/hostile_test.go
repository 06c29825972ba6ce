package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"crypto/tls"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
)

// smuggle is the payload that reached a recipient MX as a second message before attachments
// of a multipart/* type were refused: bare CR, LF and NUL around an SMTP dialog.
const smuggle = "hi\r.\r\nMAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@customer.test>\r\nDATA\r\n\x00\nsmuggled\n.\n"

// TestSendNoBareLineEndsOnTheWire sends hostile attachments and bodies through the API and
// checks what the recipient MX receives: multipart/* and message/* attachments are refused
// with 422 naming the field; everything else arrives as one message without a bare CR, a
// bare LF or a NUL, the attachment base64 and byte for byte.
func TestSendNoBareLineEndsOnTheWire(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	b64 := base64.StdEncoding.EncodeToString([]byte(smuggle))
	for _, ct := range []string{"multipart/mixed; boundary=x", "Message/RFC822", "message/partial"} {
		body := fmt.Sprintf(`{"mailbox_id":"auth@example.com","to":"user@customer.test","subject":"s","text":"x",
			"attachments":[{"filename":"a","content_type":%q,"content":%q}]}`, ct, b64)
		code, out := n.Do("POST", "/v1/send_email", APIKey, []byte(body))
		if code != 422 || !strings.Contains(string(out), `"field":"attachments[0].content_type"`) {
			t.Errorf("attachment %s: %d %s, want 422 naming attachments[0].content_type", ct, code, out)
		}
	}
	code, out := n.Do("POST", "/v1/send_email", APIKey, []byte(`{"mailbox_id":"auth@example.com",
		"to":"user@customer.test","subject":"s","text":"x","headers":{"X-A":"a\rb"}}`))
	if code != 400 || !strings.Contains(string(out), `headers.X-A`) {
		t.Errorf("header with a bare CR: %d %s", code, out)
	}
	text, _ := json.Marshal(smuggle)
	r := send(t, n, fmt.Sprintf(`{"mailbox_id":"auth@example.com","to":"user@customer.test","subject":"s",
		"text":%s,"html":%s,"attachments":[{"filename":"a.bin","content_type":"application/octet-stream","content":%q}]}`,
		text, text, b64))
	msgs, err := n.MX.WaitFor(Context(t, 30*time.Second), 1)
	if err != nil {
		t.Fatalf("waiting for %s at the MX: %v", r.MessageID, err)
	}
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "user@customer.test" {
		t.Fatalf("MX received %d messages: %+v", len(msgs), msgs)
	}
	data := msgs[0].Data
	if i := bareOrNUL(data); i >= 0 {
		t.Fatalf("the MX received a bare CR, LF or NUL at byte %d: %q", i, data[max(0, i-40):min(len(data), i+40)])
	}
	if got := attachment(t, data); !bytes.Equal(got, []byte(smuggle)) {
		t.Errorf("attachment = %q, want %q", got, smuggle)
	}
}

// bareOrNUL returns the offset of the first NUL, CR not before LF or LF not after CR; -1 if none.
func bareOrNUL(b []byte) int {
	for i, c := range b {
		switch {
		case c == 0,
			c == '\r' && (i+1 == len(b) || b[i+1] != '\n'),
			c == '\n' && (i == 0 || b[i-1] != '\r'):
			return i
		}
	}
	return -1
}

// attachment returns the content of the first attachment of raw.
func attachment(t *testing.T, raw []byte) []byte {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no attachment: %v", err)
		}
		if _, ok := p.Header.(*mail.AttachmentHeader); ok {
			b, err := io.ReadAll(p.Body)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestPoisonMessageInbound sends an empty multipart to port 25 (anyone can) and reads the
// mailbox over IMAP: FETCH 1:* (ENVELOPE BODYSTRUCTURE) used to panic inside go-imap and drop
// the connection on every try, for every later client of that mailbox.
func TestPoisonMessageInbound(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	deliverInbound(t, n, "before")
	poison := fmt.Sprintf("From: <a@sender.test>\r\nTo: <%s>\r\nSubject: poison\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n", Sender)
	c, err := smtp.Dial(Addr(n.Ports.SMTP))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@sender.test", []string{Sender}, strings.NewReader(poison)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deliverInbound(t, n, "after")
	ic, err := imapclient.DialStartTLS(Addr(n.Ports.IMAP), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(Sender, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
	msgs, err := ic.Fetch(all, &imap.FetchOptions{Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil {
		t.Fatalf("FETCH 1:* (ENVELOPE BODYSTRUCTURE): %v", err)
	}
	if len(msgs) != 3 || msgs[1].Envelope.Subject != "poison" {
		t.Fatalf("FETCH returned %d messages", len(msgs))
	}
	mp, ok := msgs[1].BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 1 || mp.Subtype != "mixed" {
		t.Errorf("poison BODYSTRUCTURE = %#v", msgs[1].BodyStructure)
	}
	if err := ic.Noop().Wait(); err != nil {
		t.Errorf("NOOP after FETCH: %v", err)
	}
}
