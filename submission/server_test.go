package submission

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/queue"
)

// smtpClient connects to the STARTTLS port and upgrades.
func smtpClient(t *testing.T, ts *testServer) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(ts.submission, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// codeOf extracts "553 5.7.1" from a go-smtp client error ("ok" for nil).
func codeOf(err error) string {
	var se *smtp.SMTPError
	if err == nil {
		return "ok"
	}
	if !errors.As(err, &se) {
		return err.Error()
	}
	e := se.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d", se.Code, e[0], e[1], e[2])
}

// TestSMTPRefusals is docs/api.md, SMTP's list of refusals, driven by go-smtp's own client.
func TestSMTPRefusals(t *testing.T) {
	t.Parallel()
	ts := newServer(t, false, nil)
	msg := "From: auto@example.com\r\nTo: bob@dest.example\r\nSubject: hi\r\n\r\nhello\r\n"
	cases := []struct {
		name string
		run  func(c *smtp.Client) error
		want string
	}{
		{"wrong password 535", func(c *smtp.Client) error {
			return c.Auth(sasl.NewPlainClient("", "auto@example.com", "nope"))
		}, "535 5.7.8"},
		{"unknown user 535", func(c *smtp.Client) error {
			return c.Auth(sasl.NewPlainClient("", "ghost@example.com", testPassword))
		}, "535 5.7.8"},
		{"unauthenticated 530", func(c *smtp.Client) error {
			return c.Mail("auto@example.com", nil)
		}, "530 5.7.0"},
		{"forged envelope sender 553", func(c *smtp.Client) error {
			if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
				return err
			}
			return c.Mail("mon@example.com", nil)
		}, "553 5.7.1"},
		{"forged From 553", func(c *smtp.Client) error {
			if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
				return err
			}
			return c.SendMail("auto@example.com", []string{"bob@dest.example"},
				strings.NewReader(strings.Replace(msg, "From: auto@", "From: boss@", 1)))
		}, "553 5.7.1"},
		{"Sender naming another mailbox 553", func(c *smtp.Client) error {
			if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
				return err
			}
			return c.SendMail("auto@example.com", []string{"bob@dest.example"},
				strings.NewReader("Sender: mon@example.com\r\n"+msg))
		}, "553 5.7.1"},
		{"Sender naming the mailbox itself is accepted", func(c *smtp.Client) error {
			if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
				return err
			}
			return c.SendMail("auto@example.com", []string{"bob@dest.example"},
				strings.NewReader("Sender: Agent <auto@example.com>\r\n"+msg))
		}, "ok"},
		{"read-scoped API key may not log in to send", func(c *smtp.Client) error {
			if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", readOnlyKey)); err != nil {
				return err
			}
			return c.Mail("auto@example.com", nil)
		}, "535 5.7.8"},
		{"API key as password is accepted", func(c *smtp.Client) error {
			if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", ts.key)); err != nil {
				return err
			}
			return c.SendMail("auto@example.com", []string{"bob@dest.example"}, strings.NewReader(msg))
		}, "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := smtpClient(t, ts)
			if got := codeOf(tc.run(c)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSMTPAuthBeforeTLS: the go-smtp client refuses too, so this one speaks raw.
func TestSMTPAuthBeforeTLS(t *testing.T) {
	t.Parallel()
	ts := newServer(t, false, nil)
	c, err := smtp.Dial(ts.submission)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered before TLS")
	}
	err = c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword))
	if err == nil {
		t.Fatal("AUTH accepted before TLS")
	}
}

// TestSMTPSubmitQueues follows an accepted message into the queue and the Sent folder.
func TestSMTPSubmitQueues(t *testing.T) {
	t.Parallel()
	ts := newServer(t, false, nil)
	c := smtpClient(t, ts)
	if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
		t.Fatal(err)
	}
	raw := "From: Auto <auto@example.com>\r\nTo: bob@dest.example\r\nBcc: hidden@dest.example\r\nSubject: report\r\n\r\nhello\r\n"
	if err := c.Mail("auto@example.com", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"bob@dest.example", "@relay.example:hidden@dest.example"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := strings.Cut(resp.StatusText, "OK: queued as ")
	st, err := ts.q.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("status of %q: %v", id, err)
	}
	if st.From != ts.q.BounceAddress(id, "example.com") || st.Subject != "report" || len(st.Recipients) != 2 {
		t.Fatalf("status = %+v", st)
	}
	for _, r := range st.Recipients {
		if strings.Contains(r.Address, "relay.example") {
			t.Fatalf("source route followed: %v", r.Address)
		}
	}
	body, err := ts.q.Body(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DKIM-Signature:", "Message-Id: <" + id + "@mx.example.com>", "Date: ",
		"Received: from localhost ([127.0.0.1])\r\n\tby mx.example.com with ESMTPSA;"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("queued message lacks %q", want)
		}
	}
	if strings.Contains(string(body), "hidden@") {
		t.Error("Bcc header kept")
	}
	if len(sentFolder(t, ts.testEnv, "auto@example.com")) != 1 {
		t.Error("no copy in Sent")
	}
}

// TestSMTPRuleRejects: a message an approval rule rejects gets 550 5.7.1 and a record.
func TestSMTPRuleRejects(t *testing.T) {
	t.Parallel()
	ts := newServer(t, true, nil, Rule{Mailbox: "gated@example.com", Recipients: []string{"*@blocked.example"}, Action: ActionReject})
	c, err := smtp.Dial(ts.submission)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.SendMail("gated@example.com", []string{"x@blocked.example"},
		strings.NewReader("From: gated@example.com\r\nSubject: x\r\n\r\nx\r\n"))
	if got := codeOf(err); got != "550 5.7.1" {
		t.Fatalf("got %s, want 550 5.7.1", got)
	}
	recs, err := ts.q.Approvals(context.Background(), queue.ApprovalRejected)
	if err != nil || len(recs) != 1 || recs[0].By != "rule:1" {
		t.Fatalf("rejected records = %+v, %v", recs, err)
	}
}

// TestSMTPIdleTimeout: a silent client gets 421 4.4.2 and is disconnected.
func TestSMTPIdleTimeout(t *testing.T) {
	t.Parallel()
	ts := newServer(t, false, func(o *ServerOptions) { o.ReadTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", ts.submission)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	greeting, _ := r.ReadString('\n')
	bye, _ := r.ReadString('\n')
	if !strings.HasPrefix(greeting, "220 ") || !strings.HasPrefix(bye, "421 4.4.2") {
		t.Fatalf("got %q then %q", greeting, bye)
	}
}

// TestSMTPSessionLifetime: MaxSessionTime ends even a busy connection.
func TestSMTPSessionLifetime(t *testing.T) {
	t.Parallel()
	ts := newServer(t, false, func(o *ServerOptions) { o.MaxSessionTime = 300 * time.Millisecond })
	c, err := smtp.Dial(ts.submission)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.Noop(); err != nil {
			return // the server ended the session
		}
	}
	t.Fatal("session outlived MaxSessionTime")
}

// TestShutdown: Shutdown returns with sessions open once its context ends, and Serve returns.
func TestShutdown(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	cfg, _ := testTLS()
	srv := NewServer(env.sub, ServerOptions{TLSConfig: cfg})
	l := listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.ServeSubmission(l) }()
	c, err := smtp.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with an open session = %v, want deadline exceeded", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestShutdownClosesIdleSessions: authenticated clients idle on both ports are disconnected
// when Shutdown's context ends, and Shutdown returns (go-smtp's own Close would not close them
// once its Shutdown has started).
func TestShutdownClosesIdleSessions(t *testing.T) {
	t.Parallel()
	ts := newServer(t, false, nil)
	starttls := smtpClient(t, ts)
	implicit, err := smtp.DialTLS(ts.submissions, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = implicit.Close() })
	for _, c := range []*smtp.Client{starttls, implicit} {
		if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want deadline exceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	for name, c := range map[string]*smtp.Client{"submission": starttls, "submissions": implicit} {
		if err := c.Noop(); err == nil {
			t.Errorf("%s: connection still open after Shutdown", name)
		} else if _, ok := err.(*smtp.SMTPError); ok {
			t.Errorf("%s: got an SMTP reply %v, want the connection closed", name, err)
		}
	}
	if n := ts.srv.core.OpenConns(); n != 0 {
		t.Errorf("%d connections still tracked after Shutdown", n)
	}
}

// TestSMTPSlowData: a large DATA sent slowly, each pause under ReadTimeout but the whole well
// over it, is accepted on 587 (after STARTTLS) and 465: ReadTimeout bounds the idle time
// between reads of the message, not the transfer.
func TestSMTPSlowData(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	ts := newServer(t, false, func(o *ServerOptions) { o.ReadTimeout = timeout })
	for name, dial := range map[string]func() (*smtp.Client, error){
		"submission":  func() (*smtp.Client, error) { return smtp.DialStartTLS(ts.submission, clientTLS()) },
		"submissions": func() (*smtp.Client, error) { return smtp.DialTLS(ts.submissions, clientTLS()) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", "auto@example.com", testPassword)); err != nil {
				t.Fatal(err)
			}
			if err := c.Mail("auto@example.com", nil); err != nil {
				t.Fatal(err)
			}
			if err := c.Rcpt("bob@dest.example", nil); err != nil {
				t.Fatal(err)
			}
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := io.WriteString(w, "From: auto@example.com\r\nTo: bob@dest.example\r\nSubject: slow\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			// go-smtp's client sends in 4 KiB writes: two 1 KiB lines per pause make one write
			// every two pauses, well under ReadTimeout.
			for time.Since(start) < 4*timeout {
				time.Sleep(timeout / 5)
				if _, err := io.WriteString(w, strings.Repeat(strings.Repeat("0123456789", 100)+"\r\n", 2)); err != nil {
					t.Fatalf("after %v: %v", time.Since(start), err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("slow DATA over %v (ReadTimeout %v): %v", time.Since(start), timeout, err)
			}
		})
	}
}
