package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/internal/pgtest"
)

// TestPostgresMailboxesAcrossNodes runs two nodes with [store] backend = "postgres" on one
// database: mail delivered on node A's port 25 is read over IMAP on node B, a flag set on B
// is seen by A's API, and `multimail migrate` finds nothing left to do.
func TestPostgresMailboxesAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	cfg := fmt.Sprintf("[store]\nbackend = \"postgres\"\ndsn = %q\n", dsn)
	a := Start(t, Options{Config: cfg})
	b := Start(t, Options{Config: cfg})

	// An IMAP client of node B waits in IDLE for the mail node A will receive.
	exists := make(chan uint32, 10)
	idleC, err := imapclient.DialTLS(Addr(b.Ports.IMAPS), &imapclient.Options{
		TLSConfig: &tls.Config{InsecureSkipVerify: true},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer idleC.Close()
	if err := idleC.Login(Sender, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if sel, err := idleC.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 0 {
		t.Fatalf("select: %v %+v", err, sel)
	}
	idle, err := idleC.Idle()
	if err != nil {
		t.Fatal(err)
	}

	subject := "login code 246810"
	c, err := smtp.Dial(Addr(a.Ports.SMTP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.sender.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@sender.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(Sender, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: a@sender.test\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <pg-e2e@sender.test>\r\n\r\nYour code is 246810.\r\n", Sender, subject)
	if err := w.Close(); err != nil { // 250 only after the PostgreSQL commit
		t.Fatal(err)
	}
	c.Quit()
	accepted := time.Now()
	select {
	case got := <-exists:
		if got != 1 {
			t.Fatalf("IDLE on node B: EXISTS %d, want 1", got)
		}
		t.Logf("IDLE on node B saw node A's delivery %v after the 250", time.Since(accepted).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("IDLE on node B never saw the mail node A accepted")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	ic, err := imapclient.DialTLS(Addr(b.Ports.IMAPS), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(Sender, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := ic.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 || sel.UIDNext != 2 {
		t.Fatalf("node B's INBOX: %d messages, UIDNEXT %d; want the one delivered on node A", sel.NumMessages, sel.UIDNext)
	}
	msgs, err := ic.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{UID: true, Envelope: true,
		BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch = %v, %v", msgs, err)
	}
	if msgs[0].Envelope.Subject != subject {
		t.Fatalf("subject %q", msgs[0].Envelope.Subject)
	}
	var body []byte
	for _, v := range msgs[0].BodySection {
		body = v.Bytes
	}
	if !strings.Contains(string(body), "Your code is 246810.") || !strings.Contains(string(body), "Authentication-Results:") {
		t.Fatalf("body %q", body)
	}
	if err := ic.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	code, out := a.Do("GET", "/v1/mailboxes/"+Sender+"/emails?unread=false", APIKey, nil)
	if code != 200 || !strings.Contains(string(out), subject) {
		t.Fatalf("node A's API after B set \\Seen: %d %s", code, out)
	}

	mig, err := exec.Command(Binary(t), "migrate", "--config", a.Config).CombinedOutput()
	if err != nil || !strings.Contains(string(mig), "nothing to do") {
		t.Fatalf("migrate: %v: %s", err, mig)
	}
	chk, err := exec.Command(Binary(t), "migrate", "--check", "--config", b.Config).CombinedOutput()
	if err != nil {
		t.Fatalf("migrate --check: %v: %s", err, chk)
	}
}

// TestPostgresRefusesAsyncCommit: a node whose database would acknowledge commits before they
// are durable does not start, and says why.
func TestPostgresRefusesAsyncCommit(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t) + "&synchronous_commit=off"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "multimail.toml")
	cfg := fmt.Sprintf("hostname = \"mx.e2e.test\"\ndata_dir = %q\n[store]\nbackend = \"postgres\"\ndsn = %q\n", filepath.Join(dir, "data"), dsn)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := Context(t, 2*time.Minute)
	out, err := exec.CommandContext(ctx, Binary(t), "serve", "--config", cfgPath).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "synchronous_commit = off") {
		t.Fatalf("serve = %v, output:\n%s", err, out)
	}
}
