package inbound

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

// testHost is the server's hostname and authserv-id in tests.
const testHost = "mx.example.com"

// testEnv is one inbound server with its store, queue and DNS, on loopback.
type testEnv struct {
	t     testing.TB
	srv   *Server
	addr  string
	store mailbox.Store
	queue *queue.Queue
	dns   *mtatest.DNS
	key   ed25519.PrivateKey // DKIM key published as s1._domainkey.dkim.example
}

// testZone publishes the sender domains the tests use.
func testZone(pub ed25519.PublicKey) map[string]mtatest.Records {
	dkimTXT := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	return map[string]mtatest.Records{
		"pass.example":               {TXT: []string{"v=spf1 ip4:127.0.0.1 -all"}},
		"_dmarc.pass.example":        {TXT: []string{"v=DMARC1; p=reject"}},
		"spffail.example":            {TXT: []string{"v=spf1 -all"}},
		"soft.example":               {TXT: []string{"v=spf1 ~all"}},
		"none.example":               {A: []string{"127.0.0.1"}},
		"servfail.example":           {ServFail: true},
		"reject.example":             {TXT: []string{"v=spf1 -all"}},
		"_dmarc.reject.example":      {TXT: []string{"v=DMARC1; p=reject"}},
		"quar.example":               {TXT: []string{"v=spf1 -all"}},
		"_dmarc.quar.example":        {TXT: []string{"v=DMARC1; p=quarantine"}},
		"dkim.example":               {TXT: []string{"v=spf1 -all"}},
		"s1._domainkey.dkim.example": {TXT: []string{dkimTXT}},
		"_dmarc.dkim.example":        {TXT: []string{"v=DMARC1; p=reject"}},
	}
}

// newEnv starts a server with a memory store holding example.com (agent@, gated@) and a real
// queue on Pebble; tweak adjusts the options first.
func newEnv(t testing.TB, tweak func(*Options)) *testEnv {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, key: key, store: mailbox.NewMemory(), dns: mtatest.NewDNS(t, testZone(pub))}
	e.queue = openQueue(t, openPebble(t))
	e.addMailboxes()
	opts := Options{Hostname: testHost, Store: e.store, Queue: e.queue,
		Resolver: testResolver(t, e.dns.Addr(), 2*time.Second)}
	if tweak != nil {
		tweak(&opts)
	}
	e.start(opts)
	return e
}

// openPebble opens a Pebble database in a temporary directory, closed when the test ends
// (after the cleanups registered later, which run first).
func openPebble(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("pebble.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openQueue opens a real queue on db.
func openQueue(t testing.TB, db *pebble.DB) *queue.Queue {
	t.Helper()
	q, err := queue.Open(db, queue.Options{})
	if err != nil {
		t.Fatalf("queue.Open: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// quietLogger silences Pebble.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// addMailboxes creates the local domain and its mailboxes.
func (e *testEnv) addMailboxes() {
	ctx := context.Background()
	if err := e.store.AddDomain(ctx, mailbox.Domain{Name: "example.com"}); err != nil {
		e.t.Fatal(err)
	}
	for addr, o := range map[string]mailbox.Oversight{
		"agent@example.com": mailbox.Autonomous, "gated@example.com": mailbox.GatedAll} {
		if err := e.store.AddMailbox(ctx, mailbox.Mailbox{Address: addr, Oversight: o}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// start runs the server on 127.0.0.1:0 until the test ends.
func (e *testEnv) start(opts Options) {
	srv, err := NewServer(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			e.t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			e.t.Errorf("Serve: %v", err)
		}
	})
	e.srv, e.addr = srv, ln.Addr().String()
}

// send delivers msg with a real go-smtp client and returns the final DATA reply text, or the
// first error (an *smtp.SMTPError for a refusal).
func (e *testEnv) send(from string, to []string, msg string) (string, error) {
	e.t.Helper()
	c, err := smtp.Dial(e.addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return "", err
	}
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	_ = c.Quit()
	return resp.StatusText, nil
}

// mustStore sends msg and returns the one stored email's raw bytes.
func (e *testEnv) mustStore(t testing.TB, from, to, msg string) (mailbox.Email, []byte) {
	t.Helper()
	text, err := e.send(from, []string{to}, msg)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	ids := emailIDs(text)
	if len(ids) != 1 {
		t.Fatalf("reply %q, want one email id", text)
	}
	return e.email(t, ids[0])
}

// email returns a stored email and its raw bytes.
func (e *testEnv) email(t testing.TB, id string) (mailbox.Email, []byte) {
	t.Helper()
	em, err := e.store.Email(context.Background(), id)
	if err != nil {
		t.Fatalf("stored email %q: %v", id, err)
	}
	raw, err := e.store.Raw(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return em, raw
}

// emailIDs returns the email ids named in a 250 reply text.
func emailIDs(text string) []string {
	var ids []string
	for _, f := range strings.Fields(text) {
		if strings.HasPrefix(f, "em_") {
			ids = append(ids, f)
		}
	}
	return ids
}

// codeOf returns the SMTP code of err (0 when it is not a reply).
func codeOf(err error) (int, string) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return 0, ""
}

// plainMessage builds a plain message from addr.
func plainMessage(from, subject, body string) string {
	return "From: Sender <" + from + ">\r\nTo: agent@example.com\r\nSubject: " + subject +
		"\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <" + subject + "@test>\r\n\r\n" + body + "\r\n"
}

// sign DKIM-signs msg for dkim.example, selector s1.
func (e *testEnv) sign(msg string) string {
	e.t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: "dkim.example",
		Selector: "s1", Signer: e.key})
	if err != nil {
		e.t.Fatal(err)
	}
	return b.String()
}

// headerValues returns the unfolded values of every field named name in raw's header.
func headerValues(raw []byte, name string) []string {
	fields, _ := splitHeader(raw)
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value())
		}
	}
	return out
}

// dialog is a raw SMTP conversation for exact-code assertions.
type dialog struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// dial opens a raw connection and reads the greeting.
func (e *testEnv) dial() *dialog {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	d := &dialog{t: e.t, conn: c, r: bufio.NewReader(c)}
	d.expect("220")
	return d
}

// send writes s as is (the caller includes line endings).
func (d *dialog) send(s string) {
	d.t.Helper()
	if _, err := d.conn.Write([]byte(s)); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

// reply reads one (possibly multi-line) reply and returns its last line.
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

// expect reads one reply and checks that it starts with prefix ("250", "550 5.1.1").
func (d *dialog) expect(prefix string) string {
	d.t.Helper()
	got := d.reply()
	if !strings.HasPrefix(got, prefix) {
		d.t.Fatalf("reply %q, want prefix %q", got, prefix)
	}
	return got
}

// cmd sends one command line and checks the reply.
func (d *dialog) cmd(line, prefix string) string {
	d.t.Helper()
	d.send(line + "\r\n")
	return d.expect(prefix)
}

// queryAll selects every email of a mailbox, pending ones included.
func queryAll(mb string) mailbox.Query {
	return mailbox.Query{Mailbox: mb, IncludePending: true, Limit: mailbox.MaxQueryLimit}
}
