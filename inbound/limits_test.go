package inbound

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRecipientReplies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxRecipients = 3 })
	for _, tc := range []struct{ name, rcpt, want string }{
		{"relay denied", "someone@other.example", "554 5.7.1"},
		{"relay denied for a subdomain", "agent@sub.example.com", "554 5.7.1"},
		{"unknown user", "nobody@example.com", "550 5.1.1"},
		{"bounce address of another domain", "bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAA@other.example", "554 5.7.1"},
		{"malformed bounce address is a user", "bounce+nothing@example.com", "550 5.1.1"},
		{"domain literal", "agent@[127.0.0.1]", "554 5.7.1"},
		{"quoted local part", "\"a b\"@example.com", "550 5.1.1"},
		{"local mailbox, any case", "AGENT@EXAMPLE.COM", "250"},
		{"untagged bounce address of a message from before the upgrade", "bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "250"},
		{"bounce address with a forged tag", "bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAA.aaaaaaaaaaaaaaaa@example.com", "550 5.1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := e.dial()
			d.cmd("EHLO client.test", "250")
			d.cmd("MAIL FROM:<a@pass.example>", "250")
			d.cmd("RCPT TO:<"+tc.rcpt+">", tc.want)
		})
	}
}

func TestTooManyRecipients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxRecipients = 2 })
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("RCPT TO:<gated@example.com>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "452 4.5.3")
	d.cmd("DATA", "354")
	d.send(plainMessage("a@pass.example", "two", "x") + ".\r\n")
	d.expect("250 2.0.0 OK: stored as em_")
}

func TestTooManyBadRecipientsCloses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxBadRecipients = 3 })
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<x1@example.com>", "550 5.1.1")
	d.cmd("RCPT TO:<x2@example.com>", "550 5.1.1")
	d.cmd("RCPT TO:<x3@example.com>", "421 4.7.0")
	d.send("NOOP\r\n")
	if line, err := d.r.ReadString('\n'); err == nil {
		t.Fatalf("connection still open after 421, got %q", line)
	}
}

func TestSmugglingRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct{ name, data string }{
		{"bare LF dot bare LF", "Subject: a\r\n\r\nhello\n.\nMAIL FROM:<evil@pass.example>\r\nRCPT TO:<agent@example.com>\r\nDATA\r\n\r\nsmuggled\r\n"},
		{"CRLF dot bare LF", "Subject: a\r\n\r\nhello\r\n.\nMAIL FROM:<evil@pass.example>\r\n"},
		{"bare LF dot CRLF", "Subject: a\r\n\r\nhello\n.\r\nMAIL FROM:<evil@pass.example>\r\n"},
		{"bare CR", "Subject: a\r\n\r\nhello\r.\rmore\r\n"},
		{"CRLF dot CR", "Subject: a\r\n\r\nhello\r\n.\rMAIL FROM:<evil@pass.example>\r\nRCPT TO:<agent@example.com>\r\nDATA\r\n\r\nsmuggled\r\n"},
		{"CRLF dot CR CRLF", "Subject: a\r\n\r\nhello\r\n.\r\r\nMAIL FROM:<evil@pass.example>\r\nRCPT TO:<agent@example.com>\r\nDATA\r\n\r\nsmuggled\r\n"},
		{"dot CR at the start of DATA", ".\rSubject: a\r\n\r\nhello\r\n"},
		{"bare LF in header", "Subject: a\nX: b\r\n\r\nbody\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := e.dial()
			d.cmd("EHLO client.test", "250")
			d.cmd("MAIL FROM:<a@pass.example>", "250")
			d.cmd("RCPT TO:<gated@example.com>", "250")
			d.cmd("DATA", "354")
			d.send(tc.data + ".\r\n")
			d.expect("550 5.5.2")
			d.cmd("NOOP", "250") // the session goes on
		})
	}
	t.Cleanup(func() {
		if n := countEmails(t, e.store, "gated@example.com"); n != 0 {
			t.Errorf("%d emails stored, want none", n)
		}
	})
}

func TestMessageSizeLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxMessageBytes = 1000 })
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@pass.example> SIZE=5000", "552 5.3.4")
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("DATA", "354")
	d.send(plainMessage("a@pass.example", "big", strings.Repeat("0123456789abcdef\r\n", 100)) + ".\r\n")
	d.expect("552 5.3.4")
	d.cmd("NOOP", "250")
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("BDAT 2000 LAST", "552 5.3.4")
	if n := countEmails(t, e.store, "agent@example.com"); n != 0 {
		t.Errorf("%d emails stored, want none", n)
	}
}

func TestLongLineRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxLineLength = 200 })
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: long\r\n\r\n" + strings.Repeat("x", 300) + "\r\n.\r\n")
	d.expect("500 5.5.2")
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.ReadTimeout = 300 * time.Millisecond })
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.expect("421 4.4.2") // nothing sent: the server gives up on us
}

func TestIdleTimeoutInData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.ReadTimeout = 300 * time.Millisecond })
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: stalled\r\n")
	d.expect("4") // a temporary failure, then the connection ends
}

// TestSlowData: a DATA sent slowly, each pause under ReadTimeout but the whole well over it,
// is taken; the idle limit is between reads of the message, not over the transfer.
func TestSlowData(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond
	e := newEnv(t, func(o *Options) { o.ReadTimeout = timeout })
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("DATA", "354")
	start := time.Now()
	d.send("From: a@pass.example\r\nSubject: slow\r\n\r\n")
	for time.Since(start) < 3*timeout {
		time.Sleep(timeout / 4)
		d.send(strings.Repeat("0123456789", 50) + "\r\n")
	}
	d.send(".\r\n")
	d.expect("250 2.0.0 OK: stored as em_")
}

func TestChunking(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	d := e.dial()
	ehlo := d.cmd("EHLO client.test", "250")
	_ = ehlo
	d.cmd("MAIL FROM:<a@pass.example> BODY=8BITMIME SMTPUTF8", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	msg := plainMessage("a@pass.example", "chunked", "Grüße")
	d.send("BDAT 10\r\n" + msg[:10])
	d.expect("250")
	d.send("BDAT " + itoa(len(msg)-10) + " LAST\r\n" + msg[10:])
	got := d.expect("250 2.0.0 OK: stored as em_")
	_, raw := e.email(t, emailIDs(got)[0])
	if rcv := headerValues(raw, "Received"); len(rcv) != 1 || !strings.Contains(rcv[0], "with UTF8SMTP id") {
		t.Errorf("Received = %q, want UTF8SMTP", rcv)
	}
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	bad := "Subject: x\n\nbody\r\n"
	d.send("BDAT " + itoa(len(bad)) + " LAST\r\n" + bad)
	d.expect("550 5.5.2")
}

func TestExtensionsAdvertised(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	d := e.dial()
	d.send("EHLO client.test\r\n")
	var lines []string
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(line[4:]))
		if line[3] == ' ' {
			break
		}
	}
	all := strings.Join(lines, "\n")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING",
		"SMTPUTF8", "SIZE 26214400"} {
		if !strings.Contains(all, ext) {
			t.Errorf("EHLO lacks %s:\n%s", ext, all)
		}
	}
	if strings.Contains(all, "AUTH") || strings.Contains(all, "STARTTLS") {
		t.Errorf("EHLO offers AUTH or STARTTLS without TLS config:\n%s", all)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPipelining(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.send("MAIL FROM:<a@pass.example>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<x@other.example>\r\n" +
		"RCPT TO:<agent@example.com>\r\nDATA\r\n")
	for _, want := range []string{"250", "550 5.1.1", "554 5.7.1", "250", "354"} {
		d.expect(want)
	}
	d.send(plainMessage("a@pass.example", "pipelined", "x") + ".\r\nQUIT\r\n")
	d.expect("250 2.0.0 OK: stored as em_")
	d.expect("221")
}
