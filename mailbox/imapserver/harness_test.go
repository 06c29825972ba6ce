package imapserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"multimail.dev/multimail/mailbox"
)

const (
	testUser     = "agent@example.com"
	testPassword = "correct horse battery staple"
)

// env is one running server on a MemoryStore with one mailbox.
type env struct {
	store     mailbox.Store
	imapAddr  string // plain + STARTTLS
	imapsAddr string // implicit TLS
	clientTLS *tls.Config
	certDER   []byte
	apiKey    string
	srv       *Server
}

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	return newEnvStore(t, mailbox.NewMemory(), mod)
}

func newEnvStore(t testing.TB, store mailbox.Store, mod func(*Options)) *env {
	t.Helper()
	ctx := context.Background()
	hash, err := mailbox.HashPassword(testPassword)
	must(t, err)
	must(t, store.AddMailbox(ctx, mailbox.Mailbox{Address: testUser, PasswordHash: hash}))
	secret, keyHash := mailbox.NewAPIKeySecret()
	must(t, store.AddAPIKey(ctx, mailbox.APIKey{Hash: keyHash, Mailboxes: []string{testUser}, Scopes: []string{"read", "tag"}}))
	serverTLS, clientTLS := testCerts(t)
	opts := Options{Store: store, TLSConfig: serverTLS}
	if mod != nil {
		mod(&opts)
	}
	srv := New(opts)
	e := &env{store: store, clientTLS: clientTLS, apiKey: secret, srv: srv,
		certDER: serverTLS.Certificates[0].Certificate[0]}
	e.imapAddr = serveOn(t, srv.ServeIMAP)
	e.imapsAddr = serveOn(t, srv.ServeIMAPS)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return e
}

// serveOn runs serve on a fresh loopback listener and checks its result at
// cleanup.
func serveOn(t testing.TB, serve func(net.Listener) error) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- serve(l) }()
	t.Cleanup(func() {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("serve did not return after Shutdown")
		}
	})
	return l.Addr().String()
}

// testCerts makes a self-signed certificate for 127.0.0.1.
func testCerts(t testing.TB) (server, client *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return server, client
}

// updates collects a client's unilateral data for polling assertions.
type updates struct {
	mu      sync.Mutex
	exists  []uint32
	expunge []uint32
	fetch   []*imapclient.FetchMessageBuffer
}

func (u *updates) handler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u.mu.Lock()
				u.exists = append(u.exists, *d.NumMessages)
				u.mu.Unlock()
			}
		},
		Expunge: func(seq uint32) {
			u.mu.Lock()
			u.expunge = append(u.expunge, seq)
			u.mu.Unlock()
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			buf, err := m.Collect()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.fetch = append(u.fetch, buf)
			u.mu.Unlock()
		},
	}
}

// wait polls cond with a deadline.
func (u *updates) wait(t *testing.T, what string, cond func(u *updates) bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return cond(u)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dial connects with STARTTLS (or implicit TLS) and logs in with secret.
func (e *env) dial(t testing.TB, implicit bool, secret string, u *updates) *imapclient.Client {
	t.Helper()
	c := e.connect(t, implicit, u)
	must(t, c.Login(testUser, secret).Wait())
	return c
}

func (e *env) connect(t testing.TB, implicit bool, u *updates) *imapclient.Client {
	t.Helper()
	opts := &imapclient.Options{TLSConfig: e.clientTLS, DebugWriter: debugOut(t)}
	if u != nil {
		opts.UnilateralDataHandler = u.handler()
	}
	var c *imapclient.Client
	var err error
	if implicit {
		c, err = imapclient.DialTLS(e.imapsAddr, opts)
	} else {
		c, err = imapclient.DialStartTLS(e.imapAddr, opts)
	}
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) login(t testing.TB, u *updates) *imapclient.Client {
	return e.dial(t, false, testPassword, u)
}

// deliver stores a message in folder through the store, as inbound does.
func (e *env) deliver(t testing.TB, folder string, raw string, o mailbox.DeliverOptions) mailbox.Email {
	t.Helper()
	em, err := e.store.Deliver(context.Background(), testUser, folder, []byte(raw), o)
	must(t, err)
	return em
}

func testMessage(i int, subject, body string) string {
	return fmt.Sprintf("From: Sender %d <sender%d@example.org>\r\nTo: agent@example.com\r\n"+
		"Subject: %s\r\nMessage-ID: <m%d@example.org>\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\n"+
		"X-Custom: custom-%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", i, i, subject, i, i, body)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// imapCode returns the response code of an IMAP error, "" if none.
func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

func debugOut(t testing.TB) io.Writer {
	if os.Getenv("IMAP_DEBUG") == "" {
		return nil
	}
	return os.Stderr
}

func certPEM(t testing.TB, e *env) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.certDER})
}

func splitAddr(t testing.TB, addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	must(t, err)
	return host, port
}
