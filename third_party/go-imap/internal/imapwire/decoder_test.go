package imapwire

import (
	"bufio"
	"strings"
	"testing"
)

// failAndDiscard decodes "tag NAME mailbox " and then one quoted string, as a
// server command handler would, and runs DiscardLine after it as the server
// does after every command. It returns the quoted string's result and the
// atom that starts the next command.
func failAndDiscard(t *testing.T, input string) (quotedOK bool, next string) {
	t.Helper()
	dec := NewDecoder(bufio.NewReader(strings.NewReader(input)), ConnSideServer)
	var tag, name, mailbox, quoted string
	if !dec.ExpectAtom(&tag) || !dec.ExpectSP() || !dec.ExpectAtom(&name) || !dec.ExpectSP() ||
		!dec.ExpectMailbox(&mailbox) || !dec.ExpectSP() {
		t.Fatalf("%q: %v", input, dec.Err())
	}
	quotedOK = dec.Quoted(&quoted)
	dec.DiscardLine()
	dec = NewDecoder(dec.r, ConnSideServer)
	if !dec.ExpectAtom(&next) {
		t.Fatalf("%q: next command: %v", input, dec.Err())
	}
	return quotedOK, next
}

// TestDiscardLineUnterminatedQuote: a line that ends in "{n+}" goes on with a
// literal (RFC 7888), also when an unterminated quoted string took the "{n+}"
// as its text: a quoted string cannot hold the CRLF (RFC 9051 QUOTED-CHAR), so
// the literal's bytes must be skipped, not read as the next command.
func TestDiscardLineUnterminatedQuote(t *testing.T) {
	for _, tc := range []struct{ input, next string }{
		{"a1 APPEND INBOX \"x {9+}\r\nx9 NOOP\r\n\r\na2 NOOP\r\n", "a2"},
		{"a1 APPEND INBOX \"x~{9+}\r\nx9 NOOP\r\n\r\na2 NOOP\r\n", "a2"},
		{"a1 APPEND INBOX \"{9+}\r\nx9 NOOP\r\n\r\na2 NOOP\r\n", "a2"},
		{"a1 APPEND INBOX \"x\\\" {9+}\r\nx9 NOOP\r\n\r\na2 NOOP\r\n", "a2"},
		// Two literals: the line after the first one ends in another.
		{"a1 APPEND INBOX \"x {9+}\r\nx9 NOOP\r\n \"y {9+}\r\nx8 NOOP\r\n\r\na2 NOOP\r\n", "a2"},
		// The decoder's CRLF takes a space before it.
		{"a1 APPEND INBOX \"x {9+} \r\nx9 NOOP\r\n\r\na2 NOOP\r\n", "a2"},
		// A synchronising literal is not sent before the server's "+": the
		// command ends with the line.
		{"a1 APPEND INBOX \"x {9}\r\na2 NOOP\r\n", "a2"},
		// No literal: the line ends in text.
		{"a1 APPEND INBOX \"x {9+} y\r\na2 NOOP\r\n", "a2"},
		{"a1 APPEND INBOX \"x {9+\r\na2 NOOP\r\n", "a2"},
	} {
		if ok, next := failAndDiscard(t, tc.input); ok || next != tc.next {
			t.Errorf("%q: quoted %v, next command %q, want %q", tc.input, ok, next, tc.next)
		}
	}
}

// TestDiscardLineClosedQuote: a closed quoted string whose text ends in a
// literal marker announces nothing, and the line's end is found as before.
func TestDiscardLineClosedQuote(t *testing.T) {
	for _, input := range []string{
		"a1 SELECT INBOX \"x{5+}\"\r\na2 NOOP\r\n",
		"a1 SELECT INBOX \"x~{5+}\"\r\na2 NOOP\r\n",
		"a1 SELECT INBOX \"x{3}\"\r\na2 NOOP\r\n",
		"a1 SELECT INBOX \"x{3}\" junk{3+}\r\nabc\r\na2 NOOP\r\n",
	} {
		if ok, next := failAndDiscard(t, input); !ok || next != "a2" {
			t.Errorf("%q: quoted %v, next command %q", input, ok, next)
		}
	}
}
