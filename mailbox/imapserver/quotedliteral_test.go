package imapserver

import (
	"strings"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// TestQuotedLiteralMarker: a literal marker ("{n}", "{n+}", "~{n+}") at the
// end of a closed quoted string is text, not a literal announcement: the
// server sends no "+", skips no bytes, and the name keeps its braces.
func TestQuotedLiteralMarker(t *testing.T) {
	t.Parallel()
	e := newEnvStore(t, mailbox.NewMemory(), func(o *Options) { o.MaxLiteralBytes = 1000 })
	c := dialRaw(t, e)
	for _, cmd := range []string{`SELECT "x{3}"`, `SELECT "x{3+}"`, `SELECT "x~{3+}"`, `STATUS "x{3}" (MESSAGES)`} {
		if u, st := c.do(cmd); !strings.HasPrefix(st, "NO") || len(u) > 0 {
			t.Errorf("%s: %q %s", cmd, u, st)
		}
		c.ok("NOOP")
	}
	for _, cmd := range []string{`APPEND Drafts "x{5+}"`, `APPEND Drafts "x{5}"`, `APPEND Drafts (\Seen) "x~{5+}"`, `FOO "x{5+}"`} {
		if u, st := c.do(cmd); !strings.HasPrefix(st, "BAD") || len(u) > 0 {
			t.Errorf("%s: %q %s", cmd, u, st)
		}
		c.ok("NOOP")
	}
	c.ok(`CREATE "a{3}"`)
	if u := c.ok(`LIST "" "a*"`); len(u) != 1 || !strings.HasSuffix(u[0], `"a{3}"`) {
		t.Errorf("LIST = %q", u)
	}
	c.ok(`SELECT "a{3}"`)
}

// TestUnterminatedQuoteLiteral: a line that ends in "{n+}" inside an
// unterminated quoted string still goes on with n bytes of literal (a quoted
// string cannot hold the CRLF, RFC 9051 QUOTED-CHAR): the server refuses the
// command once and runs nothing from inside the literal. So does the line
// reader that skips the rest of a refused APPEND.
func TestUnterminatedQuoteLiteral(t *testing.T) {
	t.Parallel()
	e := newEnvStore(t, mailbox.NewMemory(), func(o *Options) { o.MaxLiteralBytes = 1000 })
	c := dialRaw(t, e)
	for _, cmd := range []string{
		"APPEND Drafts \"x {9+}\r\nx9 NOOP\r\n",
		"APPEND Drafts (\\Seen) \"x ~{9+}\r\nx9 NOOP\r\n",
		"APPEND Drafts {9+}\r\nx9 NOOP\r\n \"y {9+}\r\nx8 NOOP\r\n",
		"SELECT \"x {9+}\r\nx9 NOOP\r\n",
		"FOO \"x {9+}\r\nx9 NOOP\r\n",
		"FOO \"x {9+} \r\nx9 NOOP\r\n",
		// Refused, discarded, and the rest of the command skipped, with a
		// space before the CRLF of the next literal's header.
		"APPEND Drafts {2000+}\r\n" + strings.Repeat("x9 NOOP\r\n", 222) + "xx {9+} \r\nx9 NOOP\r\n",
	} {
		if u, st := c.do(cmd); strings.HasPrefix(st, "OK") || len(u) > 0 {
			t.Errorf("%q: %q %s", cmd, u, st)
		}
		c.ok("NOOP")
	}
}
