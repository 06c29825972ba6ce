package submission

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/crypto/bcrypt"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// testPassword is every test mailbox's password.
const testPassword = "correct horse battery staple"

// testMailboxes are created in every test env: address -> oversight mode.
var testMailboxes = map[string]mailbox.Oversight{
	"auto@example.com":  mailbox.Autonomous,
	"mon@example.com":   mailbox.Monitored,
	"gated@example.com": mailbox.GatedSend,
	"all@example.com":   mailbox.GatedAll,
	"ro@example.com":    mailbox.ReadOnly,
	"ed@ed.example":     mailbox.Autonomous,
	"nokey@plain.test":  mailbox.Autonomous,
}

// testEnv is a Submitter on a real queue (Pebble in a temp dir) and an in-memory store.
type testEnv struct {
	sub   *Submitter
	q     *queue.Queue
	store *mailbox.MemoryStore
	key   string // an API key of auto@example.com
}

// newEnv builds a testEnv; rules configure the Submitter.
func newEnv(tb testing.TB, rules ...Rule) *testEnv {
	tb.Helper()
	db, err := pebble.Open(tb.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		tb.Fatal(err)
	}
	q, err := queue.Open(db, queue.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = q.Close()
		_ = db.Close()
	})
	store := mailbox.NewMemory()
	key := seedStore(tb, store)
	sub, err := New(Options{Queue: q, Store: store, Hostname: "mx.example.com", Rules: rules})
	if err != nil {
		tb.Fatal(err)
	}
	return &testEnv{sub: sub, q: q, store: store, key: key}
}

// passwordHash is bcrypt at the minimum cost, computed once: tests need speed, not strength.
var passwordHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// seedStore adds the test domains and mailboxes; it returns an API key for auto@example.com.
func seedStore(tb testing.TB, store mailbox.Store) string {
	tb.Helper()
	ctx := context.Background()
	for _, d := range []mailbox.Domain{
		{Name: "example.com", DKIMSelector: "rsa1", DKIMKeyPEM: readFile(tb, "testdata/rsa2048.pem"),
			IdentityKeys: []mailbox.IdentityKey{{Selector: "mmid1", KeyPEM: readFile(tb, "testdata/identity-example.pem"), Status: "active"}}},
		{Name: "ed.example", DKIMSelector: "ed1", DKIMKeyPEM: readFile(tb, "testdata/ed25519.pem"),
			IdentityKeys: []mailbox.IdentityKey{{Selector: "mmid1", KeyPEM: readFile(tb, "testdata/identity-ed.pem"), Status: "active"}}},
		{Name: "plain.test"},
	} {
		if err := store.AddDomain(ctx, d); err != nil {
			tb.Fatal(err)
		}
	}
	for addr, mode := range testMailboxes {
		if err := store.AddMailbox(ctx, mailbox.Mailbox{Address: addr, Oversight: mode, PasswordHash: passwordHash()}); err != nil {
			tb.Fatal(err)
		}
	}
	plain, hash := mailbox.NewAPIKeySecret()
	k := mailbox.APIKey{ID: "key_test", Hash: hash, Mailboxes: []string{"auto@example.com"}, Scopes: []string{"send"}}
	if err := store.AddAPIKey(ctx, k); err != nil {
		tb.Fatal(err)
	}
	readKey := mailbox.APIKey{ID: "key_read", Hash: mailbox.HashAPIKey(readOnlyKey), Mailboxes: []string{"auto@example.com"}, Scopes: []string{"read"}}
	if err := store.AddAPIKey(ctx, readKey); err != nil {
		tb.Fatal(err)
	}
	return plain
}

// readOnlyKey is an API key of auto@example.com with only the read scope.
const readOnlyKey = "mm_live_readonlyreadonlyreadonlyreadon"

// readFile reads a test fixture.
func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// apiAs is an API principal for one mailbox with the send scope.
func apiAs(mbox string) Principal {
	return Principal{Mailbox: mbox, KeyID: "key_test", Scopes: []string{"send"}, Source: "api"}
}

// admin is the CLI principal.
var admin = Principal{Mailbox: "*", Scopes: []string{"admin"}, Source: "cli", Owner: true}

// testTLS is a self-signed certificate for 127.0.0.1 (ECDSA: fast to make), made once.
var testTLS = sync.OnceValues(func() (*tls.Config, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"mx.example.com", "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
})

// clientTLS trusts the test certificate.
func clientTLS() *tls.Config {
	_, pool := testTLS()
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// testServer runs both listeners on 127.0.0.1:0.
type testServer struct {
	*testEnv
	srv         *Server
	submission  string // STARTTLS address
	submissions string // implicit TLS address
}

// newServer starts a Server over a fresh env; trusted adds 127.0.0.1/32 to trusted_networks.
func newServer(tb testing.TB, trusted bool, tune func(*ServerOptions), rules ...Rule) *testServer {
	tb.Helper()
	env := newEnv(tb, rules...)
	cfg, _ := testTLS()
	opts := ServerOptions{Hostname: "mx.example.com", TLSConfig: cfg, ReadTimeout: 10 * time.Second}
	if trusted {
		opts.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}
	if tune != nil {
		tune(&opts)
	}
	srv := NewServer(env.sub, opts)
	l1 := listen(tb)
	l2 := listen(tb)
	ts := &testServer{testEnv: env, srv: srv, submission: l1.Addr().String(), submissions: l2.Addr().String()}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.ServeSubmission(l1) }()
	go func() { defer wg.Done(); _ = srv.ServeSubmissions(l2) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		wg.Wait()
	})
	return ts
}

// listen opens a loopback listener.
func listen(tb testing.TB) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// quietLogger keeps Pebble's start-up chatter out of test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Errorf(string, ...any)     {}
func (quietLogger) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
