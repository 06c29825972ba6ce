package imapserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"multimail.dev/multimail/budget"
	"multimail.dev/multimail/mailbox"
)

// hostileMessages are messages anyone can send to port 25; every one must
// get a BODYSTRUCTURE and ENVELOPE that go-imap's client parses, without
// dropping the connection.
var hostileMessages = []struct{ name, raw string }{
	{"empty multipart", "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"},
	{"multipart without boundary", "From: a@example.org\r\nContent-Type: multipart/mixed\r\n\r\nhello\r\n"},
	{"multipart only closing", "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz--\r\n"},
	{"multipart broken boundary", "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zy\r\n\r\nx\r\n--zy--\r\n"},
	{"nested empty multipart", "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--a--\r\n"},
	{"empty rfc822", "Content-Type: message/rfc822\r\n\r\n"},
	{"rfc822 holding empty multipart", "Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n"},
	{"no header", "just a body\r\n"},
	{"empty", ""},
	{"bad content type", "Content-Type: ;;;/\r\n\r\nx\r\n"},
	{"type without subtype", "Content-Type: text\r\n\r\nx\r\n"},
	{"bad charset", "Content-Type: text/plain; charset=\"\x00\xff\"\r\nSubject: =?x-unknown?q?hi?=\r\n\r\nx\r\n"},
	{"binary header", "From: \xff\xfe <\x00@\x01>\r\nSubject: \x00\r\n\r\n\x00\r\n"},
	{"deep nesting", strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 5000) + "x\r\n"},
	{"deep multipart", deepMultipart(2000)},
}

func deepMultipart(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n--b" + itoa(i) + "\r\n")
	}
	b.WriteString("\r\nx\r\n")
	return b.String()
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestHostileBodyStructure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, m := range hostileMessages {
		e.deliver(t, "INBOX", m.raw, mailbox.DeliverOptions{})
	}
	c := e.login(t, nil)
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	for _, ext := range []bool{false, true} {
		msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: ext},
		}).Collect()
		if err != nil {
			t.Fatalf("FETCH 1:* (ENVELOPE BODYSTRUCTURE) extended=%v: %v", ext, err)
		}
		if len(msgs) != len(hostileMessages) {
			t.Fatalf("FETCH returned %d messages, want %d", len(msgs), len(hostileMessages))
		}
		for i, m := range msgs {
			if m.BodyStructure == nil || m.Envelope == nil {
				t.Errorf("%s: BODYSTRUCTURE %v ENVELOPE %v", hostileMessages[i].name, m.BodyStructure, m.Envelope)
			}
		}
	}
	must(t, c.Noop().Wait())
}

// TestAppendMemoryBudget: an APPEND that cannot get its share of the memory budget in time
// is NO [UNAVAILABLE], and succeeds once the budget is free again.
func TestAppendMemoryBudget(t *testing.T) {
	t.Parallel()
	b := budget.New(4096, 10*time.Millisecond)
	e := newEnv(t, func(o *Options) { o.Budget = b })
	c := e.login(t, nil)
	raw := testMessage(1, "Draft", strings.Repeat("x", 1000))
	appendRaw := func() error {
		cmd := c.Append("Drafts", int64(len(raw)), nil)
		_, err := cmd.Write([]byte(raw))
		must(t, err)
		must(t, cmd.Close())
		_, err = cmd.Wait()
		return err
	}
	hold, err := b.Reserve(context.Background(), 4000) // another large body in flight
	must(t, err)
	if err := appendRaw(); imapCode(err) != imap.ResponseCodeUnavailable {
		t.Fatalf("APPEND without budget: %v, want NO [UNAVAILABLE]", err)
	}
	hold()
	must(t, appendRaw())
	must(t, c.Noop().Wait()) // the connection survived the refusal
}
