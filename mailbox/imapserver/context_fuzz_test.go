package imapserver

import (
	"testing"

	"multimail.dev/multimail/mailbox"
)

// FuzzContextSyntax sends RFC 5267 §4 syntax (RETURN options with UPDATE, PARTIAL and
// CONTEXT on SEARCH and SORT, CANCELUPDATE arguments): every command gets a tagged
// answer, and the session survives to answer NOOP.
func FuzzContextSyntax(f *testing.F) {
	for _, s := range []string{
		"(UPDATE)", "(UPDATE COUNT)", "(PARTIAL 1:2)", "(PARTIAL 2:1 COUNT)", "(PARTIAL 0:1)",
		"(PARTIAL 1:4294967296)", "(PARTIAL 1:*)", "(PARTIAL -1:-5)", "(CONTEXT UPDATE PARTIAL 1:9 MIN MAX)",
		"(PARTIAL 1:2 ALL)", "(UPDATE SAVE)", "(PARTIAL", "((", `"r1" "r2"`, `"`, "",
	} {
		f.Add(s)
	}
	e := newEnvStore(f, mailbox.NewMemory(), nil)
	for i := 1; i <= 3; i++ {
		e.deliver(f, "INBOX", testMessage(i, "m", "b"), mailbox.DeliverOptions{})
	}
	c := e.raw(f)
	templates := []string{
		"SEARCH RETURN %s ALL", "UID SEARCH RETURN %s UNSEEN", "SORT RETURN %s (SIZE) UTF-8 ALL",
		"UID SORT RETURN %s (REVERSE ARRIVAL) UTF-8 UNSEEN", "CANCELUPDATE %s",
	}
	f.Fuzz(func(t *testing.T, arg string) {
		c.t = t
		c.ok("SELECT INBOX") // ends the contexts of the last run
		c.answersEach(t, templates, arg)
		c.ok(`STORE 1 -FLAGS (\Seen)`)
		c.ok("NOOP")
	})
}
