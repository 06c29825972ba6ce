package imapserver

import (
	"testing"

	"multimail.dev/multimail/mailbox"
)

// FuzzQuotaSyntax puts arbitrary text where the go-imap fork parses RFC 9208 syntax (the
// quota root of GETQUOTA and SETQUOTA, the mailbox of GETQUOTAROOT, the setquota-list) and
// sends it to a real server with a quota: every command gets a tagged OK, NO or BAD, and the
// connection stays usable. CR, LF and braces are dropped: a literal would wait for its bytes.
func FuzzQuotaSyntax(f *testing.F) {
	for _, s := range []string{
		`""`, "INBOX", `"" (STORAGE 1024)`, `"" ()`, `"" (STORAGE 1 STORAGE 2)`, `"" (STORAGE -1)`,
		`"" (STORAGE 99999999999999999999999)`, "((", `"x`, "NIL", "Archive (MESSAGE 5)",
	} {
		f.Add(s)
	}
	e := newEnvStore(f, mailbox.NewMemory(), func(o *Options) { o.MailboxQuota = 1 << 20 })
	e.deliver(f, "INBOX", testMessage(1, "m", "b"), mailbox.DeliverOptions{})
	c := e.raw(f)
	templates := []string{"GETQUOTA %s", "GETQUOTAROOT %s", "SETQUOTA %s", `SETQUOTA "" %s`}
	f.Fuzz(func(t *testing.T, arg string) {
		c.t = t
		c.answersEach(t, templates, arg)
		c.ok("NOOP")
	})
}
