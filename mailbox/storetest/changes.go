package storetest

import (
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

// testChanges: Changes reports the emails changed and the UIDs gone (expunged, moved out)
// after a modseq, for CONDSTORE/QRESYNC; a deleted and recreated folder starts clean.
func testChanges(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	var es []mailbox.Email
	for _, subj := range []string{"a", "b", "c", "d", "e"} {
		es = append(es, deliver(t, s, mb, "INBOX", subj, mailbox.DeliverOptions{}))
	}
	m0 := folder(t, s, mb, "INBOX").HighestModSeq
	ch, err := s.Changes(c, mb, "INBOX", m0)
	must(t, err)
	if len(ch.Changed) != 0 || len(ch.Vanished) != 0 || !ch.VanishedComplete || ch.HighestModSeq != m0 {
		t.Fatalf("no change since %d: %+v", m0, ch)
	}
	_, err = s.SetFlags(c, es[1].ID, []string{`\Seen`, "$Done"}, nil)
	must(t, err)
	_, err = s.SetFlags(c, es[2].ID, []string{`\Deleted`}, nil)
	must(t, err)
	_, err = s.Expunge(c, mb, "INBOX", nil)
	must(t, err)
	_, err = s.Move(c, es[3].ID, "Archive")
	must(t, err)
	f := folder(t, s, mb, "INBOX")
	ch, err = s.Changes(c, mb, "INBOX", m0)
	must(t, err)
	equal(t, "changed", uids(ch.Changed), []uint32{2})
	equal(t, "vanished", ch.Vanished, []uint32{3, 4})
	if !ch.VanishedComplete || ch.HighestModSeq != f.HighestModSeq {
		t.Fatalf("since %d: %+v, folder %+v", m0, ch, f)
	}
	got := ch.Changed[0]
	if got.ID != es[1].ID || got.ModSeq <= m0 || !got.HasFlag(mailbox.FlagSeen) || len(got.Keywords) != 1 {
		t.Fatalf("changed email %+v", got)
	}
	ch, err = s.Changes(c, mb, "INBOX", f.HighestModSeq)
	must(t, err)
	if len(ch.Changed) != 0 || len(ch.Vanished) != 0 {
		t.Fatalf("since the highest: %+v", ch)
	}
	ch, err = s.Changes(c, mb, "INBOX", 0)
	must(t, err)
	equal(t, "all", uids(ch.Changed), []uint32{1, 2, 5})
	equal(t, "all vanished", ch.Vanished, []uint32{3, 4})
	ch, err = s.Changes(c, mb, "Archive", 0)
	must(t, err)
	if len(ch.Changed) != 1 || len(ch.Vanished) != 0 {
		t.Fatalf("archive: %+v", ch)
	}

	must(t, s.CreateFolder(c, mb, "X"))
	x := deliver(t, s, mb, "X", "x", mailbox.DeliverOptions{})
	_, err = s.SetFlags(c, x.ID, []string{`\Deleted`}, nil)
	must(t, err)
	_, err = s.Expunge(c, mb, "X", nil)
	must(t, err)
	must(t, s.DeleteFolder(c, mb, "X"))
	_, err = s.Changes(c, mb, "X", 0)
	wantErr(t, err, mailbox.ErrNoSuchFolder)
	must(t, s.CreateFolder(c, mb, "X"))
	ch, err = s.Changes(c, mb, "X", 0)
	must(t, err)
	if len(ch.Changed) != 0 || len(ch.Vanished) != 0 || !ch.VanishedComplete {
		t.Fatalf("recreated folder: %+v", ch)
	}
}

// Retention checks the tombstone retention rule on a store opened with options (a fake
// clock, VanishedMax 3, VanishedAge one day): a resync from below a pruned tombstone is
// told its Vanished is incomplete, one from above it is not.
func Retention(t *testing.T, open func(t *testing.T, o mailbox.Options) mailbox.Store) {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := open(t, mailbox.Options{Now: clock, VanishedMax: 3, VanishedAge: 24 * time.Hour})
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	expungeOne := func(subj string) uint64 {
		e := deliver(t, s, mb, "INBOX", subj, mailbox.DeliverOptions{})
		before := folder(t, s, mb, "INBOX").HighestModSeq
		_, err := s.SetFlags(c, e.ID, []string{`\Deleted`}, nil)
		must(t, err)
		_, err = s.Expunge(c, mb, "INBOX", nil)
		must(t, err)
		return before
	}
	var marks []uint64
	for _, subj := range []string{"a", "b", "c", "d", "e"} {
		marks = append(marks, expungeOne(subj))
	}
	// 5 tombstones, 3 kept (UIDs 3, 4, 5): from before the 3rd expunge the answer is complete.
	ch, err := s.Changes(c, mb, "INBOX", marks[2])
	must(t, err)
	equal(t, "kept", ch.Vanished, []uint32{3, 4, 5})
	if !ch.VanishedComplete {
		t.Fatalf("from %d: incomplete %+v", marks[2], ch)
	}
	ch, err = s.Changes(c, mb, "INBOX", marks[0])
	must(t, err)
	if ch.VanishedComplete {
		t.Fatalf("from %d (pruned): complete %+v", marks[0], ch)
	}
	// Two days on, the next expunge prunes every older tombstone.
	mu.Lock()
	now = now.Add(48 * time.Hour)
	mu.Unlock()
	last := expungeOne("f")
	ch, err = s.Changes(c, mb, "INBOX", marks[4])
	must(t, err)
	equal(t, "after aging", ch.Vanished, []uint32{6})
	if ch.VanishedComplete {
		t.Fatalf("from %d after aging: complete %+v", marks[4], ch)
	}
	ch, err = s.Changes(c, mb, "INBOX", last)
	must(t, err)
	if !ch.VanishedComplete || len(ch.Vanished) != 1 {
		t.Fatalf("from %d: %+v", last, ch)
	}
}

// testSetFlagsIf: the conditional flag change of STORE UNCHANGEDSINCE changes an email whose
// ModSeq is at most the given one, and refuses (ErrModified, nothing changed) a newer one.
func testSetFlagsIf(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	e := deliver(t, s, mb, "INBOX", "a", mailbox.DeliverOptions{})
	got, err := s.SetFlagsIf(c, e.ID, []string{mailbox.FlagFlagged}, nil, e.ModSeq)
	must(t, err)
	if !got.HasFlag(mailbox.FlagFlagged) || got.ModSeq <= e.ModSeq {
		t.Fatalf("SetFlagsIf at its modseq: %+v", got)
	}
	_, err = s.SetFlagsIf(c, e.ID, []string{mailbox.FlagSeen}, nil, e.ModSeq)
	wantErr(t, err, mailbox.ErrModified)
	now, err := s.Email(c, e.ID)
	must(t, err)
	if now.HasFlag(mailbox.FlagSeen) || now.ModSeq != got.ModSeq {
		t.Fatalf("a refused SetFlagsIf changed the email: %+v", now)
	}
	_, err = s.SetFlagsIf(c, "em_00000000000000000000000000", []string{"x"}, nil, 1)
	wantErr(t, err, mailbox.ErrNotFound)
}
