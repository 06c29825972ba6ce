package submission

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/queue"
)

// TestSMTPREQUIRETLS: REQUIRETLS (RFC 8689) is offered after STARTTLS, MAIL FROM … REQUIRETLS
// is accepted there and the queued message carries it to delivery's lease.
func TestSMTPREQUIRETLS(t *testing.T) {
	t.Parallel()
	ts := newServer(t, false, nil)
	c := smtpClient(t, ts)
	if ok, _ := c.Extension("REQUIRETLS"); !ok {
		t.Fatal("REQUIRETLS not offered after STARTTLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("auto@example.com", &smtp.MailOptions{RequireTLS: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@dest.example", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("From: auto@example.com\r\nTo: bob@dest.example\r\nSubject: s\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CloseWithResponse(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := ts.q.Next(ctx, queue.LaneHigh, queue.LaneNormal, queue.LaneLow)
	if err != nil {
		t.Fatal(err)
	}
	if !l.RequireTLS {
		t.Fatalf("lease %+v lacks RequireTLS", l)
	}
}

// TestSMTPREQUIRETLSNeedsTLS: on a plain session (a trusted network needs no AUTH, hence no
// TLS) REQUIRETLS is not offered, and a client that sends the parameter anyway gets 530 5.7.10.
func TestSMTPREQUIRETLSNeedsTLS(t *testing.T) {
	t.Parallel()
	ts := newServer(t, true, nil)
	conn, err := net.DialTimeout("tcp", ts.submission, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	read := func() string {
		var all []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v (so far %q)", err, all)
			}
			all = append(all, line)
			if len(line) < 4 || line[3] != '-' {
				return strings.Join(all, "")
			}
		}
	}
	read() // greeting
	_, _ = conn.Write([]byte("EHLO client.test\r\n"))
	if ehlo := read(); strings.Contains(ehlo, "REQUIRETLS") {
		t.Fatalf("REQUIRETLS offered in the clear: %q", ehlo)
	}
	_, _ = conn.Write([]byte("MAIL FROM:<auto@example.com> REQUIRETLS\r\n"))
	if got := read(); !strings.HasPrefix(got, "530 5.7.10") {
		t.Fatalf("MAIL FROM … REQUIRETLS in the clear = %q, want 530 5.7.10", got)
	}
}
