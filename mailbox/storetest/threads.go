package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

// raw builds a message with the given threading headers ("" leaves one out).
func raw(from, to, subject, msgID, inReplyTo, references string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\n", from, to, subject)
	if msgID != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\r\n", msgID)
	}
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", inReplyTo)
	}
	if references != "" {
		fmt.Fprintf(&b, "References: %s\r\n", references)
	}
	b.WriteString("\r\nbody\r\n")
	return []byte(b.String())
}

func put(t *testing.T, s mailbox.Store, mb, folder string, m []byte, when time.Time) mailbox.Email {
	t.Helper()
	e, err := s.Deliver(ctx(t), mb, folder, m, mailbox.DeliverOptions{InternalDate: when})
	must(t, err)
	if !mailbox.ParseThreadID(e.ThreadID) {
		t.Fatalf("thread id %q", e.ThreadID)
	}
	got, err := s.Email(ctx(t), e.ID)
	must(t, err)
	if got.ThreadID != e.ThreadID {
		t.Fatalf("stored thread %q, delivered %q", got.ThreadID, e.ThreadID)
	}
	return e
}

func threadOf(t *testing.T, s mailbox.Store, mb, th string) []string {
	t.Helper()
	es, _, err := s.Query(ctx(t), mailbox.Query{Mailbox: mb, ThreadID: th})
	must(t, err)
	return subjects(es)
}

func testThreads(t *testing.T, s mailbox.Store) {
	mb := "a@example.com"
	addMailbox(t, s, mb)
	first := put(t, s, mb, "Sent", raw("a@example.com", "b@example.org", "Plan", "1@x", "", ""), at(1))
	// a reply naming only In-Reply-To, then one with full References, in INBOX
	reply := put(t, s, mb, "INBOX", raw("b@example.org", "a@example.com", "Re: Plan", "2@y", "1@x", ""), at(2))
	third := put(t, s, mb, "INBOX", raw("b@example.org", "a@example.com", "Re: Plan", "3@y", "2@y", "<1@x> <2@y>"), at(3))
	// a reply to a message this mailbox never saw, whose parent is known via References
	fourth := put(t, s, mb, "INBOX", raw("c@example.org", "a@example.com", "something else", "4@z", "gone@z", "<gone@z> <3@y>"), at(4))
	for _, e := range []mailbox.Email{reply, third, fourth} {
		if e.ThreadID != first.ThreadID {
			t.Fatalf("%s: thread %s, want %s", e.Subject, e.ThreadID, first.ThreadID)
		}
	}
	// unrelated mail, even with the same subject and participants, is its own thread
	other := put(t, s, mb, "INBOX", raw("b@example.org", "a@example.com", "Plan", "5@y", "", ""), at(5))
	if other.ThreadID == first.ThreadID {
		t.Fatal("a plain subject joined a thread")
	}
	equal(t, "thread", threadOf(t, s, mb, first.ThreadID), []string{"something else", "Re: Plan", "Re: Plan", "Plan"})
	// Move keeps the thread (and its index); Copy too
	_, err := s.Move(ctx(t), reply.ID, "Archive")
	must(t, err)
	cp, err := s.Copy(ctx(t), third.ID, "Archive")
	must(t, err)
	if cp.ThreadID != first.ThreadID {
		t.Fatalf("copy thread %s", cp.ThreadID)
	}
	equal(t, "after move", threadOf(t, s, mb, first.ThreadID), []string{"something else", "Re: Plan", "Re: Plan", "Re: Plan", "Plan"})
	// filter with folder and tag
	es, _, err := s.Query(ctx(t), mailbox.Query{Mailbox: mb, ThreadID: first.ThreadID, Folder: "Archive"})
	must(t, err)
	if len(es) != 2 {
		t.Fatalf("archive part of thread = %d", len(es))
	}
	_, err = s.SetFlags(ctx(t), fourth.ID, []string{"todo"}, nil)
	must(t, err)
	es, _, err = s.Query(ctx(t), mailbox.Query{Mailbox: mb, ThreadID: first.ThreadID, Tag: "TODO"})
	must(t, err)
	equal(t, "tagged", subjects(es), []string{"something else"})
	// paging through a thread
	p1, next, err := s.Query(ctx(t), mailbox.Query{Mailbox: mb, ThreadID: first.ThreadID, Limit: 3})
	must(t, err)
	p2, last, err := s.Query(ctx(t), mailbox.Query{Mailbox: mb, ThreadID: first.ThreadID, Limit: 3, Cursor: next})
	must(t, err)
	if len(p1) != 3 || len(p2) != 2 || next == "" || last != "" {
		t.Fatalf("pages %d %d %q %q", len(p1), len(p2), next, last)
	}
	// expunge drops the email from its thread
	_, err = s.SetFlags(ctx(t), fourth.ID, []string{mailbox.FlagDeleted}, nil)
	must(t, err)
	_, err = s.Expunge(ctx(t), mb, "INBOX", nil)
	must(t, err)
	equal(t, "after expunge", threadOf(t, s, mb, first.ThreadID), []string{"Re: Plan", "Re: Plan", "Re: Plan", "Plan"})
	// a malformed or unknown thread id finds nothing
	equal(t, "unknown", threadOf(t, s, mb, "th_nope"), []string{})
	// another mailbox computes the same id for the same conversation but sees only its own mail
	addMailbox(t, s, "b@example.org")
	theirs := put(t, s, "b@example.org", "INBOX", raw("a@example.com", "b@example.org", "Plan", "1@x", "", ""), at(1))
	if theirs.ThreadID != first.ThreadID {
		t.Fatalf("other side thread %s, want %s", theirs.ThreadID, first.ThreadID)
	}
	equal(t, "other side", threadOf(t, s, "b@example.org", first.ThreadID), []string{"Plan"})
}

func testThreadSubjectFallback(t *testing.T, s mailbox.Store) {
	mb := "a@example.com"
	addMailbox(t, s, mb)
	start := at(0)
	orig := put(t, s, mb, "INBOX", raw("b@example.org", "a@example.com", "Quarterly numbers", "q1@y", "", ""), start)
	// a reply by a client that drops the headers: joins by subject and participants
	re := put(t, s, mb, "INBOX", raw("a@example.com", "B <b@example.org>", "RE: Fwd:  quarterly   numbers", "q2@x", "", ""), start.Add(time.Hour))
	if re.ThreadID != orig.ThreadID {
		t.Fatal("a Re: between the same participants did not join by subject")
	}
	// other participants: no
	stranger := put(t, s, mb, "INBOX", raw("c@example.org", "a@example.com", "Re: Quarterly numbers", "q3@z", "", ""), start.Add(2*time.Hour))
	if stranger.ThreadID == orig.ThreadID {
		t.Fatal("a Re: from someone else joined by subject")
	}
	// outside the window: no
	late := put(t, s, mb, "INBOX", raw("b@example.org", "a@example.com", "Re: Quarterly numbers", "q4@y", "", ""), start.Add(time.Hour+mailbox.ThreadSubjectWindow+time.Minute))
	if late.ThreadID == orig.ThreadID {
		t.Fatal("a Re: outside the window joined by subject")
	}
	// identical plain subjects from the same sender never thread
	c1 := put(t, s, mb, "INBOX", raw("login@svc.example", "a@example.com", "Your login code", "c1@svc", "", ""), start)
	c2 := put(t, s, mb, "INBOX", raw("login@svc.example", "a@example.com", "Your login code", "c2@svc", "", ""), start.Add(time.Minute))
	c3 := put(t, s, mb, "INBOX", raw("login@svc.example", "a@example.com", "Your login code", "", "", ""), start.Add(2*time.Minute))
	c4 := put(t, s, mb, "INBOX", raw("login@svc.example", "a@example.com", "Your login code", "", "", ""), start.Add(3*time.Minute))
	ids := map[string]bool{c1.ThreadID: true, c2.ThreadID: true, c3.ThreadID: true, c4.ThreadID: true}
	if len(ids) != 4 {
		t.Fatalf("login codes share threads: %v", ids)
	}
}
