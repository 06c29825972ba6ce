package storetest

import (
	"testing"

	"multimail.dev/multimail/mailbox"
)

func folderNames(t *testing.T, s mailbox.Store, mb string) []string {
	t.Helper()
	fs, err := s.Folders(ctx(t), mb)
	must(t, err)
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func testDefaultFolders(t *testing.T, s mailbox.Store) {
	addMailbox(t, s, "a@example.com")
	fs, err := s.Folders(ctx(t), "a@example.com")
	must(t, err)
	want := map[string]string{"INBOX": "", "Sent": `\Sent`, "Drafts": `\Drafts`, "Archive": `\Archive`, "Trash": `\Trash`, "Junk": `\Junk`}
	if len(fs) != len(want) || fs[0].Name != "INBOX" {
		t.Fatalf("folders = %+v", fs)
	}
	seen := map[uint32]bool{}
	for _, f := range fs {
		if use, ok := want[f.Name]; !ok || use != f.SpecialUse {
			t.Errorf("folder %q special-use %q", f.Name, f.SpecialUse)
		}
		if f.UIDValidity == 0 || seen[f.UIDValidity] || f.UIDNext != 1 || f.HighestModSeq == 0 || !f.Subscribed || f.Messages != 0 {
			t.Errorf("folder %+v", f)
		}
		seen[f.UIDValidity] = true
	}
	_, err = s.Folders(ctx(t), "nobody@example.com")
	wantErr(t, err, mailbox.ErrNotFound)
	if f := folder(t, s, "a@example.com", "inbox"); f.Name != "INBOX" {
		t.Fatalf("inbox lookup = %+v", f)
	}
	_, err = s.Folder(ctx(t), "a@example.com", "sent")
	wantErr(t, err, mailbox.ErrNoSuchFolder)
}

func testCreateDeleteFolder(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	must(t, s.CreateFolder(c, mb, "Projects"))
	must(t, s.CreateFolder(c, mb, "Projects/2026"))
	wantErr(t, s.CreateFolder(c, mb, "Projects"), mailbox.ErrFolderExists)
	wantErr(t, s.CreateFolder(c, mb, "inbox"), mailbox.ErrFolderExists)
	for _, bad := range []string{"", "/x", "x/", "a//b", "a*", "a%b", "a\r\nb", "a\x00b"} {
		wantErr(t, s.CreateFolder(c, mb, bad), mailbox.ErrInvalidFolder)
	}
	wantErr(t, s.CreateFolder(c, "nobody@example.com", "X"), mailbox.ErrNotFound)
	old := folder(t, s, mb, "Projects")
	deliver(t, s, mb, "Projects", "p1", mailbox.DeliverOptions{})
	must(t, s.DeleteFolder(c, mb, "Projects"))
	wantErr(t, s.DeleteFolder(c, mb, "Projects"), mailbox.ErrNoSuchFolder)
	wantErr(t, s.DeleteFolder(c, mb, "INBOX"), mailbox.ErrInvalidFolder)
	equal(t, "folders", folderNames(t, s, mb), []string{"INBOX", "Archive", "Drafts", "Junk", "Projects/2026", "Sent", "Trash"})
	must(t, s.CreateFolder(c, mb, "Projects"))
	f := folder(t, s, mb, "Projects")
	if f.UIDValidity <= old.UIDValidity || f.Messages != 0 || f.UIDNext != 1 {
		t.Fatalf("recreated %+v after %+v", f, old)
	}
	q, _, err := s.Query(c, mailbox.Query{Mailbox: mb})
	must(t, err)
	if len(q) != 0 {
		t.Fatalf("emails of deleted folder still listed: %v", subjects(q))
	}
}

func testRenameFolder(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	must(t, s.CreateFolder(c, mb, "A"))
	must(t, s.CreateFolder(c, mb, "A/B"))
	must(t, s.CreateFolder(c, mb, "AB"))
	e := deliver(t, s, mb, "A/B", "inner", mailbox.DeliverOptions{})
	before := folder(t, s, mb, "A/B")
	must(t, s.RenameFolder(c, mb, "A", "Z"))
	equal(t, "folders", folderNames(t, s, mb), []string{"INBOX", "AB", "Archive", "Drafts", "Junk", "Sent", "Trash", "Z", "Z/B"})
	after := folder(t, s, mb, "Z/B")
	if after.UIDValidity != before.UIDValidity || after.Messages != 1 || after.UIDNext != before.UIDNext {
		t.Fatalf("renamed %+v, was %+v", after, before)
	}
	got, err := s.Email(c, e.ID)
	must(t, err)
	if got.Folder != "Z/B" {
		t.Fatalf("email folder = %q", got.Folder)
	}
	list, err := s.List(c, mb, "Z/B")
	must(t, err)
	equal(t, "subjects", subjects(list), []string{"inner"})
	wantErr(t, s.RenameFolder(c, mb, "Z", "AB"), mailbox.ErrFolderExists)
	wantErr(t, s.RenameFolder(c, mb, "Z", "Z/B/C"), mailbox.ErrInvalidFolder)
	wantErr(t, s.RenameFolder(c, mb, "INBOX", "Old"), mailbox.ErrInvalidFolder)
	wantErr(t, s.RenameFolder(c, mb, "Nope", "Other"), mailbox.ErrNoSuchFolder)
}

func testSubscribe(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	must(t, s.SetSubscribed(c, mb, "Junk", false))
	if folder(t, s, mb, "Junk").Subscribed {
		t.Fatal("still subscribed")
	}
	must(t, s.SetSubscribed(c, mb, "Junk", true))
	if !folder(t, s, mb, "Junk").Subscribed {
		t.Fatal("not subscribed")
	}
	wantErr(t, s.SetSubscribed(c, mb, "Nope", true), mailbox.ErrNoSuchFolder)
}
