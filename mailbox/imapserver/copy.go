package imapserver

import (
	"errors"
	"io"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

// Append implements goimap.Session; go-imap has already refused a literal
// over AppendLimit (TOOBIG). The answer carries APPENDUID (RFC 4315). With
// MULTIAPPEND advertised the fork sends every APPEND to BeginAppend; this is the
// same path for one message.
func (sess *session) Append(name string, r imap.LiteralReader, o *imap.AppendOptions) (*imap.AppendData, error) {
	a, err := sess.BeginAppend(name)
	if err != nil {
		return nil, err
	}
	if err := a.Add(r, o); err != nil {
		a.Abort()
		return nil, err
	}
	d, err := a.Commit()
	if err != nil {
		return nil, err
	}
	return &imap.AppendData{UIDValidity: d.UIDValidity, UID: d.UIDs[0]}, nil
}

// admit asks Options.Admit whether a new message may be stored; its error is logged and
// answered NO [UNAVAILABLE]. COPY and MOVE are not asked: they add no body to the store.
func (sess *session) admit() error {
	if sess.srv.opts.Admit == nil {
		return nil
	}
	if err := sess.srv.opts.Admit(); err != nil {
		sess.log.Debug("APPEND refused", "err", err)
		return toIMAP(errUnavailable)
	}
	return nil
}

// Copy implements goimap.Session; the answer carries COPYUID (RFC 4315).
func (sess *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	sess.count("COPY")
	return sess.transfer(numSet, dest, false)
}

// Move implements goimap.SessionMove (RFC 6851): COPYUID first, then the
// EXPUNGE of each moved message.
func (sess *session) Move(w *goimap.MoveWriter, numSet imap.NumSet, dest string) error {
	sess.count("MOVE")
	v := sess.view
	if v.readOnly {
		return toIMAP(errReadOnly)
	}
	data, err := sess.transfer(numSet, dest, true)
	if data == nil {
		return err
	}
	if werr := w.WriteCopyData(data); werr != nil {
		return werr
	}
	moved, _ := data.SourceUIDs.Nums()
	if werr := sess.writeGone(w, moved); werr != nil {
		return werr
	}
	return err
}

// transfer copies or moves the addressed messages to dest. On a failure
// midway it returns what was done so far with the error. The UID sets are
// built from ascending UIDs on both sides, so their ranges correspond.
func (sess *session) transfer(numSet imap.NumSet, dest string, move bool) (*imap.CopyData, error) {
	v := sess.view
	f, err := sess.store.Folder(sess.ctx, sess.user, dest)
	if err != nil {
		return nil, toIMAPDest(err)
	}
	if move && f.Name == v.folder {
		return nil, toIMAP(errSameFolder)
	}
	op := sess.store.Copy
	if move {
		op = sess.store.Move
	}
	if err := v.checkSeq(numSet); err != nil {
		return nil, err
	}
	ts := v.resolve(numSet)
	if !move {
		if err := sess.roomForCopy(ts); err != nil {
			return nil, err
		}
	}
	var src, dst []imap.UID
	for _, t := range ts {
		e, err := op(sess.ctx, t.id, f.Name)
		if errors.Is(err, mailbox.ErrNotFound) {
			continue // expunged meanwhile
		}
		if err != nil {
			return copyData(f, src, dst), toIMAPDest(err)
		}
		src, dst = append(src, t.uid), append(dst, imap.UID(e.UID))
	}
	if f.Name == v.folder && len(dst) > 0 { // COPY into the selected folder
		v.awaitNew(sess.ctx, dst[len(dst)-1])
	}
	return copyData(f, src, dst), nil
}

func copyData(f mailbox.Folder, src, dst []imap.UID) *imap.CopyData {
	if len(src) == 0 {
		return nil
	}
	return &imap.CopyData{UIDValidity: f.UIDValidity, SourceUIDs: uidSet(src), DestUIDs: uidSet(dst)}
}

// Expunge implements goimap.Session for EXPUNGE, UID EXPUNGE (RFC 4315)
// and CLOSE. Only messages the client knows are expunged: the store is
// given the snapshot's UIDs, never "all \Deleted", which could remove a
// message not yet announced.
func (sess *session) Expunge(w *goimap.ExpungeWriter, uids *imap.UIDSet) error {
	sess.count("EXPUNGE")
	v := sess.view
	if v.readOnly {
		if *w == (goimap.ExpungeWriter{}) {
			return nil // CLOSE of a folder selected with EXAMINE expunges nothing
		}
		return toIMAP(errReadOnly)
	}
	var known []uint32
	for _, en := range v.entries {
		if uids == nil || uids.Contains(en.uid) {
			known = append(known, uint32(en.uid))
		}
	}
	if len(known) == 0 {
		return nil
	}
	removed, err := sess.store.Expunge(sess.ctx, sess.user, v.folder, known)
	if err != nil {
		return toIMAP(err)
	}
	gone := make([]imap.UID, len(removed))
	for i, u := range removed {
		gone[i] = imap.UID(u)
	}
	return sess.writeGone(w, gone)
}

// readAll is io.ReadAll into b, which is sized for the literal already, so
// the literal is read into one buffer without growing copies.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
