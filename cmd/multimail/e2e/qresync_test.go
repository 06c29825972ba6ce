package e2e

import (
	"crypto/tls"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/internal/dovecottest"
)

// TestIMAPQResyncDovecot runs one QRESYNC flow (RFC 7162) against Dovecot and the real
// multimail binary: a client learns a folder's UIDVALIDITY and HIGHESTMODSEQ and goes
// away, another session changes two messages' flags and expunges one, and the first
// reconnects with SELECT (QRESYNC ...), then asks FETCH (CHANGEDSINCE ... VANISHED), then
// hears another expunge as VANISHED. The normalised answers (MODSEQ values differ by
// server) must be the same: the same FETCH responses and the same VANISHED sets.
func TestIMAPQResyncDovecot(t *testing.T) {
	t.Parallel()
	dv := dovecottest.Start(t)
	n := Start(t, Options{})
	tc := &tls.Config{InsecureSkipVerify: true}
	type server struct {
		name, addr, password string
		tls                  *tls.Config
	}
	servers := []server{
		{"dovecot", dv.Addr, dovecottest.Password, nil},
		{"multimail", Addr(n.Ports.IMAPS), Password, tc},
	}
	answers := make([][][]string, len(servers))
	for i, s := range servers {
		answers[i] = qresyncFlow(t, func() *RawIMAP {
			c := DialRawIMAP(t, s.addr, s.tls)
			if r := c.Do(fmt.Sprintf("LOGIN %s %s", Sender, s.password)); !strings.Contains(r[len(r)-1], " OK") {
				t.Fatalf("%s LOGIN: %q", s.name, r)
			}
			return c
		})
	}
	steps := []string{"SELECT (QRESYNC)", "UID FETCH (CHANGEDSINCE VANISHED)", "NOOP after an expunge"}
	for i, step := range steps {
		want, got := answers[0][i], answers[1][i]
		t.Logf("%s\n  dovecot:   %s\n  multimail: %s", step, strings.Join(want, " | "), strings.Join(got, " | "))
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s answered differently from Dovecot", step)
		}
	}
	sel := answers[1][0]
	if f, v := countPrefix(sel, "* "+"2 FETCH")+countPrefix(sel, "* 4 FETCH"), countPrefix(sel, "* VANISHED (EARLIER) 4"); f != 2 || v != 1 {
		t.Errorf("multimail's QRESYNC SELECT: %d FETCH, %d VANISHED (EARLIER) 4: %q", f, v, sel)
	}
}

var (
	reSelHighest  = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)
	reSelValidity = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)
	reModSeqValue = regexp.MustCompile(`MODSEQ \(\d+\)`)
)

// qresyncFlow runs the flow on one server (dial returns a logged-in connection) and returns
// the normalised answers of its three compared steps.
func qresyncFlow(t *testing.T, dial func() *RawIMAP) [][]string {
	t.Helper()
	a := dial()
	a.Do(`CREATE qr`)
	for i := 1; i <= 5; i++ {
		a.Do(strings.Replace(appendCmd("", fmt.Sprintf("Subject: q%d\n\nbody %d\n", i, i)), "INBOX", "qr", 1))
	}
	a.Do(`ENABLE QRESYNC`)
	sel := strings.Join(a.Do(`SELECT qr`), "\n")
	hm, vm := reSelHighest.FindStringSubmatch(sel), reSelValidity.FindStringSubmatch(sel)
	if hm == nil || vm == nil {
		t.Fatalf("SELECT without HIGHESTMODSEQ or UIDVALIDITY: %q", sel)
	}
	a.Do(`LOGOUT`)

	b := dial()
	b.Do(`SELECT qr`)
	b.Do(`STORE 2 +FLAGS.SILENT (\Seen)`)
	b.Do(`STORE 5 +FLAGS.SILENT (\Flagged)`)
	b.Do(`STORE 4 +FLAGS.SILENT (\Deleted)`)
	b.Do(`EXPUNGE`)

	c := dial()
	c.Do(`ENABLE QRESYNC`)
	var out [][]string
	norm := func(cmd string, units []string) []string {
		for i, u := range units {
			units[i] = reModSeqValue.ReplaceAllString(u, "MODSEQ (M)")
		}
		return NormaliseIMAP(cmd, units)
	}
	cmd := fmt.Sprintf(`SELECT qr (QRESYNC (%s %s 1:5))`, vm[1], hm[1])
	out = append(out, norm(cmd, c.Do(cmd)))
	cmd = fmt.Sprintf(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE %s VANISHED)`, hm[1])
	out = append(out, norm(cmd, c.Do(cmd)))

	b.Do(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.Do(`EXPUNGE`)
	var noop []string
	deadline := time.Now().Add(10 * time.Second) // multimail's session hears of it asynchronously
	for countPrefix(noop, "* VANISHED") == 0 && time.Now().Before(deadline) {
		noop = norm("NOOP", c.Do("NOOP"))
	}
	return append(out, noop)
}

func countPrefix(lines []string, p string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			n++
		}
	}
	return n
}
