package imapserver

import (
	"context"
	"io"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

var _ goimap.SessionMultiAppend = (*session)(nil)

// BeginAppend implements goimap.SessionMultiAppend: APPEND of one message or
// several (MULTIAPPEND, RFC 3502). The messages are read into memory (each
// under the byte budget, as a single APPEND) and stored at Commit, in order;
// the store has no multi-message transaction, so a failure part-way expunges
// the ones already stored before answering NO (all or nothing, RFC 3502 §6.3.11).
func (sess *session) BeginAppend(name string) (goimap.Appender, error) {
	sess.count("APPEND")
	if err := sess.admit(); err != nil {
		return nil, err
	}
	f, err := sess.store.Folder(sess.ctx, sess.user, name)
	if err != nil {
		return nil, toIMAPDest(err)
	}
	return &appender{sess: sess, folder: f}, nil
}

// appender is one APPEND command's messages, held until Commit.
type appender struct {
	sess     *session
	folder   mailbox.Folder
	msgs     []pendingAppend
	releases []func()
}

type pendingAppend struct {
	raw  []byte
	opts mailbox.DeliverOptions
}

// Add reads one message into memory, reserving twice its size from the byte
// budget until the command ends.
func (a *appender) Add(r imap.LiteralReader, o *imap.AppendOptions) error {
	max := a.sess.srv.opts.MaxLiteralBytes
	release, err := a.sess.srv.opts.Budget.Reserve(a.sess.ctx, 2*min(r.Size(), max))
	if err != nil {
		return toIMAP(err)
	}
	a.releases = append(a.releases, release)
	raw, err := readAll(make([]byte, 0, min(r.Size(), max)), io.LimitReader(r, max))
	if err != nil {
		return err
	}
	a.msgs = append(a.msgs, pendingAppend{raw: raw, opts: mailbox.DeliverOptions{Flags: storeFlags(o.Flags), InternalDate: o.Time,
		QuotaBytes: a.sess.srv.opts.MailboxQuota}})
	return nil
}

// Commit stores the messages in order, each durably; on a failure the ones
// stored are expunged again and the error is answered.
func (a *appender) Commit() (*goimap.MultiAppendData, error) {
	defer a.Abort()
	sess := a.sess
	data := &goimap.MultiAppendData{UIDValidity: a.folder.UIDValidity}
	var stored []mailbox.Email
	for _, m := range a.msgs {
		e, err := sess.store.Deliver(sess.ctx, sess.user, a.folder.Name, m.raw, m.opts)
		if err != nil {
			a.rollback(stored)
			return nil, toIMAPDest(err)
		}
		stored = append(stored, e)
		data.UIDs = append(data.UIDs, imap.UID(e.UID))
	}
	if v := sess.view; v != nil && v.folder == a.folder.Name && len(stored) > 0 {
		v.awaitNew(sess.ctx, imap.UID(stored[len(stored)-1].UID))
	}
	return data, nil
}

// rollback removes the messages of a failed APPEND that were stored: \Deleted,
// then expunged by UID. It runs on its own context, so that a closing
// connection still cleans up; a failure is logged.
func (a *appender) rollback(stored []mailbox.Email) {
	if len(stored) == 0 {
		return
	}
	ctx := context.WithoutCancel(a.sess.ctx)
	uids := make([]uint32, len(stored))
	for i, e := range stored {
		uids[i] = e.UID
		if _, err := a.sess.store.SetFlags(ctx, e.ID, []string{mailbox.FlagDeleted}, nil); err != nil {
			a.sess.log.Error("MULTIAPPEND rollback: flag", "msg_id", e.ID, "err", err)
		}
	}
	if _, err := a.sess.store.Expunge(ctx, a.sess.user, a.folder.Name, uids); err != nil {
		a.sess.log.Error("MULTIAPPEND rollback: expunge", "mailbox", a.sess.user, "err", err)
	}
}

// Abort releases the budget held for the messages.
func (a *appender) Abort() {
	for _, release := range a.releases {
		release()
	}
	a.releases, a.msgs = nil, nil
}
