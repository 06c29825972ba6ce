package api

import (
	"net/http"
	"strings"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
)

// listEmails is GET /v1/mailboxes/{mailbox_id}/emails?folder=&tag=&unread=&q=&limit=&cursor=,
// newest first. q is IMAP SEARCH TEXT (mailbox.Query.Text). Emails held by gated_all are hidden except from the mailbox's overseers
// (approve or admin, without send).
func (s *Server) listEmails(w http.ResponseWriter, r *http.Request, p *principal) error {
	mbox, err := pathValue(r, "mailbox_id")
	if err != nil {
		return err
	}
	if !p.may(mbox) {
		return errForbidden("this API key is not scoped to %s", mbox)
	}
	q, err := emailQuery(r, mbox)
	if err != nil {
		return err
	}
	q.IncludePending = p.oversees(mbox)
	if _, err := s.opts.Store.Mailbox(r.Context(), mbox); err != nil {
		return err
	}
	emails, next, err := s.opts.Store.Query(r.Context(), q)
	if err != nil {
		return err
	}
	out := wire.EmailList{Emails: make([]wire.EmailSummary, 0, len(emails)), NextCursor: next}
	for _, e := range emails {
		out.Emails = append(out.Emails, summaryJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// maxSearchText bounds q: a search string, not a document; longer ones only
// cost the scan more.
const maxSearchText = 256

// emailQuery reads the list filters from the query string.
func emailQuery(r *http.Request, mbox string) (mailbox.Query, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return mailbox.Query{}, err
	}
	v := r.URL.Query()
	q := mailbox.Query{Mailbox: mbox, Folder: v.Get("folder"), Tag: v.Get("tag"), Limit: limit, Cursor: cursor}
	if hasCRLF(q.Folder) {
		return q, errField("folder", "must be one line")
	}
	if hasCRLF(q.Tag) {
		return q, errField("tag", "must be one line")
	}
	if th := v.Get("thread_id"); th != "" {
		if !mailbox.ParseThreadID(th) {
			return q, errField("thread_id", "must be a th_… thread id")
		}
		q.ThreadID = th
	}
	q.Text = v.Get("q")
	if len(q.Text) > maxSearchText {
		return q, errField("q", "at most %d bytes", maxSearchText)
	}
	switch v.Get("unread") {
	case "":
	case "true", "1":
		t := true
		q.Unread = &t
	case "false", "0":
		f := false
		q.Unread = &f
	default:
		return q, errField("unread", "must be true or false")
	}
	return q, nil
}

// summaryJSON converts a stored email to its list entry.
func summaryJSON(e mailbox.Email) wire.EmailSummary {
	return wire.EmailSummary{
		EmailID: e.ID, MailboxID: e.Mailbox, Folder: e.Folder,
		From: nonNil(e.From), To: nonNil(e.To), Cc: e.Cc, Subject: e.Subject,
		Date: wireTime(e.Date), ReceivedAt: wireTime(e.InternalDate), Size: e.Size,
		Unread: !e.HasFlag(mailbox.FlagSeen), Tags: nonNil(e.Keywords), Flags: nonNil(e.Flags),
		ThreadID: e.ThreadID,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// emailFor loads the email named by the path parameter and checks p may see it.
func (s *Server) emailFor(r *http.Request, p *principal) (mailbox.Email, error) {
	id, err := pathValue(r, "email_id")
	if err != nil {
		return mailbox.Email{}, err
	}
	e, err := s.opts.Store.Email(r.Context(), id)
	if err != nil {
		return e, err
	}
	if !p.may(e.Mailbox) {
		return e, errNotFound("email") // another mailbox's: as if it did not exist
	}
	if e.Pending && !p.oversees(e.Mailbox) {
		return e, errNotFound("email") // gated_all: held from the agent until approved
	}
	return e, nil
}

// readEmail is GET /v1/emails/{email_id}: the parsed message. Reading does not change flags;
// tag_email with "\\Seen" marks an email read.
func (s *Server) readEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	e, err := s.emailFor(r, p)
	if err != nil {
		return err
	}
	raw, err := s.opts.Store.Raw(r.Context(), e.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, parseEmail(e, raw))
	return nil
}

// tagEmail is POST /v1/emails/{email_id}/tags {"add":[…],"remove":[…]}: the new tag list.
// Tags are IMAP keywords; the system flags \Seen, \Flagged, \Answered, \Draft and \Deleted
// may be set or cleared the same way and are reported in "flags".
func (s *Server) tagEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	var body wire.TagRequest
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	if len(body.Add)+len(body.Remove) == 0 {
		return errField("add", "give at least one tag in add or remove")
	}
	if err := checkTags("add", body.Add); err != nil {
		return err
	}
	if err := checkTags("remove", body.Remove); err != nil {
		return err
	}
	e, err := s.emailFor(r, p)
	if err != nil {
		return err
	}
	e, err = s.opts.Store.SetFlags(detached(r.Context()), e.ID, body.Add, body.Remove)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.TagResponse{EmailID: e.ID, Tags: nonNil(e.Keywords), Flags: nonNil(e.Flags)})
	return nil
}

// checkTags validates tags as IMAP keywords or known system flags, naming the bad one.
func checkTags(field string, tags []string) error {
	if len(tags) > 100 {
		return errField(field, "at most 100 tags")
	}
	for i, t := range tags {
		if strings.HasPrefix(t, `\`) {
			if !isSystemFlag(t) {
				return errField(fieldIndex(field, i), "unknown system flag %q", t)
			}
			continue
		}
		if err := mailbox.ValidateKeyword(t); err != nil {
			return errField(fieldIndex(field, i), "must be 1 to %d characters without spaces, control characters or (){%%*\"\\]", mailbox.MaxKeywordLen)
		}
	}
	return nil
}

func isSystemFlag(t string) bool {
	for _, f := range []string{mailbox.FlagSeen, mailbox.FlagAnswered, mailbox.FlagFlagged, mailbox.FlagDeleted, mailbox.FlagDraft} {
		if strings.EqualFold(t, f) {
			return true
		}
	}
	return false
}

func fieldIndex(field string, i int) string { return field + "[" + itoa(i) + "]" }
