package imapserver

import (
	"fmt"
	"strings"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// TestLiteralPlusRefusedIsDiscarded: a non-synchronising literal (LITERAL+,
// RFC 7888) that the server refuses, an APPEND over APPENDLIMIT or a search
// string over 4 KiB, is read and thrown away before the answer: the commands
// hidden inside it never run, and the connection goes on.
func TestLiteralPlusRefusedIsDiscarded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxLiteralBytes = 1000 })
	c := dialRaw(t, e)
	if caps := strings.Join(c.ok("CAPABILITY"), " "); !strings.Contains(caps, " LITERAL+") || !strings.Contains(caps, " APPENDLIMIT=1000") {
		t.Fatalf("CAPABILITY = %s", caps)
	}
	hidden := strings.Repeat("h1 DELETE Trash\r\nh2 LOGOUT\r\n", 60)
	for _, tc := range []struct{ cmd, status string }{
		{fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(hidden), hidden), "NO [TOOBIG]"},
		{fmt.Sprintf("APPEND INBOX (\\Seen) {%d+}\r\n%s", len(hidden), hidden), "NO [TOOBIG]"},
		{fmt.Sprintf("SELECT {%d+}\r\n%s", 5000, strings.Repeat(hidden, 5)[:5000]), "NO [TOOBIG]"},
		{fmt.Sprintf("LOGIN {%d+}\r\n%s {3+}\r\nh3 NOOP", 5000, strings.Repeat(hidden, 5)[:5000]), "NO [TOOBIG]"},
	} {
		u, st := c.do(tc.cmd)
		if !strings.HasPrefix(st, tc.status) || len(u) != 0 {
			t.Errorf("%.30q = %q %s; want %s", tc.cmd, u, st, tc.status)
		}
	}
	c.ok("NOOP")
	if u := c.ok(`LIST "" Trash`); len(u) != 1 {
		t.Errorf("Trash after the refused literals: %q", u)
	}
	// Within the limit, a non-synchronising literal is an ordinary APPEND.
	msg := "Subject: plus\r\n\r\nbody\r\n"
	if u, st := c.do(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg)); !strings.HasPrefix(st, "OK [APPENDUID ") {
		t.Errorf("APPEND with LITERAL+ = %q %s", u, st)
	}
}

// TestLiteralPlusTooLargeToDiscard: a refused non-synchronising literal
// beyond what the server reads to discard ends the connection with BYE.
func TestLiteralPlusTooLargeToDiscard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := dialRaw(t, e)
	if _, err := fmt.Fprintf(c.conn, "a1 APPEND INBOX {999999999999+}\r\nFrom: x\r\n"); err != nil {
		t.Fatal(err)
	}
	if l := c.line(); !strings.HasPrefix(l, "* BYE [TOOBIG]") {
		t.Fatalf("got %q, want BYE", l)
	}
	if l := c.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Fatalf("got %q, want a1 NO", l)
	}
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("connection still open: %q", l)
	}
}

// TestBinary: BINARY parts are decoded, a partial one names its origin, an
// unknown transfer encoding is NO [UNKNOWN-CTE], and APPEND takes literal8.
func TestBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(t, "INBOX", "Subject: b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--x\r\nContent-Transfer-Encoding: x-odd\r\n\r\nodd\r\n--x--\r\n", mailbox.DeliverOptions{})
	c := dialRaw(t, e)
	c.ok("SELECT INBOX")
	for _, tc := range []struct{ cmd, want, status string }{
		{"FETCH 1 BINARY.SIZE[1]", "* 1 FETCH (UID 1 BINARY.SIZE[1] 11)", "OK"},
		{"FETCH 1 BINARY.PEEK[1]<6.5>", "* 1 FETCH (UID 1 BINARY[1]<6> ~{5}", "OK"},
		{"FETCH 1 BINARY.PEEK[2]", "", "NO [UNKNOWN-CTE]"},
	} {
		u, st := c.do(tc.cmd)
		if !strings.HasPrefix(st, tc.status) || (tc.want != "" && (len(u) == 0 || u[0] != tc.want)) {
			t.Errorf("%s = %q %s; want %q %s", tc.cmd, u, st, tc.want, tc.status)
		}
	}
	msg := "Subject: nul\r\n\r\na\x00b\r\n"
	if _, st := c.do(fmt.Sprintf("APPEND INBOX ~{%d+}\r\n%s", len(msg), msg)); !strings.HasPrefix(st, "OK [APPENDUID ") {
		t.Fatalf("APPEND literal8 = %s", st)
	}
	if u, _ := c.do("FETCH 2 BINARY.SIZE[1]"); len(u) != 1 || u[0] != "* 2 FETCH (UID 2 BINARY.SIZE[1] 5)" {
		t.Errorf("BINARY.SIZE of the appended part = %q", u)
	}
}
