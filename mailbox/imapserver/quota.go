package imapserver

// quota.go: QUOTA (RFC 9208) on the store's usage counter (mailbox.Store.Usage) and the
// operator's limit (Options.MailboxQuota): one quota root, "", per mailbox, holding every
// folder; one resource, STORAGE. Users cannot change it (SETQUOTA is NO [CANNOT]).

import (
	"fmt"

	"github.com/emersion/go-imap/v2"
	goimap "github.com/emersion/go-imap/v2/imapserver"

	"multimail.dev/multimail/mailbox"
)

var _ goimap.SessionQuota = (*session)(nil)

// quotaRoot is the one quota root of a mailbox (RFC 9208 §3.1: a user's quota root is
// often ""; Dovecot names its roots, see docs/imap.md for the difference).
const quotaRoot = ""

var (
	errNoQuotaRoot = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such quota root"}
	errSetQuota    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Quotas are set by the operator"}
)

// QuotaRoot implements goimap.SessionQuota (GETQUOTAROOT): every folder is under the one root.
func (sess *session) QuotaRoot(name string) ([]goimap.QuotaData, error) {
	sess.count("GETQUOTAROOT")
	if _, err := sess.store.Folder(sess.ctx, sess.user, name); err != nil {
		return nil, toIMAP(err)
	}
	d, err := sess.quota()
	if err != nil {
		return nil, err
	}
	return []goimap.QuotaData{*d}, nil
}

// Quota implements goimap.SessionQuota (GETQUOTA).
func (sess *session) Quota(root string) (*goimap.QuotaData, error) {
	sess.count("GETQUOTA")
	if root != quotaRoot {
		return nil, errNoQuotaRoot
	}
	return sess.quota()
}

// SetQuota implements goimap.SessionQuota: limits are the operator's ([limits] mailbox_quota).
func (sess *session) SetQuota(root string, _ map[imap.QuotaResourceType]int64) error {
	sess.count("SETQUOTA")
	if root != quotaRoot {
		return errNoQuotaRoot
	}
	return errSetQuota
}

// quota reports the mailbox's STORAGE in units of 1024 octets (RFC 9208 §5.1): usage
// rounded up, so a byte over is never shown as room; the limit rounded down.
func (sess *session) quota() (*goimap.QuotaData, error) {
	u, err := sess.store.Usage(sess.ctx, sess.user)
	if err != nil {
		return nil, toIMAP(fmt.Errorf("usage of %s: %w", sess.user, err))
	}
	return &goimap.QuotaData{Root: quotaRoot, Resources: []goimap.QuotaResource{{
		Type: imap.QuotaResourceStorage, Usage: (u.Bytes + 1023) / 1024, Limit: sess.srv.opts.MailboxQuota / 1024,
	}}}, nil
}

// roomForCopy refuses a COPY whose messages together would take the mailbox over its quota
// (NO [OVERQUOTA]) before any is copied: the store's Copy has no quota of its own, and a
// COPY stopped half-way would leave part of its messages behind. MOVE takes no room.
func (sess *session) roomForCopy(ts []target) error {
	q := sess.srv.opts.MailboxQuota
	if q <= 0 {
		return nil
	}
	u, err := sess.store.Usage(sess.ctx, sess.user)
	if err != nil {
		return toIMAP(fmt.Errorf("usage of %s: %w", sess.user, err))
	}
	need := int64(0)
	for _, t := range ts {
		e, err := sess.store.Email(sess.ctx, t.id)
		if err != nil {
			continue // expunged meanwhile: the copy skips it too
		}
		need += e.Size
	}
	if need > 0 && u.Bytes+need > q {
		return toIMAPDest(fmt.Errorf("COPY of %d bytes, %d of %d used: %w", need, u.Bytes, q, mailbox.ErrOverQuota))
	}
	return nil
}
