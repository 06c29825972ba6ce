package storetest

import (
	"fmt"
	"testing"

	"multimail.dev/multimail/mailbox"
)

func testQuery(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	addMailbox(t, s, "other@example.com")
	deliver(t, s, "other@example.com", "INBOX", "not mine", mailbox.DeliverOptions{InternalDate: at(50)})
	// Delivered out of date order; two share a date and sort by ID.
	for _, i := range []int{3, 1, 7, 5, 2, 6, 4} {
		deliver(t, s, mb, "INBOX", fmt.Sprint("m", i), mailbox.DeliverOptions{InternalDate: at(i)})
	}
	deliver(t, s, mb, "Archive", "m4b", mailbox.DeliverOptions{InternalDate: at(4)})
	var got []string
	cursor, pages := "", 0
	for {
		page, next, err := s.Query(c, mailbox.Query{Mailbox: mb, Limit: 3, Cursor: cursor})
		must(t, err)
		got = append(got, subjects(page)...)
		pages++
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("cursor does not advance")
		}
		cursor = next
	}
	equal(t, "newest first", got, []string{"m7", "m6", "m5", "m4b", "m4", "m3", "m2", "m1"})
	if pages != 3 {
		t.Fatalf("pages = %d", pages)
	}
	all, next, err := s.Query(c, mailbox.Query{Mailbox: mb})
	must(t, err)
	if len(all) != 8 || next != "" {
		t.Fatalf("default limit: %d emails, next %q", len(all), next)
	}
	exact, next, err := s.Query(c, mailbox.Query{Mailbox: mb, Limit: 8})
	must(t, err)
	if len(exact) != 8 || next != "" {
		t.Fatalf("exact page: %d emails, next %q", len(exact), next)
	}
	_, _, err = s.Query(c, mailbox.Query{Mailbox: mb, Cursor: "!!not a cursor"})
	wantErr(t, err, mailbox.ErrInvalidCursor)
	_, _, err = s.Query(c, mailbox.Query{Mailbox: mb, Cursor: "AAAA"})
	wantErr(t, err, mailbox.ErrInvalidCursor)
	_, _, err = s.Query(c, mailbox.Query{Mailbox: "nobody@example.com"})
	wantErr(t, err, mailbox.ErrNotFound)
	_, _, err = s.Query(c, mailbox.Query{Mailbox: mb, Folder: "Nope"})
	wantErr(t, err, mailbox.ErrNoSuchFolder)
}

func testQueryFilters(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	d := func(folder, subj string, i int, flags, kws []string) {
		deliver(t, s, mb, folder, subj, mailbox.DeliverOptions{InternalDate: at(i), Flags: flags, Keywords: kws})
	}
	d("INBOX", "i1", 1, nil, []string{"Invoice"})
	d("INBOX", "i2", 2, []string{`\Seen`}, []string{"invoice", "paid"})
	d("Archive", "a3", 3, []string{`\Seen`}, []string{"INVOICE"})
	d("Archive", "a4", 4, nil, nil)
	e5, err := s.Deliver(c, mb, "INBOX", msg("i5"), mailbox.DeliverOptions{InternalDate: at(5)})
	must(t, err)
	_, err = s.SetFlags(c, e5.ID, []string{"Invoice"}, nil)
	must(t, err)
	yes, no := true, false
	cases := []struct {
		name string
		q    mailbox.Query
		want []string
	}{
		{"all", mailbox.Query{}, []string{"i5", "a4", "a3", "i2", "i1"}},
		{"folder", mailbox.Query{Folder: "inbox"}, []string{"i5", "i2", "i1"}},
		{"tag any case", mailbox.Query{Tag: "iNvOiCe"}, []string{"i5", "a3", "i2", "i1"}},
		{"tag and folder", mailbox.Query{Tag: "invoice", Folder: "Archive"}, []string{"a3"}},
		{"unread", mailbox.Query{Unread: &yes}, []string{"i5", "a4", "i1"}},
		{"read", mailbox.Query{Unread: &no}, []string{"a3", "i2"}},
		{"unread tag folder", mailbox.Query{Unread: &yes, Tag: "invoice", Folder: "INBOX"}, []string{"i5", "i1"}},
		{"unknown tag", mailbox.Query{Tag: "nothing"}, nil},
		{"tag paged", mailbox.Query{Tag: "invoice", Limit: 2}, []string{"i5", "a3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Mailbox = mb
			got, _, err := s.Query(ctx(t), tc.q)
			must(t, err)
			equal(t, "subjects", subjects(got), tc.want)
		})
	}
	page, next, err := s.Query(c, mailbox.Query{Mailbox: mb, Tag: "invoice", Limit: 2})
	must(t, err)
	rest, next2, err := s.Query(c, mailbox.Query{Mailbox: mb, Tag: "invoice", Limit: 2, Cursor: next})
	must(t, err)
	equal(t, "tag page 2", subjects(rest), []string{"i2", "i1"})
	if len(page) != 2 || next2 != "" {
		t.Fatalf("tag paging: next2 %q", next2)
	}
	// Removing the tag takes the email out of tag queries.
	_, err = s.SetFlags(c, e5.ID, nil, []string{"INVOICE"})
	must(t, err)
	got, _, err := s.Query(c, mailbox.Query{Mailbox: mb, Tag: "invoice"})
	must(t, err)
	equal(t, "after untag", subjects(got), []string{"a3", "i2", "i1"})
}

func testPending(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	deliver(t, s, mb, "INBOX", "visible", mailbox.DeliverOptions{InternalDate: at(1)})
	p := deliver(t, s, mb, "INBOX", "held", mailbox.DeliverOptions{InternalDate: at(2), Pending: true})
	if !p.Pending || p.UID != 0 {
		t.Fatalf("pending email %+v", p)
	}
	f := folder(t, s, mb, "INBOX")
	if f.Messages != 1 || f.Unseen != 1 || f.UIDNext != 2 {
		t.Fatalf("folder counts pending: %+v", f)
	}
	list, err := s.List(c, mb, "INBOX")
	must(t, err)
	equal(t, "list", subjects(list), []string{"visible"})
	q, _, err := s.Query(c, mailbox.Query{Mailbox: mb})
	must(t, err)
	equal(t, "query", subjects(q), []string{"visible"})
	q, _, err = s.Query(c, mailbox.Query{Mailbox: mb, IncludePending: true})
	must(t, err)
	equal(t, "query with pending", subjects(q), []string{"held", "visible"})
	_, err = s.SetFlags(c, p.ID, []string{`\Deleted`}, nil)
	must(t, err)
	removed, err := s.Expunge(c, mb, "INBOX", nil)
	must(t, err)
	if len(removed) != 0 {
		t.Fatalf("expunged a pending email: %v", removed)
	}
	must(t, s.Release(c, p.ID))
	must(t, s.Release(c, p.ID)) // no-op the second time
	got, err := s.Email(c, p.ID)
	must(t, err)
	if got.Pending || got.UID != 2 {
		t.Fatalf("released %+v", got)
	}
	list, err = s.List(c, mb, "INBOX")
	must(t, err)
	equal(t, "list after release", uids(list), []uint32{1, 2})
	if f := folder(t, s, mb, "INBOX"); f.Messages != 2 || f.UIDNext != 3 {
		t.Fatalf("folder after release %+v", f)
	}
	wantErr(t, s.Release(c, "em_00000000000000000000000000"), mailbox.ErrNotFound)
}
