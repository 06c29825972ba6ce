package imapserver

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"multimail.dev/multimail/mailbox"
)

func (e *env) raw(t testing.TB) *rawIMAP {
	t.Helper()
	return dialRaw(t, e)
}

var (
	reHighest = regexp.MustCompile(`^\* OK \[HIGHESTMODSEQ (\d+)\]`)
	reFetch   = regexp.MustCompile(`^\* \d+ FETCH `)
	reModSeq  = regexp.MustCompile(`MODSEQ \((\d+)\)`)
)

// grep returns the lines matching re.
func grep(lines []string, re *regexp.Regexp) []string {
	var out []string
	for _, l := range lines {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// highest is the HIGHESTMODSEQ of a SELECT's answer.
func highest(t testing.TB, lines []string) uint64 {
	t.Helper()
	for _, l := range lines {
		if m := reHighest.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseUint(m[1], 10, 64)
			return v
		}
	}
	t.Fatalf("no HIGHESTMODSEQ in %q", lines)
	return 0
}

func uidValidity(t testing.TB, e *env) uint32 {
	f, err := e.store.Folder(context.Background(), testUser, "INBOX")
	must(t, err)
	return f.UIDValidity
}

// expungeUID flags and expunges one message through the store, as another client would.
func (e *env) expungeUID(t testing.TB, em mailbox.Email) {
	t.Helper()
	ctx := context.Background()
	_, err := e.store.SetFlags(ctx, em.ID, []string{mailbox.FlagDeleted}, nil)
	must(t, err)
	_, err = e.store.Expunge(ctx, testUser, "INBOX", []uint32{em.UID})
	must(t, err)
}

func TestCondStoreCapability(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.login(t, nil)
	caps, err := c.Capability().Wait()
	must(t, err)
	for _, want := range []imap.Cap{imap.CapCondStore, imap.CapQResync} {
		if !caps.Has(want) {
			t.Errorf("CAPABILITY lacks %s: %v", want, caps)
		}
	}
}

// TestQResyncReconnect: a client that knew the folder at modseq m0 reconnects with
// SELECT (QRESYNC ...) and is told exactly what changed: the one flag change as one FETCH
// with MODSEQ, the expunged UID as VANISHED (EARLIER), and nothing else.
func TestQResyncReconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var es []mailbox.Email
	for i := 1; i <= 5; i++ {
		es = append(es, e.deliver(t, "INBOX", testMessage(i, "m", "b"), mailbox.DeliverOptions{}))
	}
	c := e.raw(t)
	if u := c.ok("ENABLE QRESYNC"); len(u) != 1 || u[0] != "* ENABLED QRESYNC" {
		t.Fatalf("ENABLE QRESYNC: %q", u)
	}
	m0 := highest(t, c.ok("SELECT INBOX"))
	c.ok("LOGOUT")

	_, err := e.store.SetFlags(context.Background(), es[1].ID, []string{mailbox.FlagSeen}, nil)
	must(t, err)
	e.expungeUID(t, es[3])

	c = e.raw(t)
	c.ok("ENABLE QRESYNC")
	u := c.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:5))", uidValidity(t, e), m0))
	if h := highest(t, u); h <= m0 {
		t.Errorf("HIGHESTMODSEQ %d, not above %d", h, m0)
	}
	if v := grep(u, regexp.MustCompile(`^\* VANISHED`)); len(v) != 1 || v[0] != "* VANISHED (EARLIER) 4" {
		t.Errorf("VANISHED = %q", v)
	}
	f := grep(u, reFetch)
	if len(f) != 1 || !strings.HasPrefix(f[0], `* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (`) {
		t.Errorf("FETCH = %q", f)
	}

	// The same questions by FETCH: CHANGEDSINCE, with and without VANISHED.
	f = grep(c.ok(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", m0)), reFetch)
	if len(f) != 1 || !reModSeq.MatchString(f[0]) {
		t.Errorf("CHANGEDSINCE: %q", f)
	}
	u = c.ok(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", m0))
	if len(u) != 2 || u[0] != "* VANISHED (EARLIER) 4" {
		t.Errorf("CHANGEDSINCE VANISHED: %q", u)
	}
	if _, st := c.do(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", m0)); !strings.HasPrefix(st, "BAD") {
		t.Errorf("VANISHED without UID: %s", st)
	}
	// A wrong UIDVALIDITY gets a plain SELECT.
	u = c.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", uidValidity(t, e)+1, m0))
	if len(grep(u, reFetch)) != 0 || len(grep(u, regexp.MustCompile(`VANISHED`))) != 0 {
		t.Errorf("QRESYNC with another UIDVALIDITY: %q", u)
	}
}

// TestCondStoreSession: MODSEQ in FETCH, STORE UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ,
// STATUS HIGHESTMODSEQ, and the unsolicited FETCH (with MODSEQ) and VANISHED (instead of
// EXPUNGE) of another client's changes.
func TestCondStoreSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var es []mailbox.Email
	for i := 1; i <= 3; i++ {
		es = append(es, e.deliver(t, "INBOX", testMessage(i, "m", "b"), mailbox.DeliverOptions{}))
	}
	c := e.raw(t)
	if _, st := c.do("SELECT INBOX (QRESYNC (1 1))"); !strings.HasPrefix(st, "BAD") {
		t.Errorf("QRESYNC before ENABLE: %s", st)
	}
	m0 := highest(t, c.ok("SELECT INBOX (CONDSTORE)"))
	st := c.ok("STATUS INBOX (HIGHESTMODSEQ)")
	if len(st) != 1 || st[0] != fmt.Sprintf("* STATUS INBOX (HIGHESTMODSEQ %d)", m0) {
		t.Errorf("STATUS: %q", st)
	}
	f := grep(c.ok("FETCH 1 (MODSEQ)"), reFetch)
	if len(f) != 1 || f[0] != fmt.Sprintf("* 1 FETCH (UID 1 MODSEQ (%d))", es[0].ModSeq) {
		t.Errorf("FETCH MODSEQ: %q", f)
	}

	u, status := c.do("STORE 1,2 (UNCHANGEDSINCE " + strconv.FormatUint(es[0].ModSeq, 10) + ") +FLAGS.SILENT (\\Flagged)")
	if status != "OK [MODIFIED 2] Conditional STORE failed" {
		t.Errorf("conditional STORE: %s", status)
	}
	if f := grep(u, reFetch); len(f) != 1 || !strings.HasPrefix(f[0], "* 1 FETCH (UID 1 MODSEQ (") {
		t.Errorf("conditional STORE .SILENT answer: %q", u)
	}
	s := c.ok(fmt.Sprintf("UID SEARCH MODSEQ %d", m0+1))
	if len(s) != 1 || !strings.HasPrefix(s[0], "* SEARCH 1 (MODSEQ ") {
		t.Errorf("SEARCH MODSEQ: %q", s)
	}
	s = c.ok(fmt.Sprintf("UID SEARCH RETURN (ALL) MODSEQ %d", m0+1))
	if len(s) != 1 || !regexp.MustCompile(`^\* ESEARCH \(TAG "r\d+"\) UID ALL 1 MODSEQ \d+$`).MatchString(s[0]) {
		t.Errorf("ESEARCH MODSEQ: %q", s)
	}

	// Another client's flag change: FETCH with MODSEQ at the next NOOP.
	_, err := e.store.SetFlags(context.Background(), es[2].ID, []string{"$Done"}, nil)
	must(t, err)
	waitFor(t, "the flag update with MODSEQ", func() bool {
		return len(grep(c.ok("NOOP"), regexp.MustCompile(`^\* 3 FETCH \(UID 3 FLAGS \(\$Done\) MODSEQ \(\d+\)\)$`))) == 1
	})
	// Once QRESYNC is on, another client's expunge is VANISHED, not EXPUNGE.
	c.ok("ENABLE QRESYNC")
	e.expungeUID(t, es[1])
	waitFor(t, "VANISHED", func() bool {
		u := c.ok("NOOP")
		if len(grep(u, regexp.MustCompile(`EXPUNGE`))) > 0 {
			t.Fatalf("EXPUNGE under QRESYNC: %q", u)
		}
		return len(grep(u, regexp.MustCompile(`^\* VANISHED 2$`))) == 1
	})
	// And the client's own EXPUNGE.
	c.ok(`UID STORE 3 +FLAGS.SILENT (\Deleted)`)
	if u, st := c.do("EXPUNGE"); len(u) != 1 || u[0] != "* VANISHED 3" || !strings.HasPrefix(st, "OK [HIGHESTMODSEQ ") {
		t.Errorf("EXPUNGE under QRESYNC: %q, %s", u, st)
	}
}

// TestQResyncAfterPruning: when the tombstones a client's modseq needs were pruned, the
// resync reports every UID it may know that is gone (RFC 7162 §3.2.5.2), never fewer.
func TestQResyncAfterPruning(t *testing.T) {
	t.Parallel()
	e := newEnvStore(t, mailbox.NewMemoryWith(mailbox.Options{VanishedMax: 1}), nil)
	var es []mailbox.Email
	for i := 1; i <= 4; i++ {
		es = append(es, e.deliver(t, "INBOX", testMessage(i, "m", "b"), mailbox.DeliverOptions{}))
	}
	c := e.raw(t)
	c.ok("ENABLE QRESYNC")
	m0 := highest(t, c.ok("SELECT INBOX"))
	c.ok("LOGOUT")
	e.expungeUID(t, es[0])
	e.expungeUID(t, es[2]) // prunes the tombstone of UID 1
	c = e.raw(t)
	c.ok("ENABLE QRESYNC")
	u := c.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:4))", uidValidity(t, e), m0))
	if v := grep(u, regexp.MustCompile(`^\* VANISHED`)); len(v) != 1 || v[0] != "* VANISHED (EARLIER) 1,3" {
		t.Errorf("VANISHED = %q", v)
	}
}

// TestQResyncCost measures what a reconnect to a 10,000-message folder with 10 changed flags
// costs with QRESYNC against re-fetching every message's flags, and logs both. Run with
// -v to see the numbers: go test ./mailbox/imapserver -run TestQResyncCost -v
func TestQResyncCost(t *testing.T) {
	if testing.Short() {
		t.Skip("delivers 10,000 messages")
	}
	t.Parallel()
	const n, changed = 10_000, 10
	e := newEnv(t, nil)
	ctx := context.Background()
	var es []mailbox.Email
	for i := 1; i <= n; i++ {
		em, err := e.store.Deliver(ctx, testUser, "INBOX", []byte(testMessage(i, "m", "b")), mailbox.DeliverOptions{NoSync: true})
		must(t, err)
		es = append(es, em)
	}
	c := e.raw(t)
	c.ok("ENABLE QRESYNC")
	m0 := highest(t, c.ok("SELECT INBOX"))
	c.ok("LOGOUT")
	for i := 0; i < changed; i++ {
		_, err := e.store.SetFlags(ctx, es[i*(n/changed)].ID, []string{mailbox.FlagSeen}, nil)
		must(t, err)
	}

	full := e.raw(t)
	full.ok("SELECT INBOX")
	before := full.bytes
	fullFetches := len(grep(full.ok("FETCH 1:* (UID FLAGS)"), reFetch))
	fullBytes := full.bytes - before

	q := e.raw(t)
	q.ok("ENABLE QRESYNC")
	before = q.bytes
	qFetches := len(grep(q.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", uidValidity(t, e), m0)), reFetch))
	qBytes := q.bytes - before
	if fullFetches != n || qFetches != changed {
		t.Fatalf("FETCH responses: full %d (want %d), QRESYNC %d (want %d)", fullFetches, n, qFetches, changed)
	}
	t.Logf("reconnect to %d messages, %d changed: plain SELECT + FETCH 1:* (UID FLAGS): %d FETCH, %d bytes (FETCH only); "+
		"SELECT (QRESYNC): %d FETCH, %d bytes (whole SELECT answer)", n, changed, fullFetches, fullBytes, qFetches, qBytes)
}
