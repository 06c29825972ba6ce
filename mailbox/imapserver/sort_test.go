package imapserver

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"multimail.dev/multimail/mailbox"
)

func TestBaseSubject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		reply    bool
	}{
		{"hello", "HELLO", false},
		{"Re: hello", "HELLO", true},
		{"RE:   hello  world ", "HELLO WORLD", true},
		{"Re: Re: re: hello", "HELLO", true},
		{"Fwd: hello", "HELLO", true},
		{"Fw: hello", "HELLO", true},
		{"re [foo]: hello", "HELLO", true},
		{"[list] Re: hello", "HELLO", true},
		{"[list] hello", "HELLO", false},
		{"[list]", "[LIST]", false},
		{"[fwd: hello]", "HELLO", true},
		{"[Fwd: Re: hello (fwd)]", "HELLO", true},
		{"hello (fwd)", "HELLO", true},
		{"hello\t\tworld", "HELLO WORLD", false},
		{"Re:", "", true},
		{"", "", false},
		{"Re hello", "RE HELLO", false},
		{"Reply: x", "REPLY: X", false},
		{"[a][b] re: [c] x", "X", true},
		{"[unterminated re: x", "[UNTERMINATED RE: X", false},
		{"élève", "ÉLÈVE", false},
	} {
		got, reply := baseSubject(tc.in)
		if got != tc.want || reply != tc.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tc.in, got, reply, tc.want, tc.reply)
		}
	}
}

// FuzzBaseSubject: any subject gives a base subject that is its own base
// (extraction is idempotent) without panicking.
func FuzzBaseSubject(f *testing.F) {
	for _, s := range []string{"Re: [x] Fwd: hello (fwd)", "[fwd: [fwd: a]]", "[", "]", "re", "[]:", " [a] "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, _ := baseSubject(s)
		if again, _ := baseSubject(base); again != base && !strings.HasPrefix(base, "[") {
			t.Fatalf("baseSubject(%q) = %q, but baseSubject of that = %q", s, base, again)
		}
	})
}

// threadMsg builds a message for the SORT and THREAD tests.
func threadMsg(id, refs, irt, from, to, subject, date string, bodyLen int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\n", from, to, subject)
	if id != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\r\n", id)
	}
	if refs != "" {
		fmt.Fprintf(&b, "References: %s\r\n", refs)
	}
	if irt != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\n", irt)
	}
	if date != "" {
		fmt.Fprintf(&b, "Date: %s\r\n", date)
	}
	fmt.Fprintf(&b, "\r\n%s\r\n", strings.Repeat("x", bodyLen))
	return b.String()
}

// sortEnv delivers the SORT/THREAD test folder and returns a selected client.
//
//	seq  from    to      subject              date (Dec 2026)  size  arrival
//	1    carol   zed     Re: Plans            3 10:00          mid   4th
//	2    Alice   bob     Plans                1 10:00          big   1st
//	3    bob     amy     Fwd: Plans           2 10:00          small 3rd
//	4    dave    carl    [list] Lunch         (none: arrival)  mid2  2nd
//	5    erin    bob     Re: Lunch            5 10:00          tiny  5th
//	6    alice   yann    unrelated            4 10:00          big2  6th
func sortEnv(t testing.TB) (*env, *imapclient.Client) {
	e := newEnvStore(t, mailbox.NewMemory(), nil)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	msgs := []struct {
		raw     string
		arrival int
	}{
		{threadMsg("p2@x", "<p1@x>", "<p1@x>", "carol@x.test", "zed@x.test", "Re: Plans", "Thu, 03 Dec 2026 10:00:00 +0000", 50), 4},
		{threadMsg("p1@x", "", "", "\"Alice A\" <alice@x.test>", "bob@x.test", "Plans", "Tue, 01 Dec 2026 10:00:00 +0000", 300), 1},
		{threadMsg("p3@x", "<p1@x> <p2@x>", "", "bob@x.test", "amy@x.test", "Fwd: Plans", "Wed, 02 Dec 2026 10:00:00 +0000", 10), 3},
		{threadMsg("l1@x", "", "", "dave@x.test", "carl@x.test", "[list] Lunch", "", 60), 2},
		{threadMsg("l2@x", "", "<gone@x>", "erin@x.test", "bob@x.test", "Re: Lunch", "Sat, 05 Dec 2026 10:00:00 +0000", 1), 5},
		{threadMsg("u1@x", "", "", "alice@x.test", "Yann <yann@x.test>", "unrelated", "Fri, 04 Dec 2026 10:00:00 +0000", 400), 6},
	}
	for _, m := range msgs {
		e.deliver(t, "INBOX", m.raw, mailbox.DeliverOptions{InternalDate: base.Add(time.Duration(m.arrival) * time.Hour)})
	}
	c := e.login(t, nil)
	_, err := c.Select("INBOX", nil).Wait()
	must(t, err)
	return e, c
}

func TestSort(t *testing.T) {
	t.Parallel()
	_, c := sortEnv(t)
	for _, tc := range []struct {
		crit []imapclient.SortCriterion
		want []uint32
	}{
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyArrival}}, []uint32{2, 4, 3, 1, 5, 6}},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyArrival, Reverse: true}}, []uint32{6, 5, 1, 3, 4, 2}},
		// 4 has no Date: its INTERNALDATE (1 Dec 02:00) is its sent date.
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyDate}}, []uint32{4, 2, 3, 1, 6, 5}},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyFrom}}, []uint32{2, 6, 3, 1, 4, 5}},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyTo}}, []uint32{3, 2, 5, 4, 6, 1}},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeyCc}}, []uint32{1, 2, 3, 4, 5, 6}},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeySize}}, []uint32{5, 4, 3, 1, 2, 6}},
		// Base subjects: PLANS (1, 2, 3), LUNCH (4, 5), UNRELATED (6); ties by sequence.
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeySubject}}, []uint32{4, 5, 1, 2, 3, 6}},
		{[]imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}}, []uint32{5, 4, 1, 3, 2, 6}},
		{[]imapclient.SortCriterion{{Key: "DISPLAYFROM"}}, []uint32{2, 6, 3, 1, 4, 5}},
		{[]imapclient.SortCriterion{{Key: "DISPLAYTO"}}, []uint32{3, 2, 5, 4, 6, 1}},
	} {
		got, err := c.Sort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{}, SortCriteria: tc.crit}).Wait()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SORT %v = %v, %v; want %v", tc.crit, got, err, tc.want)
		}
	}
	// UID SORT with search criteria: UIDs are 1..6 in a fresh folder.
	got, err := c.UIDSort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "plans"}}},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	if err != nil || !reflect.DeepEqual(got, []uint32{1, 3, 2}) {
		t.Errorf("UID SORT (REVERSE DATE) SUBJECT plans = %v, %v", got, err)
	}
}

func TestThread(t *testing.T) {
	t.Parallel()
	_, c := sortEnv(t)
	all := &imap.SearchCriteria{}
	refs, err := c.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: all}).Wait()
	must(t, err)
	// 2 ← 1 ← 3 by References; 4 and 5 (its In-Reply-To unknown) merge by subject,
	// 5 being a reply of 4; 6 alone. Threads in sent-date order of their roots.
	want := []imapclient.ThreadData{
		{Chain: []uint32{4, 5}},
		{Chain: []uint32{2, 1, 3}},
		{Chain: []uint32{6}},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("THREAD REFERENCES = %+v, want %+v", refs, want)
	}
	ordered, err := c.UIDThread(&imapclient.ThreadOptions{Algorithm: imap.ThreadOrderedSubject, SearchCriteria: all}).Wait()
	must(t, err)
	want = []imapclient.ThreadData{
		{Chain: []uint32{4, 5}},
		{Chain: []uint32{2}, SubThreads: []imapclient.ThreadData{{Chain: []uint32{3}}, {Chain: []uint32{1}}}},
		{Chain: []uint32{6}},
	}
	if !reflect.DeepEqual(ordered, want) {
		t.Errorf("UID THREAD ORDEREDSUBJECT = %+v, want %+v", ordered, want)
	}
}

func TestSortRaw(t *testing.T) {
	t.Parallel()
	e, _ := sortEnv(t)
	c := dialRaw(t, e)
	if caps := strings.Join(c.ok("CAPABILITY"), " "); !strings.Contains(caps, " SORT ") || !strings.Contains(caps, " SORT=DISPLAY ") ||
		!strings.Contains(caps, " ESORT ") || !strings.Contains(caps, " THREAD=REFERENCES") || !strings.Contains(caps, " THREAD=ORDEREDSUBJECT") {
		t.Errorf("CAPABILITY = %s", caps)
	}
	if _, st := c.do("SORT (DATE) UTF-8 ALL"); !strings.HasPrefix(st, "BAD") {
		t.Errorf("SORT before SELECT = %s", st)
	}
	c.ok("SELECT INBOX")
	for _, tc := range []struct{ cmd, want, status string }{
		{"SORT (DATE) UTF-8 ALL", "* SORT 4 2 3 1 6 5", "OK"},
		{"sort (reverse size) us-ascii 1:3", "* SORT 2 1 3", "OK"},
		{"SORT (SUBJECT) UTF-8 FROM nobody", "* SORT", "OK"},
		{"SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL", `* ESEARCH (TAG "r8") MIN 4 MAX 5 COUNT 6`, "OK"},
		{"UID SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL", `* ESEARCH (TAG "r9") UID ALL 2,4,3,1,5:6`, "OK"},
		{"SORT RETURN () (SIZE) UTF-8 ALL", `* ESEARCH (TAG "r10") ALL 5,4,3,1:2,6`, "OK"},
		{"SORT RETURN (COUNT) (SIZE) UTF-8 FROM nobody", `* ESEARCH (TAG "r11") COUNT 0`, "OK"},
		{"THREAD REFERENCES UTF-8 ALL", "* THREAD (4 5)(2 1 3)(6)", "OK"},
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (4 5)(2 (3)(1))(6)", "OK"},
		{"THREAD REFERENCES UTF-8 SUBJECT nothing", "* THREAD", "OK"},
		// Only messages of the answer count: without 2, its children hang from a dummy.
		{"THREAD REFERENCES UTF-8 1,3", "* THREAD (1 3)", "OK"},
		{"SORT (BOGUS) UTF-8 ALL", "", "BAD"},
		{"SORT () UTF-8 ALL", "", "BAD"},
		{"SORT (REVERSE) UTF-8 ALL", "", "BAD"},
		{"SORT (REVERSE REVERSE DATE) UTF-8 ALL", "", "BAD"},
		{"SORT (DATE) ALL", "", "BAD"},
		{"SORT (DATE) KOI8-R ALL", "", "NO [BADCHARSET]"},
		{"SORT (DATE)", "", "BAD"},
		{"SORT RETURN (SAVE) (DATE) UTF-8 ALL", "", "BAD"},
		{"THREAD BOGUS UTF-8 ALL", "", "BAD"},
		{"THREAD REFERENCES UTF-8", "", "BAD"},
	} {
		u, st := c.do(tc.cmd)
		if !strings.HasPrefix(st, tc.status) || (tc.want != "" && (len(u) != 1 || u[0] != tc.want)) || (tc.want == "" && len(u) != 0) {
			t.Errorf("%s = %q %s; want %q %s", tc.cmd, u, st, tc.want, tc.status)
		}
	}
}

// FuzzSortCommand sends arbitrary sort criteria and THREAD algorithms on one
// connection: each gets a tagged answer (a precise BAD for hostile input) and
// the connection keeps working.
func FuzzSortCommand(f *testing.F) {
	for _, s := range []string{"DATE", "REVERSE SUBJECT", "REVERSE", "", "DISPLAYFROM SIZE", "(DATE)", "\"DATE\"", "REVERSE REVERSE", "ARRIVAL CC FROM TO"} {
		f.Add(s, "REFERENCES")
	}
	e, _ := sortEnv(f)
	c := dialRaw(f, e)
	c.ok("SELECT INBOX")
	f.Fuzz(func(t *testing.T, crit, alg string) {
		clean := strings.NewReplacer("\r", " ", "\n", " ", "{", " ", "\x00", " ")
		crit, alg = clean.Replace(crit), clean.Replace(alg)
		c.t = t
		for _, cmd := range []string{"SORT (" + crit + ") UTF-8 ALL", "UID SORT RETURN (ALL) (" + crit + ") UTF-8 ALL", "THREAD " + alg + " UTF-8 ALL"} {
			if _, st := c.do(cmd); !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "BAD") && !strings.HasPrefix(st, "NO") {
				t.Fatalf("%q: %s", cmd, st)
			}
		}
		c.ok("NOOP")
	})
}

// TestEnvelopeRawDisplayNames: display names with encoded words reach ENVELOPE
// as written in the header (as Dovecot sends them), quoted or not.
func TestEnvelopeRawDisplayNames(t *testing.T) {
	t.Parallel()
	env := envelope([]byte("From: =?UTF-8?B?w6lsw6h2ZQ==?= <e@x.test>\r\nTo: \"=?ISO-8859-1?Q?Andr=E9?=\" <a@x.test>, Plain <p@x.test>, =?utf-8?q?Caf=C3=A9?= Owner <c@x.test>\r\n\r\n"))
	var got []string
	for _, a := range append(env.From, env.To...) {
		got = append(got, a.Name)
	}
	want := []string{"=?UTF-8?B?w6lsw6h2ZQ==?=", "=?ISO-8859-1?Q?Andr=E9?=", "Plain", "=?utf-8?q?Caf=C3=A9?= Owner"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("names = %q, want %q", got, want)
	}
}
