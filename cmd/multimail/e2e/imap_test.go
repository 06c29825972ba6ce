package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// deliverInbound sends one message to Sender through the node's port 25.
func deliverInbound(t *testing.T, n *Node, subject string) {
	t.Helper()
	msg := fmt.Sprintf("From: <a@sender.test>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nhello\r\n", Sender, subject)
	c, err := smtp.Dial(Addr(n.Ports.SMTP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@sender.test", []string{Sender}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
}

// TestIMAPOneStoreTwoViews reads inbound mail with the go-imap client over STARTTLS and
// implicit TLS, sees a new message arrive during IDLE, and checks that a keyword set over IMAP
// is an API tag and a tag set over the API is an IMAP keyword.
func TestIMAPOneStoreTwoViews(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	deliverInbound(t, n, "first")
	tc := &tls.Config{InsecureSkipVerify: true}
	newMsgs := make(chan uint32, 10)
	opts := &imapclient.Options{TLSConfig: tc, UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				newMsgs <- *d.NumMessages
			}
		},
	}}
	c, err := imapclient.DialStartTLS(Addr(n.Ports.IMAP), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(Sender, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("select INBOX: %v %+v", err, sel)
	}
	// A keyword set over IMAP is an API tag.
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"consumed"}, Silent: true}
	if err := c.Store(imap.SeqSetNum(1), store, nil).Close(); err != nil {
		t.Fatal(err)
	}
	code, body := n.Do("GET", "/v1/mailboxes/"+url.PathEscape(Sender)+"/emails?tag=consumed", APIKey, nil)
	var list struct {
		Emails []struct {
			EmailID string   `json:"email_id"`
			Tags    []string `json:"tags"`
		} `json:"emails"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Emails) != 1 {
		t.Fatalf("IMAP keyword not visible as an API tag: %d %s", code, body)
	}
	// A tag set over the API is an IMAP keyword.
	if code, body := n.Do("POST", "/v1/emails/"+list.Emails[0].EmailID+"/tags", APIKey, []byte(`{"add":["from-api"]}`)); code != 200 {
		t.Fatalf("tag = %d %s", code, body)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 || !hasFlag(msgs[0].Flags, "from-api") || !hasFlag(msgs[0].Flags, "consumed") {
		t.Fatalf("FETCH FLAGS after API tag: %v %+v", err, msgs)
	}
	// IDLE sees a new message.
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	deliverInbound(t, n, "second")
	select {
	case got := <-newMsgs:
		if got != 2 {
			t.Errorf("EXISTS %d, want 2", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("IDLE saw no new message")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	// Implicit TLS, with an API key as the password.
	c2, err := imapclient.DialTLS(Addr(n.Ports.IMAPS), &imapclient.Options{TLSConfig: tc})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Authenticate(sasl.NewPlainClient("", Sender, APIKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	full, err := c2.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(full) != 1 || !strings.Contains(string(full[0].FindBodySection(&imap.FetchItemBodySection{})), "Subject: second") {
		t.Fatalf("FETCH BODY[] over IMAPS: %v", err)
	}
}

func hasFlag(flags []imap.Flag, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), f) {
			return true
		}
	}
	return false
}

// TestIMAPPythonImaplib reads the mailbox with python's imaplib over STARTTLS and IMAPS, and
// checks that LOGIN is refused before TLS.
func TestIMAPPythonImaplib(t *testing.T) {
	t.Parallel()
	py := Tool(t, "python3")
	n := Start(t, Options{})
	deliverInbound(t, n, "for imaplib")
	script := fmt.Sprintf(`
import imaplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4("127.0.0.1", %d)
try:
    m.login(%q, %q)
    raise SystemExit("LOGIN accepted before TLS")
except imaplib.IMAP4.error as e:
    print("refused before TLS:", e)
m.starttls(ctx)
m.login(%q, %q)
typ, data = m.select("INBOX")
assert typ == "OK" and data[0] == b"1", (typ, data)
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert b"for imaplib" in data[0][1], data
typ, data = m.list()
names = b" ".join(data)
for f in (b"Sent", b"Drafts", b"Archive", b"Trash", b"Junk"):
    assert f in names, names
m.logout()
s = imaplib.IMAP4_SSL("127.0.0.1", %d, ssl_context=ctx)
s.login(%q, %q)
typ, data = s.select("INBOX", readonly=True)
assert typ == "OK", (typ, data)
s.logout()
print("ok")
`, n.Ports.IMAP, Sender, Password, Sender, Password, n.Ports.IMAPS, Sender, APIKey)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// TestIMAPMbsync syncs every folder with mbsync (isync), a desktop-grade client, then pushes
// a flag change back and sees it through the API.
func TestIMAPMbsync(t *testing.T) {
	t.Parallel()
	mbsync := Tool(t, "mbsync")
	n := Start(t, Options{})
	deliverInbound(t, n, "for mbsync")
	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail") + "/"
	rc := fmt.Sprintf(`IMAPAccount mm
Host 127.0.0.1
Port %d
User %s
Pass %s
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account mm

MaildirStore local
Path %s
Inbox %sINBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Sync All
SyncState *
`, n.Ports.IMAPS, Sender, Password, filepath.Join(n.Dir, "data", "tls", "cert.pem"), maildir, maildir)
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	rcPath := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() {
		out, err := exec.Command(mbsync, "-c", rcPath, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	run()
	for _, f := range []string{"INBOX", "Sent", "Drafts", "Archive", "Trash", "Junk"} {
		if _, err := os.Stat(filepath.Join(maildir, f, "cur")); err != nil {
			t.Errorf("folder %s not synced: %v", f, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(maildir, "INBOX", "*", "*"))
	if len(files) != 1 {
		t.Fatalf("INBOX has %d messages locally, want 1: %v", len(files), files)
	}
	// Flag the message locally (maildir flag F = \Flagged) and push it back.
	f := files[0]
	flagged := strings.Replace(filepath.Join(filepath.Dir(filepath.Dir(f)), "cur", filepath.Base(f)), ":2,", ":2,F", 1)
	if !strings.Contains(flagged, ":2,") {
		flagged += ":2,F"
	}
	if err := os.Rename(f, flagged); err != nil {
		t.Fatal(err)
	}
	run()
	code, body := n.Do("GET", "/v1/mailboxes/"+url.PathEscape(Sender)+"/emails?folder=INBOX", APIKey, nil)
	if code != 200 || !strings.Contains(string(body), `\\Flagged`) {
		t.Fatalf("flag pushed by mbsync not in the store: %d %s", code, body)
	}
}
