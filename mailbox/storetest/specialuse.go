package storetest

import (
	"testing"

	"multimail.dev/multimail/mailbox"
)

// testCreateFolderUse: a folder created with a special use carries it (canonical
// spelling) through Folder, Folders and RenameFolder; virtual, unknown and taken uses are
// refused with ErrSpecialUse and create nothing; the name is checked before the use.
func testCreateFolderUse(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	// Every creatable use is held by a default folder: the first is refused, and freed
	// by deleting its holder.
	wantErr(t, s.CreateFolderUse(c, mb, "Old", `\Archive`), mailbox.ErrSpecialUse)
	must(t, s.DeleteFolder(c, mb, "Archive"))
	must(t, s.CreateFolderUse(c, mb, "Old", `\archive`))
	if f := folder(t, s, mb, "Old"); f.SpecialUse != `\Archive` || f.UIDNext != 1 || !f.Subscribed {
		t.Fatalf("created folder = %+v", f)
	}
	wantErr(t, s.CreateFolderUse(c, mb, "Old2", `\Archive`), mailbox.ErrSpecialUse)
	for _, use := range []string{`\All`, `\Flagged`, `\Important`, `Sent`, `\Noselect`, `\Sent \Trash`} {
		wantErr(t, s.CreateFolderUse(c, mb, "X", use), mailbox.ErrSpecialUse)
	}
	_, err := s.Folder(c, mb, "X")
	wantErr(t, err, mailbox.ErrNoSuchFolder)
	wantErr(t, s.CreateFolderUse(c, mb, "Sent", `\Sent`), mailbox.ErrFolderExists)
	wantErr(t, s.CreateFolderUse(c, mb, "Old", `\Junk`), mailbox.ErrFolderExists)
	wantErr(t, s.CreateFolderUse(c, "nobody@example.com", "X", ""), mailbox.ErrNotFound)
	wantErr(t, s.CreateFolderUse(c, mb, "a*", `\Drafts`), mailbox.ErrInvalidFolder)
	must(t, s.CreateFolderUse(c, mb, "Plain", ""))
	if f := folder(t, s, mb, "Plain"); f.SpecialUse != "" {
		t.Fatalf("plain folder = %+v", f)
	}
	must(t, s.RenameFolder(c, mb, "Old", "Older"))
	if f := folder(t, s, mb, "Older"); f.SpecialUse != `\Archive` {
		t.Fatalf("renamed folder = %+v", f)
	}
	wantErr(t, s.CreateFolderUse(c, mb, "Old", `\Archive`), mailbox.ErrSpecialUse)
	// Another mailbox's folders do not hold this mailbox's uses.
	addMailbox(t, s, "b@example.com")
	must(t, s.DeleteFolder(c, "b@example.com", "Trash"))
	must(t, s.CreateFolderUse(c, "b@example.com", "Bin", `\TRASH`))
	if f := folder(t, s, mb, "Trash"); f.SpecialUse != `\Trash` {
		t.Fatalf("other mailbox's Trash = %+v", f)
	}
}
