package imapserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// failingDeliver fails the store's Deliver calls after the first ok ones.
type failingDeliver struct {
	mailbox.Store
	ok atomic.Int32
}

func (s *failingDeliver) Deliver(ctx context.Context, mb, folder string, raw []byte, o mailbox.DeliverOptions) (mailbox.Email, error) {
	if s.ok.Add(-1) < 0 {
		return mailbox.Email{}, errors.New("disk on fire")
	}
	return s.Store.Deliver(ctx, mb, folder, raw, o)
}

func multiMsg(subject string) string { return "Subject: " + subject + "\r\n\r\nbody\r\n" }

// TestMultiAppend: several messages in one APPEND (RFC 3502), with
// non-synchronising and synchronising literals, are stored in order with one
// APPENDUID; a refusal of any message stores none of them.
func TestMultiAppend(t *testing.T) {
	t.Parallel()
	store := &failingDeliver{Store: mailbox.NewMemory()}
	store.ok.Store(1 << 20)
	e := newEnvStore(t, store, func(o *Options) { o.MaxLiteralBytes = 1000 })
	c := dialRaw(t, e)
	if caps := strings.Join(c.ok("CAPABILITY"), " "); !strings.Contains(caps, " MULTIAPPEND") {
		t.Fatalf("CAPABILITY = %s", caps)
	}
	m1, m2, m3 := multiMsg("one"), multiMsg("two"), multiMsg("three")
	_, st := c.do(fmt.Sprintf("APPEND INBOX (\\Seen) {%d+}\r\n%s (\\Flagged) \"05-Dec-2026 10:00:00 +0000\" {%d+}\r\n%s {%d+}\r\n%s", len(m1), m1, len(m2), m2, len(m3), m3))
	if !strings.HasPrefix(st, "OK [APPENDUID ") || !strings.Contains(st, " 1:3]") {
		t.Fatalf("MULTIAPPEND = %s", st)
	}
	// Synchronising literals: one "+" per message.
	c.n++
	tag := fmt.Sprintf("r%d", c.n)
	fmt.Fprintf(c.conn, "%s APPEND INBOX {%d}\r\n", tag, len(m1))
	for _, next := range []string{fmt.Sprintf("%s {%d}\r\n", m1, len(m2)), m2 + "\r\n"} {
		if l := c.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("want +, got %q", l)
		}
		fmt.Fprint(c.conn, next)
	}
	if l := c.line(); !strings.HasPrefix(l, tag+" OK [APPENDUID ") || !strings.Contains(l, " 4:5]") {
		t.Fatalf("sync MULTIAPPEND = %q", l)
	}
	big := strings.Repeat("x", 2000)
	for _, tc := range []struct{ name, cmd, status string }{
		{"second over the limit, non-synchronising",
			fmt.Sprintf("APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s {%d+}\r\n%s", len(m1), m1, len(big), big, len(m3), m3), "NO [TOOBIG]"},
		{"no such folder", fmt.Sprintf("APPEND nosuch {%d+}\r\n%s {%d+}\r\n%s", len(m1), m1, len(m2), m2), "NO [TRYCREATE]"},
		{"no message", "APPEND INBOX", "BAD"},
	} {
		if u, st := c.do(tc.cmd); !strings.HasPrefix(st, tc.status) || len(u) != 0 {
			t.Errorf("%s: %q %s; want %s", tc.name, u, st, tc.status)
		}
	}
	// The second message over the limit with a synchronising literal: no "+" for it.
	c.n++
	tag = fmt.Sprintf("r%d", c.n)
	fmt.Fprintf(c.conn, "%s APPEND INBOX {%d}\r\n", tag, len(m1))
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("want +, got %q", l)
	}
	fmt.Fprintf(c.conn, "%s {%d}\r\n", m1, len(big))
	if l := c.line(); !strings.HasPrefix(l, tag+" NO [TOOBIG]") {
		t.Fatalf("sync MULTIAPPEND over the limit = %q", l)
	}
	// The store fails on the second message: the first is expunged again.
	store.ok.Store(1)
	if _, st := c.do(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s", len(m1), m1, len(m2), m2)); !strings.HasPrefix(st, "NO") {
		t.Errorf("MULTIAPPEND with a failing store = %s", st)
	}
	u := c.ok("STATUS INBOX (MESSAGES UIDNEXT)")
	if len(u) != 1 || !strings.Contains(u[0], "MESSAGES 5 ") {
		t.Errorf("STATUS after the refusals = %q, want the 5 stored messages only", u)
	}
	emails, err := e.store.List(context.Background(), testUser, "INBOX")
	must(t, err)
	var subjects []string
	for _, em := range emails {
		subjects = append(subjects, em.Subject+fmt.Sprint(em.Flags))
	}
	if got := strings.Join(subjects, ","); got != `one[\Seen],two[\Flagged],three[],one[],two[]` {
		t.Errorf("stored %s", got)
	}
}

// FuzzAppendCommand sends APPENDs of two messages with arbitrary text around
// their non-synchronising literals (flags, dates, extensions, garbage), some
// over the limit: each gets one tagged answer, nothing inside a literal is run
// as a command, and the connection keeps working.
func FuzzAppendCommand(f *testing.F) {
	f.Add(`(\Seen)`, `"05-Dec-2026 10:00:00 +0000"`, 10, 10)
	f.Add(``, `UTF8 (~`, 10, 2000)
	f.Add(`(\Bogus`, ``, 2000, 10)
	f.Add(`"date"`, `)`, 0, 0)
	f.Add(`"unclosed`, `(\Seen) "x\"`, 10, 10)
	f.Add(`"x{5+}"`, `"y~{3}" {2+} z{`, 10, 10)
	store := mailbox.NewMemory()
	e := newEnvStore(f, store, func(o *Options) { o.MaxLiteralBytes = 1000 })
	f.Fuzz(func(t *testing.T, pre1, pre2 string, n1, n2 int) {
		c := dialRaw(t, e)
		clean := strings.NewReplacer("\r", " ", "\n", " ")
		pre1, pre2 = clean.Replace(pre1), clean.Replace(pre2)
		size := func(n int) int { return min(max(n, 0), 3000) }
		lit := func(n int) string { return strings.Repeat("x9 NOOP\r\n", size(n)/9+1)[:size(n)] }
		cmd := fmt.Sprintf("APPEND Drafts %s {%d+}\r\n%s %s {%d+}\r\n%s", pre1, size(n1), lit(n1), pre2, size(n2), lit(n2))
		if u, st := c.do(cmd); !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO") && !strings.HasPrefix(st, "BAD") || len(u) > 1 {
			t.Fatalf("%q: %q %s", cmd, u, st)
		}
		c.ok("NOOP")
	})
}
