package imapserver

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/internal/interoptest"

	"multimail.dev/multimail/mailbox"
)

// pythonClient drives the server with Python's imaplib, a second,
// independent client implementation. It prints "OK" when every step passed.
const pythonClient = `
import imaplib, ssl, sys
host, port, user, secret, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)
def check(ok, what):
    if not ok:
        print("FAIL", what); sys.exit(1)
m = imaplib.IMAP4(host, port)
check("LOGINDISABLED" in m.capabilities, "LOGINDISABLED before TLS")
m.starttls(ssl_context=ctx)
m.login(user, secret)
typ, data = m.list()
names = b" ".join(data)
for f in (b"\\Sent", b"\\Drafts", b"\\Archive", b"\\Trash", b"\\Junk"):
    check(f in names, "special-use %r in LIST" % f)
typ, data = m.select("INBOX")
check(typ == "OK" and data[0] == b"1", "SELECT INBOX: %r" % data)
typ, data = m.fetch("1", "(BODY.PEEK[] FLAGS)")
check(data[0][1] == open(sys.argv[6], "rb").read(), "BODY.PEEK[] byte for byte")
typ, data = m.store("1", "+FLAGS", "(urgent)")
check(b"urgent" in data[0], "STORE +FLAGS urgent: %r" % data)
typ, data = m.search(None, "KEYWORD", "urgent")
check(data[0] == b"1", "SEARCH KEYWORD: %r" % data)
typ, data = m.uid("SEARCH", None, "FROM", "sender1")
check(data[0].split() == [b"1"], "UID SEARCH FROM: %r" % data)
typ, data = m.append("Drafts", "(\\Draft)", None, b"Subject: draft\r\n\r\nbody\r\n")
check(typ == "OK" and b"APPENDUID" in data[0], "APPEND: %r" % data)
typ, data = m.uid("COPY", "1", "Archive")
check(typ == "OK", "UID COPY: %r" % data)
typ, data = m.status("Archive", "(MESSAGES UIDNEXT)")
check(typ == "OK" and b"MESSAGES " in data[0], "STATUS Archive: %r" % data)
m.logout()
s = imaplib.IMAP4_SSL(host, int(sys.argv[7]), ssl_context=ctx)
s.login(user, secret)
typ, data = s.select("Archive", readonly=True)
check(typ == "OK" and int(data[0]) >= 1, "EXAMINE Archive over implicit TLS: %r" % data)
s.logout()
print("OK")
`

func TestPythonImaplib(t *testing.T) {
	t.Parallel()
	python := interoptest.Tool(t, "python3")
	e := newEnv(t, nil)
	raw := testMessage(1, "From Python", "Hello imaplib.")
	e.deliver(t, "INBOX", raw, mailbox.DeliverOptions{})
	dir := t.TempDir()
	ca, msg := dir+"/ca.pem", dir+"/msg.eml"
	must(t, os.WriteFile(ca, certPEM(t, e), 0o600))
	must(t, os.WriteFile(msg, []byte(raw), 0o600))
	host, port := splitAddr(t, e.imapAddr)
	_, sport := splitAddr(t, e.imapsAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, secret := range []string{testPassword, e.apiKey} {
		out, err := exec.CommandContext(ctx, python, "-c", pythonClient, host, port, testUser, secret, ca, msg, sport).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("imaplib: %v\n%s", err, out)
		}
		// The second run starts from a clean INBOX flag state.
		l, err := e.store.List(ctx, testUser, "INBOX")
		must(t, err)
		_, err = e.store.SetFlags(ctx, l[0].ID, nil, []string{"urgent"})
		must(t, err)
	}
}
