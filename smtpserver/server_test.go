package smtpserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestWireReader pins go-smtp's DATA reader layout: a DATA through a real server reaches the
// wire bytes (the test session's ReadData would answer 451 otherwise).
func TestWireReader(t *testing.T) {
	t.Parallel()
	var found atomic.Bool
	b := &probeBackend{data: func(r io.Reader) error {
		br, err := wireReader(r)
		found.Store(err == nil && br != nil)
		_, _ = io.Copy(io.Discard, r)
		return nil
	}}
	srv := New(b, Options{})
	l := listen(t)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	d := dial(t, l.Addr().String(), false)
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@b.test>", "250")
	d.cmd("RCPT TO:<c@d.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\nbody\r\n.\r\n")
	d.expect("250")
	if !found.Load() {
		t.Fatal("wireReader did not find go-smtp's buffered reader: go-smtp's dataReader changed; re-check data.go")
	}
	if br, err := wireReader(strings.NewReader("x")); br != nil || err != nil {
		t.Fatalf("wireReader(strings.Reader) = %v, %v; want nil, nil", br, err)
	}
}

// probeBackend's sessions accept every envelope and hand DATA to data.
type probeBackend struct{ data func(io.Reader) error }

func (b *probeBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return probeSession{b}, nil }

type probeSession struct{ b *probeBackend }

func (probeSession) Mail(string, *smtp.MailOptions) error { return nil }
func (probeSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (probeSession) Reset()                               {}
func (probeSession) Logout() error                        { return nil }
func (s probeSession) Data(r io.Reader) error             { return s.b.data(r) }

// TestSmugglingOnTheWire: each smuggling sequence is refused whole with 550 5.5.2 on a plain,
// a STARTTLS and an implicit-TLS connection; the smuggled commands never run, the session goes
// on, and only the clean message is taken.
func TestSmugglingOnTheWire(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	smuggled := "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n"
	cases := map[string]string{
		"CRLF dot CR":      "Subject: a\r\n\r\nhello\r\n.\r" + smuggled,
		"CRLF dot CR CRLF": "Subject: a\r\n\r\nhello\r\n.\r\r\n" + smuggled,
		"LF dot LF":        "Subject: a\r\n\r\nhello\n.\n" + smuggled,
		"CRLF dot LF":      "Subject: a\r\n\r\nhello\r\n.\n" + smuggled,
		"LF dot CRLF":      "Subject: a\r\n\r\nhello\n.\r\n" + smuggled,
		"CR dot CR":        "Subject: a\r\n\r\nhello\r.\r" + smuggled,
	}
	for _, mode := range []string{"plain", "starttls", "implicit"} {
		for name, data := range cases {
			t.Run(mode+"/"+name, func(t *testing.T) {
				t.Parallel()
				d := dialMode(t, ts, mode)
				d.cmd("MAIL FROM:<a@b.test>", "250")
				d.cmd("RCPT TO:<c@d.test>", "250")
				d.cmd("DATA", "354")
				d.send(data + ".\r\n")
				d.expect("550 5.5.2")
				d.cmd("NOOP", "250")
			})
		}
	}
	t.Cleanup(func() {
		if got := ts.backend.messages(); len(got) != 0 {
			t.Errorf("messages taken: %q", got)
		}
	})
}

// dialMode opens a session said EHLO to: plain, STARTTLS or implicit TLS.
func dialMode(t *testing.T, ts *testServer, mode string) *dialog {
	t.Helper()
	var d *dialog
	switch mode {
	case "implicit":
		d = dial(t, ts.implicit, true)
	default:
		d = dial(t, ts.plain, false)
	}
	d.cmd("EHLO client.test", "250")
	if mode == "starttls" {
		d.starttls()
		d.cmd("EHLO client.test", "250")
	}
	return d
}

// TestReplyInOneWrite: the whole multi-line EHLO reply comes in the client's one read.
func TestReplyInOneWrite(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	for i := 0; i < 20; i++ {
		d := dial(t, ts.plain, false)
		d.send("EHLO client.test\r\n")
		buf := make([]byte, 4096)
		n, err := d.raw.Read(buf) // exactly one read
		if err != nil {
			t.Fatal(err)
		}
		got := string(buf[:n])
		lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")
		if len(lines) < 5 || !strings.HasPrefix(lines[len(lines)-1], "250 ") || !strings.HasSuffix(got, "\r\n") {
			t.Fatalf("one read got %q, want the whole EHLO reply", got)
		}
	}
}

// TestReplyInOneWriteAfterSTARTTLS: after STARTTLS, the TLS records of the EHLO reply arrive in
// one read of the TCP connection (the write buffer is under TLS).
func TestReplyInOneWriteAfterSTARTTLS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	for i := 0; i < 10; i++ {
		d := dial(t, ts.plain, false)
		d.cmd("EHLO client.test", "250")
		d.cmd("STARTTLS", "220")
		rc := &readCounter{Conn: d.raw}
		tc := tls.Client(rc, clientTLS())
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		rc.reads.Store(0)
		if _, err := tc.Write([]byte("EHLO client.test\r\n")); err != nil {
			t.Fatal(err)
		}
		d.conn, d.r = tc, bufio.NewReader(tc)
		lines := 1
		for line := d.reply(); ; line = d.reply() {
			if strings.HasPrefix(line, "250 ") {
				break
			}
			lines++
		}
		if n := rc.reads.Load(); n != 1 {
			t.Fatalf("the EHLO reply took %d reads of the TCP connection, want 1", n)
		}
	}
}

// readCounter counts the reads of a connection that returned data.
type readCounter struct {
	net.Conn
	reads atomic.Int32
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

// TestSlowData: a DATA sent slowly, each pause under ReadTimeout but the whole well over it,
// is taken on every port; the idle limit is between reads, not over the transfer.
func TestSlowData(t *testing.T) {
	t.Parallel()
	// Pauses of a tenth of the timeout leave a wide margin for a loaded machine (a pause
	// stretched past the timeout by the scheduler would fail the test, not the server).
	const timeout = 1500 * time.Millisecond
	ts := newTestServer(t, func(o *Options) { o.ReadTimeout = timeout })
	for _, mode := range []string{"plain", "starttls", "implicit"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			d := dialMode(t, ts, mode)
			d.cmd("MAIL FROM:<a@b.test>", "250")
			d.cmd("RCPT TO:<c@d.test>", "250")
			d.cmd("DATA", "354")
			start := time.Now()
			d.send("Subject: slow\r\n\r\n")
			for i := 0; time.Since(start) < 2*timeout; i++ {
				time.Sleep(timeout / 10)
				d.send("line " + strings.Repeat("x", i) + "\r\n")
			}
			d.send(".\r\n")
			d.expect("250")
		})
	}
}

// TestSlowDataCappedBySessionLife: a DATA that never stalls still ends at MaxSessionTime.
func TestSlowDataCappedBySessionLife(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) {
		o.ReadTimeout = 400 * time.Millisecond
		o.MaxSessionTime = 1500 * time.Millisecond
	})
	d := dialMode(t, ts, "plain")
	d.cmd("MAIL FROM:<a@b.test>", "250")
	d.cmd("RCPT TO:<c@d.test>", "250")
	d.cmd("DATA", "354")
	start := time.Now()
	for time.Since(start) < 6*time.Second {
		time.Sleep(100 * time.Millisecond)
		if _, err := d.conn.Write([]byte("more\r\n")); err != nil {
			break
		}
		if time.Since(start) > 2*time.Second {
			break
		}
	}
	d.expect("451") // the read at the session's end fails: a temporary reply, then the end
	d.expectClosed()
	if time.Since(start) > 5*time.Second {
		t.Fatalf("session lasted %v", time.Since(start))
	}
}

// TestIdleInData: a DATA that stalls longer than ReadTimeout ends the session.
func TestIdleInData(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) { o.ReadTimeout = 300 * time.Millisecond })
	d := dialMode(t, ts, "starttls")
	d.cmd("MAIL FROM:<a@b.test>", "250")
	d.cmd("RCPT TO:<c@d.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: stalled\r\n")
	d.expect("451")
	d.expectClosed()
}

// TestAdmit: an Admit error is 452 4.3.1 at MAIL FROM, and at DATA after the message is read
// and dropped; the session goes on.
func TestAdmit(t *testing.T) {
	t.Parallel()
	var full atomic.Bool
	ts := newTestServer(t, func(o *Options) {
		o.Admit = func() error {
			if full.Load() {
				return errors.New("disk below the floor")
			}
			return nil
		}
	})
	d := dialMode(t, ts, "plain")
	full.Store(true)
	d.cmd("MAIL FROM:<a@b.test>", "452 4.3.1 Insufficient system storage")
	full.Store(false)
	d.cmd("MAIL FROM:<a@b.test>", "250")
	d.cmd("RCPT TO:<c@d.test>", "250")
	full.Store(true)
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\nbody\r\n.\r\n")
	d.expect("452 4.3.1")
	full.Store(false)
	d.cmd("NOOP", "250")
	d.cmd("MAIL FROM:<a@b.test>", "250")
	d.cmd("RCPT TO:<c@d.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: y\r\n\r\nbody\r\n.\r\n")
	d.expect("250")
	if got := ts.backend.messages(); len(got) != 1 || !strings.Contains(got[0], "Subject: y") {
		t.Fatalf("messages = %q", got)
	}
}

// TestAdmitKeepsAuth: a session that offers AUTH still does under the Admit wrapper.
func TestAdmitKeepsAuth(t *testing.T) {
	t.Parallel()
	s := New(&probeBackend{}, Options{Admit: func() error { return nil }})
	sess := s.admitting(nil, authSession{})
	if _, ok := sess.(smtp.AuthSession); !ok {
		t.Fatal("the wrapped session lost AUTH")
	}
	if _, ok := s.admitting(nil, probeSession{}).(smtp.AuthSession); ok {
		t.Fatal("a session without AUTH gained it")
	}
}

type authSession struct{ probeSession }

func (authSession) AuthMechanisms() []string { return []string{"PLAIN"} }
func (authSession) Auth(string) (sasl.Server, error) {
	return nil, smtp.ErrAuthUnknownMechanism
}

// TestShutdownClosesIdle: Shutdown closes idle sessions when its context ends and forgets them.
func TestShutdownClosesIdle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	d := dialMode(t, ts, "starttls")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
	d.expectClosed()
	if n := ts.OpenConns(); n != 0 {
		t.Fatalf("%d connections still tracked", n)
	}
}

// TestShutdownRacingServe: a Shutdown that lands while Serve is starting, after Serve took the
// listener but before go-smtp registered it, still ends that Serve; before, go-smtp accepted
// on it forever and a shutdown waiting for its goroutine hung (seen in CI).
func TestShutdownRacingServe(t *testing.T) {
	t.Parallel()
	srv := New(&testBackend{}, Options{Hostname: "mx.test", ReadTimeout: time.Second})
	srv.beforeServe = func() {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(listen(t)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after Shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still accepting 10 s after Shutdown")
	}
}
