package imapserver

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

const delim = mailbox.FolderSeparator

// List implements goimap.Session: LIST, LSUB and LIST-EXTENDED (RFC 5258)
// with SPECIAL-USE (RFC 6154), CHILDREN (RFC 3348) and LIST-STATUS (RFC 5819).
func (sess *session) List(w *goimap.ListWriter, ref string, patterns []string, o *imap.ListOptions) error {
	sess.count("LIST")
	if len(patterns) == 0 { // RFC 9051 §6.3.9: the hierarchy delimiter
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	folders, err := sess.store.Folders(sess.ctx, sess.user)
	if err != nil {
		return toIMAP(err)
	}
	for _, d := range listData(folders, ref, patterns, o, w.LSUB()) {
		if o.ReturnStatus != nil && !hasAttr(d.Attrs, imap.MailboxAttrNoSelect) {
			if d.Status, err = sess.status(d.Mailbox, o.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(&d); err != nil {
			return err
		}
	}
	return nil
}

// listData builds the LIST responses of the folders matching a pattern,
// with \Noselect entries for missing parents of existing folders. With
// SUBSCRIBED, a matching folder that is not subscribed itself but has a
// subscribed descendant is listed as LSUB "%" (RFC 3501 §6.3.9: \Noselect,
// when the descendant is not listed itself) and LIST (SUBSCRIBED
// RECURSIVEMATCH) (RFC 5258 §3.5: CHILDINFO ("SUBSCRIBED")) ask.
func listData(folders []mailbox.Folder, ref string, patterns []string, o *imap.ListOptions, lsub bool) []imap.ListData {
	exists := make(map[string]mailbox.Folder, len(folders))
	var names []string
	for _, f := range folders {
		exists[f.Name] = f
		names = append(names, f.Name)
	}
	for _, f := range folders { // phantom parents, in order after the real ones
		for p := parentOf(f.Name); p != ""; p = parentOf(p) {
			if _, ok := exists[p]; !ok {
				exists[p] = mailbox.Folder{Name: p}
				names = append(names, p)
			}
		}
	}
	var out []imap.ListData
	for _, name := range names {
		if !matchAny(name, ref, patterns) {
			continue
		}
		f := exists[name]
		phantom := f.UIDValidity == 0
		subscribed := f.Subscribed && !phantom
		if o.SelectSubscribed && !subscribed {
			switch {
			case lsub && subscribedDescendant(folders, name, ref, patterns, true):
				out = append(out, imap.ListData{Mailbox: name, Delim: delim, Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}})
			case o.SelectRecursiveMatch && subscribedDescendant(folders, name, ref, patterns, false):
				a := []imap.MailboxAttr{imap.MailboxAttrNonExistent}
				if !phantom {
					a = nil
				}
				out = append(out, imap.ListData{Mailbox: name, Delim: delim, Attrs: a, ChildInfo: &imap.ListDataChildInfo{Subscribed: true}})
			}
			continue
		}
		if o.SelectSpecialUse && f.SpecialUse == "" {
			continue
		}
		d := imap.ListData{Mailbox: name, Delim: delim, Attrs: attrs(f, phantom, hasChild(names, name))}
		if o.SelectSubscribed && o.SelectRecursiveMatch && subscribedDescendant(folders, name, ref, patterns, false) {
			d.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		out = append(out, d)
	}
	return out
}

// attrs are a folder's LIST attributes. Special-use ones are always sent:
// clients look for them in a plain LIST.
func attrs(f mailbox.Folder, phantom, children bool) []imap.MailboxAttr {
	var a []imap.MailboxAttr
	if phantom {
		a = append(a, imap.MailboxAttrNoSelect)
	}
	if children {
		a = append(a, imap.MailboxAttrHasChildren)
	} else {
		a = append(a, imap.MailboxAttrHasNoChildren)
	}
	if f.Subscribed && !phantom {
		a = append(a, imap.MailboxAttrSubscribed)
	}
	if f.SpecialUse != "" {
		a = append(a, imap.MailboxAttr(f.SpecialUse))
	}
	return a
}

// subscribedDescendant reports whether a subscribed folder lies below name;
// with unmatched, only one the patterns do not match counts.
func subscribedDescendant(folders []mailbox.Folder, name, ref string, patterns []string, unmatched bool) bool {
	for _, f := range folders {
		if f.Subscribed && strings.HasPrefix(f.Name, name+string(delim)) && (!unmatched || !matchAny(f.Name, ref, patterns)) {
			return true
		}
	}
	return false
}

func parentOf(name string) string {
	i := strings.LastIndexByte(name, delim)
	if i <= 0 {
		return ""
	}
	return name[:i]
}

func hasChild(names []string, name string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, name+string(delim)) {
			return true
		}
	}
	return false
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if goimap.MatchList(name, delim, ref, p) {
			return true
		}
		// INBOX is case-insensitive (RFC 9051 §5.1).
		if name == mailbox.InboxName && goimap.MatchList(name, delim, ref, strings.ToUpper(p)) {
			return true
		}
	}
	return false
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

// Status implements goimap.Session.
func (sess *session) Status(name string, o *imap.StatusOptions) (*imap.StatusData, error) {
	sess.count("STATUS")
	return sess.status(name, o)
}

func (sess *session) status(name string, o *imap.StatusOptions) (*imap.StatusData, error) {
	f, err := sess.store.Folder(sess.ctx, sess.user, name)
	if err != nil {
		return nil, toIMAP(err)
	}
	d := &imap.StatusData{Mailbox: f.Name, UIDNext: imap.UID(f.UIDNext), UIDValidity: f.UIDValidity}
	d.NumMessages, d.NumUnseen = ptr(f.Messages), ptr(f.Unseen)
	d.HighestModSeq = f.HighestModSeq
	if o.NumRecent {
		d.NumRecent = ptr(uint32(0))
	}
	if o.AppendLimit {
		d.AppendLimit = ptr(sess.AppendLimit())
	}
	if o.NumDeleted || o.Size || o.DeletedStorage {
		if err := sess.statusScan(f.Name, d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// statusScan fills the STATUS items that need every email of the folder.
func (sess *session) statusScan(folder string, d *imap.StatusData) error {
	emails, err := sess.store.List(sess.ctx, sess.user, folder)
	if err != nil {
		return toIMAP(err)
	}
	var deleted uint32
	var size, deletedSize int64
	for _, e := range emails {
		size += e.Size
		if e.HasFlag(mailbox.FlagDeleted) {
			deleted++
			deletedSize += e.Size
		}
	}
	d.NumDeleted, d.Size, d.DeletedStorage = &deleted, &size, &deletedSize
	return nil
}

func ptr[T any](v T) *T { return &v }

// Create implements goimap.Session. CREATE … (USE (attr)) (RFC 6154 §3,
// CREATE-SPECIAL-USE) gives the folder one special use; a use the store refuses is
// NO [USEATTR] and creates nothing. Missing parents are created too (RFC 9051 §6.3.4
// SHOULD), after the folder itself, so a refused CREATE leaves no parents behind.
func (sess *session) Create(name string, o *imap.CreateOptions) error {
	sess.count("CREATE")
	use, err := createUse(o)
	if err != nil {
		return toIMAP(err)
	}
	name = strings.TrimRight(name, string(delim))
	if err := sess.store.CreateFolderUse(sess.ctx, sess.user, name, use); err != nil {
		return toIMAP(err)
	}
	for p := parentOf(name); p != ""; p = parentOf(p) {
		if err := sess.store.CreateFolder(sess.ctx, sess.user, p); err != nil && !errors.Is(err, mailbox.ErrFolderExists) {
			return toIMAP(err)
		}
	}
	return nil
}

// createUse is the special use CREATE asks for: "" for none (or USE ()), the one
// attribute given, or ErrSpecialUse for several: a folder has at most one (RFC 6154 §3
// lets a server refuse a combination it does not support).
func createUse(o *imap.CreateOptions) (string, error) {
	if o == nil || len(o.SpecialUse) == 0 {
		return "", nil
	}
	if len(o.SpecialUse) > 1 {
		return "", fmt.Errorf("CREATE with %d special uses: %w", len(o.SpecialUse), mailbox.ErrSpecialUse)
	}
	return string(o.SpecialUse[0]), nil
}

// Delete implements goimap.Session.
func (sess *session) Delete(name string) error {
	sess.count("DELETE")
	return toIMAP(sess.store.DeleteFolder(sess.ctx, sess.user, name))
}

// Rename implements goimap.Session.
func (sess *session) Rename(from, to string, _ *imap.RenameOptions) error {
	sess.count("RENAME")
	to = strings.TrimRight(to, string(delim))
	return toIMAP(sess.store.RenameFolder(sess.ctx, sess.user, from, to))
}

// Subscribe implements goimap.Session.
func (sess *session) Subscribe(name string) error {
	sess.count("SUBSCRIBE")
	return toIMAP(sess.store.SetSubscribed(sess.ctx, sess.user, name, true))
}

// Unsubscribe implements goimap.Session.
func (sess *session) Unsubscribe(name string) error {
	sess.count("UNSUBSCRIBE")
	return toIMAP(sess.store.SetSubscribed(sess.ctx, sess.user, name, false))
}
