package imapserver

import (
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

// Store implements goimap.Session: STORE / UID STORE change system flags
// and keywords, which are the API's tags.
func (sess *session) Store(w *goimap.FetchWriter, numSet imap.NumSet, sf *imap.StoreFlags, o *imap.StoreOptions) error {
	sess.count("STORE")
	v := sess.view
	if v.readOnly {
		return toIMAP(errReadOnly)
	}
	if err := sess.view.checkSeq(numSet); err != nil {
		return err
	}
	targets := v.resolve(numSet)
	emails, err := sess.load(targets)
	if err != nil {
		return err
	}
	for _, f := range sf.Flags {
		if strings.EqualFold(string(f), `\Recent`) { // RFC 3501 §2.3.2: not the client's to set
			return &imap.Error{Type: imap.StatusResponseTypeBad, Text: `\Recent cannot be stored`}
		}
	}
	want := storeFlags(sf.Flags)
	condStore := sess.condStore()
	var modified []target
	for i, t := range targets {
		e, ok := emails[i]
		if !ok {
			continue
		}
		limit := uint64(math.MaxUint64)
		if o != nil && o.UnchangedSince > 0 { // RFC 7162 §3.1.3: checked and stored in one step
			limit = o.UnchangedSince
		}
		add, remove := want, []string(nil)
		switch sf.Op {
		case imap.StoreFlagsDel:
			add, remove = nil, want
		case imap.StoreFlagsSet:
			remove = missing(slices.Concat(e.Flags, e.Keywords), want)
		}
		if e, err = sess.setFlags(e, add, remove, limit); errors.Is(err, mailbox.ErrNotFound) {
			continue // expunged meanwhile: RFC 2180 §4.2.1, OK as Dovecot answers
		} else if errors.Is(err, mailbox.ErrModified) {
			modified = append(modified, t)
			continue
		} else if err != nil {
			return toIMAP(err)
		}
		if err := sess.storeAnswer(w, t, e, sf.Silent, condStore); err != nil {
			return err
		}
	}
	if len(modified) > 0 {
		return goimap.ModifiedError(targetSet(numSet, modified))
	}
	return nil
}

// storeAnswer writes the FETCH that answers a STORE of one message: UID and FLAGS unless
// .SILENT, and with CONDSTORE its MODSEQ, which RFC 7162 §3.1.3 has sent even for .SILENT.
func (sess *session) storeAnswer(w *goimap.FetchWriter, t target, e mailbox.Email, silent, condStore bool) error {
	if silent && !condStore {
		return nil
	}
	rw := w.CreateMessage(t.seq)
	rw.WriteUID(t.uid)
	if !silent {
		rw.WriteFlags(imapFlags(e))
	}
	if condStore {
		sess.writeModSeq(rw, e.ModSeq)
	}
	return rw.Close()
}

// setFlags changes an email's flags through the store, if its ModSeq is at most limit
// (else mailbox.ErrModified), and remembers a real change, so that the watcher's echo of it
// is not sent back to this client.
func (sess *session) setFlags(e mailbox.Email, add, remove []string, limit uint64) (mailbox.Email, error) {
	if len(add) == 0 && len(remove) == 0 {
		if e.ModSeq > limit {
			return e, mailbox.ErrModified
		}
		return e, nil
	}
	updated, err := sess.store.SetFlagsIf(sess.ctx, e.ID, add, remove, limit)
	if err != nil {
		return e, err
	}
	if updated.ModSeq != e.ModSeq && sess.view != nil {
		sess.view.self[e.ID]++
		sess.view.touched = append(sess.view.touched, imap.UID(e.UID)) // UPDATE contexts (context.go)
		sess.view.noteKeywords(updated)
	}
	return updated, nil
}

// storeFlags converts IMAP flags for the store, dropping \Recent, which
// IMAP4rev2 removed and the store does not keep.
func storeFlags(flags []imap.Flag) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if strings.EqualFold(string(f), `\Recent`) {
			continue
		}
		out = append(out, string(f))
	}
	return out
}

// missing returns the items of have not in want (case-insensitive).
func missing(have, want []string) []string {
	var out []string
	for _, h := range have {
		found := false
		for _, w := range want {
			if strings.EqualFold(h, w) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, h)
		}
	}
	return out
}

// imapFlags is an email's FLAGS: its system flags then its keywords.
func imapFlags(e mailbox.Email) []imap.Flag {
	out := make([]imap.Flag, 0, len(e.Flags)+len(e.Keywords))
	for _, f := range e.Flags {
		out = append(out, imap.Flag(f))
	}
	for _, k := range e.Keywords {
		out = append(out, imap.Flag(k))
	}
	return out
}

// load returns the current email of each target, by position; a target
// whose email left the folder (expunged or moved, not yet reported) has no
// entry. Many targets are read with one List of the folder.
func (sess *session) load(targets []target) (map[int]mailbox.Email, error) {
	out := make(map[int]mailbox.Email, len(targets))
	if len(targets) <= listThreshold {
		for i, t := range targets {
			e, ok, err := sess.email(t.entry)
			if err != nil {
				return nil, err
			}
			if ok {
				out[i] = e
			}
		}
		return out, nil
	}
	emails, err := sess.store.List(sess.ctx, sess.user, sess.view.folder)
	if err != nil {
		return nil, toIMAP(err)
	}
	j := 0
	for i, t := range targets { // both ascending by UID: a merge
		for j < len(emails) && imap.UID(emails[j].UID) < t.uid {
			j++
		}
		if j < len(emails) && imap.UID(emails[j].UID) == t.uid && emails[j].ID == t.id {
			out[i] = emails[j]
		}
	}
	return out, nil
}
