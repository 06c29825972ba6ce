package smtpserver

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// testBackend accepts every envelope; Data keeps the message read by ReadData.
type testBackend struct {
	srv *Server
	mu  sync.Mutex
	got []string // messages accepted
}

func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &testSession{b: b, c: c}, nil
}

type testSession struct {
	b *testBackend
	c *smtp.Conn
}

func (s *testSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *testSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *testSession) Reset()                               {}
func (s *testSession) Logout() error                        { return nil }

func (s *testSession) Data(r io.Reader) error {
	msg, err := s.b.srv.ReadData(s.c, r, 0)
	if err != nil {
		if rep := ErrorReply(err); rep != nil {
			return rep
		}
		return Reply(451, 4, 3, 0, "Temporary local error")
	}
	s.b.mu.Lock()
	s.b.got = append(s.b.got, string(msg))
	s.b.mu.Unlock()
	return Reply(250, 2, 0, 0, "OK")
}

// messages returns the messages accepted so far.
func (b *testBackend) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

// testServer is a Server on 127.0.0.1 with a STARTTLS and an implicit-TLS listener.
type testServer struct {
	*Server
	backend         *testBackend
	plain, implicit string
}

// newTestServer starts a server; tune adjusts the options (TLS is set before).
func newTestServer(t testing.TB, tune func(*Options)) *testServer {
	t.Helper()
	opts := Options{Hostname: "mx.test", TLSConfig: serverTLS(), ReadTimeout: 10 * time.Second}
	if tune != nil {
		tune(&opts)
	}
	b := &testBackend{}
	srv := New(b, opts)
	b.srv = srv
	l1, l2 := listen(t), listen(t)
	ts := &testServer{Server: srv, backend: b, plain: l1.Addr().String(), implicit: l2.Addr().String()}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(l1) }()
	go func() { defer wg.Done(); _ = srv.ServeTLS(l2) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		wg.Wait()
	})
	return ts
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// serverTLS is a self-signed ECDSA certificate for 127.0.0.1, made once. Session tickets are
// off, so nothing but replies follows the handshake.
var serverTLS = sync.OnceValue(func() *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		SessionTicketsDisabled: true}
})

// clientTLS accepts the test certificate.
func clientTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // test peer

// dialog is a raw SMTP conversation.
type dialog struct {
	t    testing.TB
	raw  net.Conn // the TCP connection
	conn net.Conn // raw, or the TLS connection over it
	r    *bufio.Reader
}

// dial connects to addr (implicit TLS when tlsOn) and reads the greeting.
func dial(t testing.TB, addr string, tlsOn bool) *dialog {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	d := &dialog{t: t, raw: c, conn: c}
	if tlsOn {
		d.conn = tls.Client(c, clientTLS())
	}
	d.r = bufio.NewReader(d.conn)
	d.expect("220")
	return d
}

// starttls upgrades the dialog after EHLO.
func (d *dialog) starttls() {
	d.t.Helper()
	d.cmd("STARTTLS", "220")
	tc := tls.Client(d.raw, clientTLS())
	if err := tc.Handshake(); err != nil {
		d.t.Fatal(err)
	}
	d.conn = tc
	d.r = bufio.NewReader(tc)
}

func (d *dialog) send(s string) {
	d.t.Helper()
	if _, err := d.conn.Write([]byte(s)); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

// reply reads one reply and returns its last line.
func (d *dialog) reply() string {
	d.t.Helper()
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			d.t.Fatalf("read reply: %v (got %q)", err, line)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (d *dialog) expect(prefix string) string {
	d.t.Helper()
	got := d.reply()
	if !strings.HasPrefix(got, prefix) {
		d.t.Fatalf("reply %q, want prefix %q", got, prefix)
	}
	return got
}

func (d *dialog) cmd(line, prefix string) string {
	d.t.Helper()
	d.send(line + "\r\n")
	return d.expect(prefix)
}

// expectClosed checks that the server ends the connection (possibly after one last reply).
func (d *dialog) expectClosed() {
	d.t.Helper()
	_ = d.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				d.t.Fatal("connection still open")
			}
			return
		}
		_ = line
	}
}
