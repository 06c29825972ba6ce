package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/budget"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
)

// testMailboxes are created in every test env: address -> oversight mode.
var testMailboxes = map[string]mailbox.Oversight{
	"auth@yourproduct.com": mailbox.Autonomous,
	"other@example.com":    mailbox.Autonomous,
	"gated@example.com":    mailbox.GatedSend,
	"all@example.com":      mailbox.GatedAll,
	"ro@example.com":       mailbox.ReadOnly,
}

// testKeys are the API keys of every test env: name -> mailboxes and scopes.
var testKeys = map[string]mailbox.APIKey{
	"send":     {Mailboxes: []string{"auth@yourproduct.com"}, Scopes: []string{"send", "read", "tag"}},
	"sendonly": {Mailboxes: []string{"auth@yourproduct.com"}, Scopes: []string{"send"}},
	"readonly": {Mailboxes: []string{"auth@yourproduct.com"}, Scopes: []string{"read"}},
	"other":    {Mailboxes: []string{"other@example.com"}, Scopes: []string{"send", "read", "tag"}},
	"gated":    {Mailboxes: []string{"gated@example.com", "all@example.com"}, Scopes: []string{"send", "read", "tag"}},
	"ro":       {Mailboxes: []string{"ro@example.com"}, Scopes: []string{"send", "read"}},
	"admin":    {Mailboxes: []string{"*"}, Scopes: []string{"admin"}},
	"allsend":  {Mailboxes: []string{"*"}, Scopes: []string{"send", "read", "tag"}},
}

// testEnv is an API server on a real listener (127.0.0.1:0) over a real queue (Pebble in a
// temp dir), an in-memory mailbox store and a real Submitter.
type testEnv struct {
	t      testing.TB
	store  mailbox.Store
	legacy *legacyStore // store, plus keys created before the scope rules
	db     *pebble.DB
	q      *queue.Queue
	srv    *Server
	http   *httptest.Server
	keys   map[string]string // test key name -> plaintext
	reg    *prometheus.Registry
	audit  *audit.Journal
}

// envOptions tweak a testEnv.
type envOptions struct {
	rateLimit RateLimit
	maxBody   int64
	clock     Clock
	queueOpts queue.Options
	rules     []submission.Rule
	bodyTime  time.Duration
	budget    *budget.Bytes
	resolver  Resolver // default: one asking an empty test DNS server (every record missing)
	pools     []SourcePool
}

func newEnv(tb testing.TB, eo envOptions) *testEnv {
	tb.Helper()
	db, err := pebble.Open(tb.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		tb.Fatal(err)
	}
	j, err := audit.Open(db, audit.Options{Node: "mx.test"})
	if err != nil {
		tb.Fatal(err)
	}
	eo.queueOpts.Audit = j
	q, err := queue.Open(db, eo.queueOpts)
	if err != nil {
		tb.Fatal(err)
	}
	legacy := &legacyStore{Store: mailbox.NewMemory(), keys: map[string]mailbox.APIKey{}}
	e := &testEnv{t: tb, store: legacy, legacy: legacy, db: db, q: q, keys: map[string]string{}, reg: prometheus.NewRegistry(), audit: j}
	tb.Cleanup(func() {
		_ = q.Close()
		_ = db.Close()
	})
	e.seed()
	sub, err := submission.New(submission.Options{Queue: q, Store: e.store, Hostname: "mx.test", Rules: eo.rules})
	if err != nil {
		tb.Fatal(err)
	}
	if eo.resolver == nil {
		eo.resolver = testResolver(mtatest.NewDNS(tb, nil).Addr())
	}
	if eo.rateLimit.PerSecond == 0 {
		eo.rateLimit.PerSecond = -1 // tests that want a limit set one
	}
	e.srv, err = New(Options{Store: e.store, Queue: q, Submitter: sub, Gatherer: e.reg, Registerer: e.reg,
		Hostname: "mx.test", MaxBodyBytes: eo.maxBody, RateLimit: eo.rateLimit, Clock: eo.clock,
		BodyTimeout: eo.bodyTime, Budget: eo.budget, Audit: j, Resolver: eo.resolver,
		SourcePools: eo.pools})
	if err != nil {
		tb.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv.Handler())
	tb.Cleanup(e.http.Close)
	return e
}

var passwordHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// seed adds the domains, mailboxes and keys.
func (e *testEnv) seed() {
	ctx := context.Background()
	for _, name := range []string{"yourproduct.com", "example.com"} {
		pemKey, err := generateDKIMKey(keyEd25519)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.AddDomain(ctx, mailbox.Domain{Name: name, DKIMSelector: "mm1", DKIMKeyPEM: pemKey}); err != nil {
			e.t.Fatal(err)
		}
	}
	for addr, mode := range testMailboxes {
		if err := e.store.AddMailbox(ctx, mailbox.Mailbox{Address: addr, Oversight: mode, PasswordHash: passwordHash()}); err != nil {
			e.t.Fatal(err)
		}
	}
	for name, k := range testKeys {
		plain, hash := mailbox.NewAPIKeySecret()
		k.ID, k.Hash = "key_"+name, hash
		if err := e.store.AddAPIKey(ctx, k); err != nil {
			e.t.Fatal(err)
		}
		e.keys[name] = plain
	}
}

// addKey stores a key under a test name (its ID is "key_"+name) and returns its id.
func (e *testEnv) addKey(name string, k mailbox.APIKey) string {
	e.t.Helper()
	plain, hash := mailbox.NewAPIKeySecret()
	if k.Test {
		plain, hash = mailbox.NewTestAPIKeySecret()
	}
	k.ID, k.Hash = "key_"+name, hash
	if err := e.store.AddAPIKey(context.Background(), k); err != nil {
		e.t.Fatal(err)
	}
	e.keys[name] = plain
	return k.ID
}

// addLegacyKey makes a key the store would refuse today (send with admin) visible to
// authentication, as a data directory from before the rule holds it.
func (e *testEnv) addLegacyKey(name string, k mailbox.APIKey) {
	plain, hash := mailbox.NewAPIKeySecret()
	k.ID, k.Hash = "key_"+name, hash
	e.legacy.mu.Lock()
	e.legacy.keys[hash] = k
	e.legacy.mu.Unlock()
	e.keys[name] = plain
}

// legacyStore is a mailbox.Store with extra keys found by hash only.
type legacyStore struct {
	mailbox.Store
	mu   sync.Mutex
	keys map[string]mailbox.APIKey // by hash
}

func (s *legacyStore) APIKeyByHash(ctx context.Context, hash string) (mailbox.APIKey, error) {
	s.mu.Lock()
	k, ok := s.keys[hash]
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	return s.Store.APIKeyByHash(ctx, hash)
}

// response is a decoded API answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v, failing the test on error.
func (r response) json(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorBody decodes an error response.
func (r response) apiError(tb testing.TB) (code, field, msg string) {
	tb.Helper()
	var eb struct {
		Error struct{ Code, Field, Message string }
	}
	r.json(tb, &eb)
	return eb.Error.Code, eb.Error.Field, eb.Error.Message
}

// do sends a request with the named key ("" = none) and a body (string, []byte or any JSON).
func (e *testEnv) do(method, path, key string, body any, hdr ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b // no Content-Length: sent chunked
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		plain, ok := e.keys[key]
		if !ok {
			plain = key // a literal (bad) key
		}
		req.Header.Set("Authorization", "Bearer "+plain)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// send posts a send_email body with the "send" key and returns the message id (202 expected).
func (e *testEnv) send(body map[string]any) string {
	e.t.Helper()
	r := e.do("POST", "/v1/send_email", "send", body)
	if r.status != http.StatusAccepted {
		e.t.Fatalf("send_email: %d %s", r.status, r.body)
	}
	var out struct {
		MessageID string `json:"message_id"`
	}
	r.json(e.t, &out)
	return out.MessageID
}

// deliver stores a raw message into a mailbox's INBOX and returns its id.
func (e *testEnv) deliver(mbox, raw string, o mailbox.DeliverOptions) string {
	e.t.Helper()
	em, err := e.store.Deliver(context.Background(), mbox, "INBOX", []byte(strings.ReplaceAll(raw, "\n", "\r\n")), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return em.ID
}

// otpBody is the seed's OTP send_email body.
func otpBody() map[string]any {
	return map[string]any{
		"mailbox_id": "auth@yourproduct.com",
		"to":         "user@example.com",
		"subject":    "Your one-time sign-in code",
		"html":       `<p>Your sign-in code is <strong style="font-size:28px;letter-spacing:6px;">847291</strong></p>`,
		"text":       "Your sign-in code is 847291. Expires in 10 minutes. Do not share this code.",
		"priority":   "high",
		"tags":       []string{"auth", "otp"},
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// quietLogger silences Pebble.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic("pebble: " + format)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testResolver is a Go resolver that asks only the DNS server at addr.
func testResolver(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}
