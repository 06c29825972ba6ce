package storetest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

func testDeliver(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	f0 := folder(t, s, mb, "INBOX")
	e1 := deliver(t, s, mb, "INBOX", "one", mailbox.DeliverOptions{InternalDate: at(1)})
	e2 := deliver(t, s, mb, "inbox", "two", mailbox.DeliverOptions{Flags: []string{`\seen`}, Keywords: []string{"Work"}})
	if !strings.HasPrefix(e1.ID, "em_") || len(e1.ID) != 29 || e1.ID == e2.ID {
		t.Fatalf("ids %q %q", e1.ID, e2.ID)
	}
	if e1.UID != 1 || e2.UID != 2 || e1.Folder != "INBOX" || e1.Mailbox != mb || e2.ModSeq <= e1.ModSeq || e1.ModSeq <= f0.HighestModSeq {
		t.Fatalf("placement %+v %+v", e1, e2)
	}
	if !e1.InternalDate.Equal(at(1)) || e2.InternalDate.IsZero() || e1.Size != int64(len(msg("one"))) {
		t.Fatalf("dates/size %+v", e1)
	}
	if e1.Flags == nil || e1.Keywords == nil {
		t.Fatalf("nil flags or keywords (JSON null): %+v", e1)
	}
	equal(t, "flags", e2.Flags, []string{`\Seen`})
	equal(t, "keywords", e2.Keywords, []string{"Work"})
	f := folder(t, s, mb, "INBOX")
	if f.UIDNext != 3 || f.Messages != 2 || f.Unseen != 1 || f.HighestModSeq != e2.ModSeq || f.UIDValidity != f0.UIDValidity {
		t.Fatalf("folder %+v", f)
	}
	raw, err := s.Raw(c, e1.ID)
	must(t, err)
	if !bytes.Equal(raw, msg("one")) {
		t.Fatalf("raw = %q", raw)
	}
	got, err := s.Email(c, e2.ID)
	must(t, err)
	if got.UID != 2 || got.Subject != "two" || !slices.Equal(got.Keywords, []string{"Work"}) {
		t.Fatalf("Email = %+v", got)
	}
	list, err := s.List(c, mb, "INBOX")
	must(t, err)
	equal(t, "uids", uids(list), []uint32{1, 2})
	empty, err := s.List(c, mb, "Sent")
	must(t, err)
	if len(empty) != 0 {
		t.Fatalf("Sent = %v", empty)
	}
}

func testDeliverErrors(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	cases := []struct {
		name, mb, folder string
		o                mailbox.DeliverOptions
		want             error
	}{
		{"unknown mailbox", "x@example.com", "INBOX", mailbox.DeliverOptions{}, mailbox.ErrNotFound},
		{"unknown folder", mb, "Nope", mailbox.DeliverOptions{}, mailbox.ErrNoSuchFolder},
		{"bad keyword", mb, "INBOX", mailbox.DeliverOptions{Keywords: []string{"a b"}}, mailbox.ErrInvalidKeyword},
		{"unknown system flag", mb, "INBOX", mailbox.DeliverOptions{Flags: []string{`\Bogus`}}, mailbox.ErrInvalidKeyword},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Deliver(c, tc.mb, tc.folder, msg("x"), tc.o)
			wantErr(t, err, tc.want)
		})
	}
	if f := folder(t, s, mb, "INBOX"); f.Messages != 0 || f.UIDNext != 1 {
		t.Fatalf("failed deliveries left traces: %+v", f)
	}
	for _, id := range []string{"", "em_", "em_00000000000000000000000000", "nonsense"} {
		_, err := s.Email(c, id)
		wantErr(t, err, mailbox.ErrNotFound)
		_, err = s.Raw(c, id)
		wantErr(t, err, mailbox.ErrNotFound)
	}
}

func testSummary(t *testing.T, s mailbox.Store) {
	mb := "a@example.com"
	addMailbox(t, s, mb)
	cases := []struct {
		name string
		raw  string
		want mailbox.Email
	}{
		{"full", "Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=example.org\r\n" +
			"From: \"Alice A.\" <alice@example.org>\r\nTo: bob@example.com, Carol <carol@example.com>\r\n" +
			"Cc: dave@example.net\r\nSubject: =?utf-8?q?h=C3=A9llo?=\r\nMessage-ID: <abc@example.org>\r\n" +
			"Date: Tue, 03 Feb 2026 10:00:00 +0100\r\n\r\nbody\r\n",
			mailbox.Email{From: []string{"Alice A. <alice@example.org>"}, To: []string{"bob@example.com", "Carol <carol@example.com>"},
				Cc: []string{"dave@example.net"}, Subject: "héllo", MessageID: "abc@example.org",
				Date: time.Date(2026, 2, 3, 9, 0, 0, 0, time.UTC), AuthResults: "mx.example.com; spf=pass smtp.mailfrom=example.org"}},
		{"bad address list kept as text", "From: not an address <<>\r\nSubject: s\r\n\r\nx",
			mailbox.Email{From: []string{"not an address <<>"}, Subject: "s"}},
		{"no header", "\x00\x01 garbage without colon\r\n", mailbox.Email{}},
		{"empty", "", mailbox.Email{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := s.Deliver(ctx(t), mb, "INBOX", []byte(tc.raw), mailbox.DeliverOptions{})
			must(t, err)
			got, err := s.Email(ctx(t), e.ID)
			must(t, err)
			w := tc.want
			if !slices.Equal(got.From, w.From) || !slices.Equal(got.To, w.To) || !slices.Equal(got.Cc, w.Cc) ||
				got.Subject != w.Subject || got.MessageID != w.MessageID || !got.Date.Equal(w.Date) || got.AuthResults != w.AuthResults {
				t.Fatalf("summary = %+v\nwant %+v", got, w)
			}
			raw, err := s.Raw(ctx(t), e.ID)
			must(t, err)
			if string(raw) != tc.raw || got.Size != int64(len(tc.raw)) {
				t.Fatalf("raw = %q", raw)
			}
		})
	}
}

func testSetFlags(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	e := deliver(t, s, mb, "INBOX", "one", mailbox.DeliverOptions{})
	steps := []struct {
		name        string
		add, remove []string
		flags, kws  []string
		bump        bool
	}{
		{"add", []string{`\Seen`, "Invoice", `\flagged`, "$Forwarded"}, nil, []string{`\Seen`, `\Flagged`}, []string{"Invoice", "$Forwarded"}, true},
		{"same again, other case", []string{"invoice", `\SEEN`}, nil, []string{`\Seen`, `\Flagged`}, []string{"Invoice", "$Forwarded"}, false},
		{"remove case-insensitively", nil, []string{"INVOICE", `\Seen`}, []string{`\Flagged`}, []string{"$Forwarded"}, true},
		{"remove absent", nil, []string{"never"}, []string{`\Flagged`}, []string{"$Forwarded"}, false},
		{"add and remove", []string{`\Deleted`, `\Answered`, "x"}, []string{`\Flagged`, "x"}, []string{`\Answered`, `\Deleted`}, []string{"$Forwarded"}, true},
	}
	prev := e
	for _, st := range steps {
		got, err := s.SetFlags(c, e.ID, st.add, st.remove)
		must(t, err)
		equal(t, st.name+" flags", got.Flags, st.flags)
		equal(t, st.name+" keywords", got.Keywords, st.kws)
		if bumped := got.ModSeq > prev.ModSeq; bumped != st.bump || got.ModSeq < prev.ModSeq {
			t.Fatalf("%s: modseq %d -> %d", st.name, prev.ModSeq, got.ModSeq)
		}
		if f := folder(t, s, mb, "INBOX"); f.HighestModSeq != got.ModSeq {
			t.Fatalf("%s: folder modseq %d, email %d", st.name, f.HighestModSeq, got.ModSeq)
		}
		stored, err := s.Email(c, e.ID)
		must(t, err)
		equal(t, st.name+" stored keywords", stored.Keywords, st.kws)
		prev = got
	}
	if f := folder(t, s, mb, "INBOX"); f.Unseen != 1 {
		t.Fatalf("unseen = %d", f.Unseen)
	}
	_, err := s.SetFlags(c, "em_00000000000000000000000000", []string{"x"}, nil)
	wantErr(t, err, mailbox.ErrNotFound)
}

func testInvalidKeywords(t *testing.T, s mailbox.Store) {
	mb := "a@example.com"
	addMailbox(t, s, mb)
	e := deliver(t, s, mb, "INBOX", "one", mailbox.DeliverOptions{Keywords: []string{"keep"}})
	bad := []string{"", "two words", "a\r\nb", "(x)", "{3}", `quo"te`, `back\slash`, "per%cent", "st*r", "br]acket",
		"héllo", strings.Repeat("k", mailbox.MaxKeywordLen+1), `\Recent`, `\Bogus`, "tab\tx", "nul\x00"}
	for _, k := range bad {
		t.Run(k, func(t *testing.T) {
			_, err := s.SetFlags(ctx(t), e.ID, []string{"fine", k}, nil)
			wantErr(t, err, mailbox.ErrInvalidKeyword)
		})
	}
	got, err := s.Email(ctx(t), e.ID)
	must(t, err)
	equal(t, "keywords after refusals", got.Keywords, []string{"keep"})
	if got.ModSeq != e.ModSeq {
		t.Fatal("refused call bumped modseq")
	}
	for _, k := range []string{"$Junk", "a.b-c_d", "x+y", "ok", strings.Repeat("k", mailbox.MaxKeywordLen)} {
		if _, err := s.SetFlags(ctx(t), e.ID, []string{k}, nil); err != nil {
			t.Errorf("%q refused: %v", k, err)
		}
	}
}

func testCopyMove(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	e := deliver(t, s, mb, "INBOX", "one", mailbox.DeliverOptions{Keywords: []string{"tag"}, Flags: []string{`\Seen`}})
	deliver(t, s, mb, "Archive", "filler", mailbox.DeliverOptions{})
	cp, err := s.Copy(c, e.ID, "Archive")
	must(t, err)
	if cp.ID == e.ID || cp.Folder != "Archive" || cp.UID != 2 || cp.Subject != "one" || !slices.Equal(cp.Keywords, e.Keywords) ||
		!slices.Equal(cp.Flags, e.Flags) || !cp.InternalDate.Equal(e.InternalDate) {
		t.Fatalf("copy = %+v", cp)
	}
	raw, err := s.Raw(c, cp.ID)
	must(t, err)
	if !bytes.Equal(raw, msg("one")) {
		t.Fatal("copy raw differs")
	}
	_, err = s.Copy(c, e.ID, "Nope")
	wantErr(t, err, mailbox.ErrNoSuchFolder)

	inbox := folder(t, s, mb, "INBOX")
	mv, err := s.Move(c, e.ID, "Trash")
	must(t, err)
	if mv.ID != e.ID || mv.Folder != "Trash" || mv.UID != 1 || !slices.Equal(mv.Keywords, e.Keywords) {
		t.Fatalf("move = %+v", mv)
	}
	after := folder(t, s, mb, "INBOX")
	if after.Messages != 0 || after.HighestModSeq <= inbox.HighestModSeq || after.UIDNext != inbox.UIDNext {
		t.Fatalf("INBOX after move %+v", after)
	}
	if tr := folder(t, s, mb, "Trash"); tr.Messages != 1 || tr.UIDNext != 2 || tr.Unseen != 0 {
		t.Fatalf("Trash %+v", tr)
	}
	got, err := s.Email(c, e.ID)
	must(t, err)
	if got.Folder != "Trash" || got.UID != 1 {
		t.Fatalf("moved email = %+v", got)
	}
	again, err := s.Move(c, e.ID, "Trash")
	must(t, err)
	if again.UID != 2 {
		t.Fatalf("move within folder: uid %d", again.UID)
	}
	list, err := s.List(c, mb, "Trash")
	must(t, err)
	equal(t, "Trash uids", uids(list), []uint32{2})
}

func testExpunge(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	var es []mailbox.Email
	for _, subj := range []string{"a", "b", "c", "d", "e"} {
		es = append(es, deliver(t, s, mb, "INBOX", subj, mailbox.DeliverOptions{}))
	}
	cp, err := s.Copy(c, es[0].ID, "Archive")
	must(t, err)
	for _, i := range []int{0, 1, 3, 4} {
		_, err := s.SetFlags(c, es[i].ID, []string{`\Deleted`}, nil)
		must(t, err)
	}
	before := folder(t, s, mb, "INBOX")
	removed, err := s.Expunge(c, mb, "INBOX", []uint32{2, 3, 5, 99})
	must(t, err)
	equal(t, "removed by uid", removed, []uint32{2, 5})
	removed, err = s.Expunge(c, mb, "INBOX", nil)
	must(t, err)
	equal(t, "removed all", removed, []uint32{1, 4})
	removed, err = s.Expunge(c, mb, "INBOX", nil)
	must(t, err)
	if len(removed) != 0 {
		t.Fatalf("second expunge removed %v", removed)
	}
	f := folder(t, s, mb, "INBOX")
	if f.Messages != 1 || f.UIDNext != 6 || f.HighestModSeq <= before.HighestModSeq {
		t.Fatalf("after expunge %+v", f)
	}
	_, err = s.Email(c, es[0].ID)
	wantErr(t, err, mailbox.ErrNotFound)
	raw, err := s.Raw(c, cp.ID)
	must(t, err)
	if !bytes.Equal(raw, msg("a")) {
		t.Fatal("copy lost its shared body")
	}
	_, err = s.SetFlags(c, cp.ID, []string{`\Deleted`}, nil)
	must(t, err)
	removed, err = s.Expunge(c, mb, "Archive", nil)
	must(t, err)
	equal(t, "archive", removed, []uint32{1})
	_, err = s.Raw(c, cp.ID)
	wantErr(t, err, mailbox.ErrNotFound)
	_, err = s.Expunge(c, mb, "Nope", nil)
	wantErr(t, err, mailbox.ErrNoSuchFolder)
}

// testListFlags: a store's FlagLister, when it has one, lists what List does in UID, ID,
// ModSeq, Folder, flags and keywords.
func testListFlags(t *testing.T, s mailbox.Store) {
	fl, ok := s.(mailbox.FlagLister)
	if !ok {
		t.Skip("no FlagLister")
	}
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	for i, subject := range []string{"one", "two", "three"} {
		e := deliver(t, s, mb, "INBOX", subject, mailbox.DeliverOptions{})
		if i == 1 {
			_, err := s.SetFlags(c, e.ID, []string{`\Seen`, "kw"}, nil)
			must(t, err)
		}
	}
	full, err := s.List(c, mb, "INBOX")
	must(t, err)
	head, err := fl.ListFlags(c, mb, "INBOX")
	must(t, err)
	if len(full) != len(head) {
		t.Fatalf("ListFlags: %d emails, List %d", len(head), len(full))
	}
	for i := range full {
		f, h := full[i], head[i]
		if f.UID != h.UID || f.ID != h.ID || f.ModSeq != h.ModSeq || f.Folder != h.Folder {
			t.Fatalf("ListFlags[%d] = %+v, List %+v", i, h, f)
		}
		equal(t, "flags", h.Flags, f.Flags)
		equal(t, "keywords", h.Keywords, f.Keywords)
	}
}
