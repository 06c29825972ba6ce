package imapserver

import (
	"context"
	"errors"
	"slices"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

// systemFlags are the flags every folder supports; with \* any keyword can
// be created (RFC 9051 §7.1, PERMANENTFLAGS): keywords are the API's tags.
func systemFlags() []imap.Flag {
	return []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}
}

// Select implements goimap.Session for SELECT and EXAMINE. The watch
// starts before the List, so no change falls between the snapshot and the
// updates; changes already in the snapshot are recognised by UID.
func (sess *session) Select(name string, o *imap.SelectOptions) (*imap.SelectData, error) {
	sess.count("SELECT")
	sess.closeView()
	f, err := sess.store.Folder(sess.ctx, sess.user, name)
	if err != nil {
		return nil, toIMAP(err)
	}
	v := newView(f, o != nil && o.ReadOnly)
	ctx, stop := context.WithCancel(sess.ctx)
	v.stop = stop
	ch := sess.store.Watch(ctx, sess.user)
	go v.watch(ctx, sess.store, sess.user, ch)
	emails, err := sess.listFlags(sess.ctx, sess.user, f.Name)
	if err != nil {
		v.close()
		return nil, toIMAP(err)
	}
	v.entries = make([]entry, len(emails))
	var firstUnseen uint32
	for i, e := range emails {
		v.entries[i] = entry{imap.UID(e.UID), e.ID}
		v.noteKeywords(e)
		if firstUnseen == 0 && !e.HasFlag(mailbox.FlagSeen) {
			firstUnseen = uint32(i) + 1
		}
	}
	v.flagsDirty = false
	sess.view = v
	return selectData(f, v, firstUnseen), nil
}

func selectData(f mailbox.Folder, v *view, firstUnseen uint32) *imap.SelectData {
	perm := []imap.Flag{}
	if !v.readOnly {
		perm = append(systemFlags(), imap.FlagWildcard)
	}
	return &imap.SelectData{
		Flags: v.mailboxFlags(), PermanentFlags: perm, NumMessages: uint32(len(v.entries)),
		FirstUnseenSeqNum: firstUnseen, UIDNext: imap.UID(f.UIDNext), UIDValidity: f.UIDValidity,
		HighestModSeq: f.HighestModSeq,
	}
}

// Unselect implements goimap.Session (CLOSE, UNSELECT, and SELECT of
// another folder).
func (sess *session) Unselect() error {
	sess.closeView()
	return nil
}

func (sess *session) closeView() {
	if sess.view != nil {
		sess.view.close()
		sess.view = nil
	}
}

// Poll implements goimap.Session: after each command, report what changed.
func (sess *session) Poll(w *goimap.UpdateWriter, allowExpunge bool) error {
	if sess.view == nil {
		return nil
	}
	return sess.flush(w, allowExpunge)
}

// Idle implements goimap.Session: report changes as they come until stop.
func (sess *session) Idle(w *goimap.UpdateWriter, stop <-chan struct{}) error {
	sess.idling.Lock()
	defer sess.idling.Unlock()
	if sess.view == nil {
		select {
		case <-stop:
		case <-sess.ctx.Done():
		}
		return nil
	}
	for {
		if err := sess.flush(w, true); err != nil {
			return err
		}
		select {
		case <-sess.view.kick:
		case <-stop:
			return nil
		case <-sess.ctx.Done():
			return nil
		}
	}
}

// flush writes the queued changes: new messages as one EXISTS, expunges
// as EXPUNGE, flag changes as FETCH (UID FLAGS) with the current flags.
func (sess *session) flush(w *goimap.UpdateWriter, allowExpunge bool) error {
	v := sess.view
	if err := sess.announceFlags(w); err != nil {
		return err
	}
	changes, resync := v.take(allowExpunge)
	if resync {
		if err := sess.resync(w); err != nil {
			return err
		}
		return sess.updateContexts(nil, true) // RFC 5267 §4.3, context.go
	}
	announced := len(v.entries)
	var flagged, gone []imap.UID
	for i, c := range changes {
		v.changeMark = max(v.changeMark, c.ModSeq)
		switch c.Kind {
		case mailbox.ChangeNew:
			if imap.UID(c.UID) > v.lastUID() {
				v.entries = append(v.entries, entry{imap.UID(c.UID), c.EmailID})
			}
		case mailbox.ChangeExpunge:
			if v.index(imap.UID(c.UID)) >= 0 {
				gone = append(gone, imap.UID(c.UID))
			}
			if i+1 < len(changes) && changes[i+1].Kind == mailbox.ChangeExpunge {
				continue // one pass over the snapshot for a run of expunges
			}
			if err := sess.announce(w, &announced); err != nil {
				return err
			}
			if err := sess.writeGone(w, gone); err != nil {
				return err
			}
			gone, announced = gone[:0], len(v.entries)
		case mailbox.ChangeFlags:
			if v.self[c.EmailID] > 0 {
				v.self[c.EmailID]--
				continue
			}
			flagged = append(flagged, imap.UID(c.UID))
		}
	}
	if err := sess.announce(w, &announced); err != nil {
		return err
	}
	if err := sess.writeFlagUpdates(w, flagged); err != nil {
		return err
	}
	return sess.updateContexts(changedUIDs(changes), false) // RFC 5267 §4.3, context.go
}

// announceFlags writes FLAGS if keywords came into use since the last one.
func (sess *session) announceFlags(w *goimap.UpdateWriter) error {
	if !sess.view.flagsDirty {
		return nil
	}
	sess.view.flagsDirty = false
	return w.WriteMailboxFlags(sess.view.mailboxFlags())
}

// announce writes EXISTS if entries grew since *announced.
func (sess *session) announce(w *goimap.UpdateWriter, announced *int) error {
	if n := len(sess.view.entries); n != *announced {
		*announced = n
		return w.WriteNumMessages(uint32(n))
	}
	return nil
}

// writeFlagUpdates writes the current flags of each UID still in view.
func (sess *session) writeFlagUpdates(w *goimap.UpdateWriter, uids []imap.UID) error {
	slices.Sort(uids)
	uids = slices.Compact(uids)
	for _, uid := range uids {
		i := sess.view.index(uid)
		if i < 0 {
			continue
		}
		e, ok, err := sess.email(sess.view.entries[i])
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		sess.view.noteKeywords(e)
		if err := sess.announceFlags(w); err != nil {
			return err
		}
		if err := sess.writeFlagUpdate(w, uint32(i)+1, e); err != nil {
			return err
		}
	}
	return nil
}

// email loads one entry's email; ok is false if it left the folder.
func (sess *session) email(en entry) (mailbox.Email, bool, error) {
	e, err := sess.store.Email(sess.ctx, en.id)
	if errors.Is(err, mailbox.ErrNotFound) {
		return mailbox.Email{}, false, nil
	}
	if err != nil {
		return mailbox.Email{}, false, err
	}
	return e, e.Folder == sess.view.folder && imap.UID(e.UID) == en.uid, nil
}

// resync rebuilds the snapshot from a fresh List after the watch lost
// changes: gone UIDs are expunged, new ones announced, and flags that
// changed since the last full List (by ModSeq) re-sent. A deleted folder
// looks empty.
func (sess *session) resync(w *goimap.UpdateWriter) error {
	v := sess.view
	clear(v.self)
	var emails []mailbox.Email
	f, err := sess.store.Folder(sess.ctx, sess.user, v.folder)
	if err == nil {
		emails, err = sess.store.List(sess.ctx, sess.user, v.folder)
	}
	if err != nil && !errors.Is(err, mailbox.ErrNoSuchFolder) {
		return err
	}
	byUID := make(map[imap.UID]mailbox.Email, len(emails))
	for _, e := range emails {
		byUID[imap.UID(e.UID)] = e
	}
	var gone []imap.UID
	for _, en := range v.entries {
		if e, ok := byUID[en.uid]; !ok || e.ID != en.id {
			gone = append(gone, en.uid)
		}
	}
	if err := sess.writeGone(w, gone); err != nil {
		return err
	}
	return sess.resyncRest(w, emails, f.HighestModSeq)
}

func (sess *session) resyncRest(w *goimap.UpdateWriter, emails []mailbox.Email, mark uint64) error {
	v := sess.view
	announced := len(v.entries)
	var changed []imap.UID
	for _, e := range emails {
		uid := imap.UID(e.UID)
		switch {
		case uid > v.lastUID():
			v.entries = append(v.entries, entry{uid, e.ID})
		case e.ModSeq > v.modMark:
			changed = append(changed, uid)
		}
	}
	if mark > 0 {
		v.modMark = mark
		v.changeMark = max(v.changeMark, mark)
	}
	if err := sess.announce(w, &announced); err != nil {
		return err
	}
	return sess.writeFlagUpdates(w, changed)
}
