package imapserver

import (
	"testing"

	"multimail.dev/multimail/mailbox"
)

// FuzzCondStoreSyntax puts arbitrary text where the go-imap fork parses RFC 7162 syntax
// (SELECT parameters, FETCH and STORE modifiers, the MODSEQ search key, STATUS items) and
// sends it to a real server: every command gets a tagged OK, NO or BAD, and the connection
// stays usable. CR, LF and braces are dropped: a literal would wait for its bytes.
func FuzzCondStoreSyntax(f *testing.F) {
	for _, s := range []string{
		"(CONDSTORE)", "(QRESYNC (1 1))", "(QRESYNC (1 1 1:5 (1:2 1:2)))", "(QRESYNC (1 1 1:4294967295))",
		"(CHANGEDSINCE 1 VANISHED)", "(CHANGEDSINCE 99999999999999999999)", "(UNCHANGEDSINCE 0)",
		`MODSEQ "/flags/\\Seen" all 5`, "MODSEQ 18446744073709551615", "((", "(QRESYNC", "HIGHESTMODSEQ",
	} {
		f.Add(s)
	}
	e := newEnvStore(f, mailbox.NewMemory(), nil)
	for i := 1; i <= 3; i++ {
		e.deliver(f, "INBOX", testMessage(i, "m", "b"), mailbox.DeliverOptions{})
	}
	c := e.raw(f)
	c.ok("ENABLE QRESYNC")
	templates := []string{
		"SELECT INBOX %s", "UID FETCH 1:* (FLAGS) %s", "FETCH 1:* (UID %s)", "STORE 1 %s +FLAGS.SILENT (x)",
		"UID SEARCH %s", "UID SEARCH RETURN (ALL) MODSEQ %s", "STATUS INBOX (%s)",
	}
	f.Fuzz(func(t *testing.T, arg string) {
		c.t = t
		c.ok("SELECT INBOX")
		c.answersEach(t, templates, arg)
		c.ok("NOOP")
	})
}
