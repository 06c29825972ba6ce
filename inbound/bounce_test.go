package inbound

import (
	"context"
	"strings"
	"testing"

	"multimail.dev/multimail/queue"
)

// dsnMessage is an RFC 3464 report on rcpt of the message sent with return path bounceAddr.
func dsnMessage(bounceAddr, rcpt string) string {
	return "From: Mail Delivery System <MAILER-DAEMON@mx.remote.example>\r\n" +
		"To: " + bounceAddr + "\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"BOUND\"\r\n" +
		"\r\n" +
		"--BOUND\r\n" +
		"Content-Type: text/plain\r\n\r\n" +
		"Your message could not be delivered.\r\n" +
		"--BOUND\r\n" +
		"Content-Type: message/delivery-status\r\n\r\n" +
		"Reporting-MTA: dns; mx.remote.example\r\n" +
		"Arrival-Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
		"\r\n" +
		"Final-Recipient: rfc822; " + rcpt + "\r\n" +
		"Original-Recipient: rfc822;" + rcpt + "\r\n" +
		"Action: failed\r\n" +
		"Status: 5.1.1\r\n" +
		"Remote-MTA: dns; mx.remote.example\r\n" +
		"Diagnostic-Code: smtp; 550 5.1.1 <" + rcpt + ">: Recipient address rejected:\r\n" +
		"  User unknown in local recipient table\r\n" +
		"\r\n" +
		"Final-Recipient: rfc822; other@remote.example\r\n" +
		"Action: delayed\r\n" +
		"Status: 4.4.1\r\n" +
		"\r\n" +
		"--BOUND\r\n" +
		"Content-Type: text/rfc822-headers\r\n\r\n" +
		"Subject: the original\r\n" +
		"--BOUND--\r\n"
}

// enqueue puts one real message in the queue and returns its id and VERP return path.
func (e *testEnv) enqueue(t *testing.T, to ...string) (string, string) {
	t.Helper()
	rc, err := e.queue.Enqueue(context.Background(), &queue.Message{Mailbox: "agent@example.com",
		From: "agent@example.com", To: to, Subject: "the original",
		Body: []byte("Subject: the original\r\n\r\nhi\r\n"), Source: "api"})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return rc.ID, e.queue.BounceAddress(rc.ID, "example.com")
}

func TestDSNBecomesBouncedEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id, ret := e.enqueue(t, "user@remote.example", "other@remote.example")
	// A relay may change the case of the local part.
	text, err := e.send("", []string{strings.ToUpper(ret[:7]) + strings.ToLower(ret[7:])},
		dsnMessage(ret, "user@remote.example"))
	if err != nil {
		t.Fatalf("send DSN: %v", err)
	}
	if len(emailIDs(text)) != 0 {
		t.Errorf("reply %q names a stored email", text)
	}
	assertEvent(t, e.queue, id, queue.Event{Type: queue.EventBounced, MsgID: id,
		Recipient: "user@remote.example", SMTPCode: 550, EnhancedCode: "5.1.1"})
	st, err := e.queue.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Recipients {
		want := map[string]string{"user@remote.example": "bounced", "other@remote.example": "queued"}[r.Address]
		if r.Status != want {
			t.Errorf("recipient %s is %q, want %q", r.Address, r.Status, want)
		}
	}
	for _, ev := range st.Events {
		if ev.Type == queue.EventBounced && ev.Recipient == "other@remote.example" {
			t.Errorf("a delayed action became a bounce: %+v", ev)
		}
	}
	for _, mb := range []string{"agent@example.com", "gated@example.com"} {
		if n := countEmails(t, e.store, mb); n != 0 {
			t.Errorf("%s has %d emails, want none (a DSN is not stored)", mb, n)
		}
	}
}

func TestNonDSNToBounceAddressDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id, ret := e.enqueue(t, "user@remote.example")
	if _, err := e.send("x@spffail.example", []string{ret}, plainMessage("x@spffail.example", "spam", "buy")); err != nil {
		t.Fatalf("send: %v", err)
	}
	evs, err := e.queue.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == queue.EventBounced {
			t.Errorf("a non-DSN made a bounce: %+v", ev)
		}
	}
}

func TestDSNAndLocalRecipientTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id, ret := e.enqueue(t, "user@remote.example")
	text, err := e.send("", []string{ret, "agent@example.com"}, dsnMessage(ret, "user@remote.example"))
	if err != nil {
		t.Fatal(err)
	}
	if len(emailIDs(text)) != 1 {
		t.Errorf("reply %q, want the local copy's id", text)
	}
	assertEvent(t, e.queue, id, queue.Event{Type: queue.EventBounced, MsgID: id,
		Recipient: "user@remote.example", SMTPCode: 550, EnhancedCode: "5.1.1"})
}

// TestForgedDSNIgnored: a DSN to a return path naming one of our message ids without the
// node's HMAC tag (untagged for a message sent after the upgrade, or with a wrong tag) is
// refused at RCPT as an unknown user and makes no bounced event.
func TestForgedDSNIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id, ret := e.enqueue(t, "user@remote.example")
	tag := ret[strings.IndexByte(ret, '.')+1 : strings.IndexByte(ret, '@')]
	wrong := strings.Repeat("a", len(tag))
	if wrong == tag {
		wrong = strings.Repeat("b", len(tag))
	}
	for name, forged := range map[string]string{
		"untagged":  "bounce+" + id + "@example.com",
		"wrong tag": "bounce+" + id + "." + wrong + "@example.com",
	} {
		t.Run(name, func(t *testing.T) {
			d := e.dial()
			d.cmd("EHLO mx.remote.example", "250")
			d.cmd("MAIL FROM:<>", "250")
			d.cmd("RCPT TO:<"+forged+">", "550 5.1.1")
		})
	}
	evs, err := e.queue.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == queue.EventBounced {
			t.Errorf("a forged DSN made a bounce: %+v", ev)
		}
	}
}
