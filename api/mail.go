package api

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/submission"
)

// mail.go: the agent's reading side beyond list/read/tag: threads, reply, check_inbox, the raw
// message and attachments, and filing (move, archive, delete to Trash, mark read/unread).
// Scopes: reading needs read; every change to the mailbox's state (folders and flags) needs
// tag, like tags themselves, so a read-only key never changes what a person sees; reply needs
// send on the mailbox holding the email and goes through the one submission path.

// MaxThreadEmails bounds GET /v1/threads/{thread_id}: the newest ones are shown.
const MaxThreadEmails = 200

// check_inbox waits at most this long (the timeout parameter, seconds; default 30).
const (
	defaultInboxWait = 30 * time.Second
	maxInboxWait     = 60 * time.Second
)

// zeroEmailID is the cursor of an empty folder: below every email ID.
const zeroEmailID = "em_00000000000000000000000000"

// getThread is GET /v1/threads/{thread_id}[?mailbox_id=]: the thread's emails in the key's
// mailboxes (or the one named), oldest first. A thread with none of them is 404.
func (s *Server) getThread(w http.ResponseWriter, r *http.Request, p *principal) error {
	th, err := pathValue(r, "thread_id")
	if err != nil {
		return err
	}
	if !mailbox.ParseThreadID(th) {
		return errNotFound("thread")
	}
	mbs, err := s.mailboxesOf(r, p)
	if err != nil {
		return err
	}
	var all []mailbox.Email
	truncated := false
	for _, mb := range mbs {
		es, next, err := s.opts.Store.Query(r.Context(), mailbox.Query{Mailbox: mb, ThreadID: th,
			Limit: MaxThreadEmails, IncludePending: p.oversees(mb)})
		if err != nil {
			return err
		}
		all = append(all, es...)
		truncated = truncated || next != ""
	}
	if len(all) == 0 {
		return errNotFound("thread")
	}
	slices.SortStableFunc(all, func(a, b mailbox.Email) int {
		if c := a.InternalDate.Compare(b.InternalDate); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(all) > MaxThreadEmails {
		all, truncated = all[len(all)-MaxThreadEmails:], true
	}
	out := wire.Thread{ThreadID: th, Emails: make([]wire.EmailSummary, 0, len(all)), Truncated: truncated}
	for _, e := range all {
		out.Emails = append(out.Emails, summaryJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// mailboxesOf is the mailbox_id query parameter (which p must hold) or every mailbox p holds.
func (s *Server) mailboxesOf(r *http.Request, p *principal) ([]string, error) {
	if mb := r.URL.Query().Get("mailbox_id"); mb != "" {
		if !p.may(mb) {
			return nil, errForbidden("this API key is not scoped to %s", mb)
		}
		return []string{strings.ToLower(mb)}, nil
	}
	if !p.all() {
		return p.mailboxes, nil
	}
	list, err := s.opts.Store.Mailboxes(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, m := range list {
		out = append(out, m.Address)
	}
	return out, nil
}

// replyEmail is POST /v1/emails/{email_id}/reply: a reply to the sender (Reply-To, else
// From), or with reply_all also to To and Cc, from the mailbox holding the email, with
// In-Reply-To, References and "Re: " set. It is a send like any other: the mailbox's
// oversight applies, and the Sent copy lands in the same thread.
func (s *Server) replyEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	var body wire.ReplyRequest
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	if strings.TrimSpace(body.Text) == "" && strings.TrimSpace(body.HTML) == "" {
		return errField("text", "give text or html")
	}
	e, err := s.emailFor(r, p)
	if err != nil {
		return err
	}
	raw, err := s.opts.Store.Raw(r.Context(), e.ID)
	if err != nil {
		return err
	}
	req := replyTo(e, raw, body.ReplyAll)
	if len(req.To) == 0 {
		return errField("email_id", "the email names no address to reply to")
	}
	req.Text, req.HTML, req.Priority, req.Tags = body.Text, body.HTML, body.Priority, body.Tags
	req.IdempotencyKey = body.IdempotencyKey
	if err := mergeIdempotencyKey(req, r.Header.Get(idempotencyHeader)); err != nil {
		return err
	}
	rc, err := s.opts.Submitter.Send(detached(r.Context()), req, p.forSend(e.Mailbox))
	if err != nil {
		return err
	}
	if rc.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, wire.ReplyResponse{
		SendResponse: wire.SendResponse{MessageID: rc.ID, Status: rc.Status, QueuedAt: wireTime(rc.QueuedAt)},
		ThreadID:     e.ThreadID, To: req.To, Cc: req.Cc, Subject: req.Subject,
	})
	return nil
}

// maxReplyRefs bounds the References of a reply (the root and the latest ones are kept).
const maxReplyRefs = 20

// replyTo builds the addressing and threading of a reply to e.
func replyTo(e mailbox.Email, raw []byte, all bool) *submission.SendRequest {
	req := &submission.SendRequest{MailboxID: e.Mailbox, Headers: map[string]string{}}
	var h mail.Header
	if th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw))); err == nil {
		h = mail.Header{Header: message.Header{Header: th}}
	}
	addrs := func(key string) []string {
		list, _ := h.AddressList(key)
		var out []string
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	self := strings.ToLower(e.Mailbox)
	seen := map[string]bool{self: true}
	add := func(dst *submission.AddressList, list []string) {
		for _, a := range list {
			if a != "" && !seen[a] {
				seen[a] = true
				*dst = append(*dst, a)
			}
		}
	}
	from := addrs("From")
	switch {
	case slices.Contains(from, self): // a reply to our own sent mail goes to its recipients
		add(&req.To, addrs("To"))
	case len(addrs("Reply-To")) > 0:
		add(&req.To, addrs("Reply-To"))
	default:
		add(&req.To, from)
	}
	if all {
		add(&req.Cc, addrs("To"))
		add(&req.Cc, addrs("Cc"))
	}
	subject := strings.TrimSpace(e.Subject)
	if l := strings.ToLower(subject); !strings.HasPrefix(l, "re:") {
		subject = "Re: " + subject
	}
	req.Subject = subject
	if e.MessageID != "" && !strings.ContainsAny(e.MessageID, "<>\r\n \t") {
		refs, _ := h.MsgIDList("References")
		refs = slices.DeleteFunc(refs, func(id string) bool { return strings.ContainsAny(id, "<>\r\n \t") || id == "" })
		if len(refs) > maxReplyRefs-1 {
			refs = append(refs[:1], refs[len(refs)-(maxReplyRefs-2):]...)
		}
		refs = append(refs, e.MessageID)
		req.Headers["In-Reply-To"] = "<" + e.MessageID + ">"
		req.Headers["References"] = "<" + strings.Join(refs, "> <") + ">"
	}
	return req
}

// checkInbox is GET /v1/mailboxes/{mailbox_id}/check_inbox?cursor=&timeout=&folder=&limit=:
// without a cursor, the folder's unread emails and a cursor at its newest email; with one, the
// emails that arrived after it, waiting up to timeout seconds (long poll) for one to arrive.
// The cursor is an email ID; emails are compared by ID, which grows with arrival.
func (s *Server) checkInbox(w http.ResponseWriter, r *http.Request, p *principal) error {
	mbox, err := pathValue(r, "mailbox_id")
	if err != nil {
		return err
	}
	if !p.may(mbox) {
		return errForbidden("this API key is not scoped to %s", mbox)
	}
	v := r.URL.Query()
	limit, _, err := pageParams(r)
	if err != nil {
		return err
	}
	folder := v.Get("folder")
	if folder == "" {
		folder = "INBOX"
	}
	if hasCRLF(folder) {
		return errField("folder", "must be one line")
	}
	cursor := v.Get("cursor")
	if cursor != "" {
		if cursor = normalizeEmailID(cursor); cursor == "" {
			return errField("cursor", "must be a cursor from a previous check_inbox (an email id)")
		}
	}
	wait := defaultInboxWait
	if t := v.Get("timeout"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxInboxWait {
			return errField("timeout", "must be 0 to %d seconds", int(maxInboxWait/time.Second))
		}
		wait = time.Duration(n) * time.Second
	}
	if _, err := s.opts.Store.Folder(r.Context(), mbox, folder); err != nil {
		if _, merr := s.opts.Store.Mailbox(r.Context(), mbox); merr != nil {
			return merr
		}
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	for {
		wctx, stop := context.WithCancel(ctx)
		changes := s.opts.Store.Watch(wctx, mbox) // before reading: nothing slips in between
		out, err := s.inboxSince(r.Context(), mbox, folder, cursor, limit)
		if err != nil || len(out.Emails) > 0 || cursor == "" || wait == 0 {
			stop()
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}
		woke := waitNew(ctx, changes, folder)
		stop()
		if !woke {
			if r.Context().Err() != nil {
				return r.Context().Err()
			}
			writeJSON(w, http.StatusOK, out) // timed out: nothing new, the same cursor
			return nil
		}
	}
}

// waitNew waits for an email to appear in folder; false when ctx ends. A closed channel (the
// watcher fell behind) counts as a wake-up: the caller reads again.
func waitNew(ctx context.Context, changes <-chan mailbox.Change, folder string) bool {
	for {
		select {
		case c, ok := <-changes:
			if !ok {
				return ctx.Err() == nil
			}
			if c.Kind == mailbox.ChangeNew && strings.EqualFold(c.Folder, folder) {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}

// maxInboxScan bounds how many emails one check_inbox reads looking for the cursor.
const maxInboxScan = 2000

// inboxSince lists the folder's emails after cursor, oldest first, at most limit.
func (s *Server) inboxSince(ctx context.Context, mbox, folder, cursor string, limit int) (wire.InboxCheck, error) {
	out := wire.InboxCheck{Emails: []wire.EmailSummary{}, Cursor: cursor}
	if limit <= 0 {
		limit = mailbox.DefaultQueryLimit
	}
	if cursor == "" {
		newest, _, err := s.opts.Store.Query(ctx, mailbox.Query{Mailbox: mbox, Folder: folder, Limit: 1})
		if err != nil {
			return out, err
		}
		out.Cursor = zeroEmailID
		if len(newest) > 0 {
			out.Cursor = newest[0].ID
		}
		unread := true
		es, next, err := s.opts.Store.Query(ctx, mailbox.Query{Mailbox: mbox, Folder: folder, Unread: &unread, Limit: limit})
		if err != nil {
			return out, err
		}
		slices.Reverse(es)
		for _, e := range es {
			out.Emails = append(out.Emails, summaryJSON(e))
		}
		out.More = next != ""
		return out, nil
	}
	var fresh []mailbox.Email
	page := ""
	for scanned := 0; scanned < maxInboxScan; {
		es, next, err := s.opts.Store.Query(ctx, mailbox.Query{Mailbox: mbox, Folder: folder, Limit: mailbox.MaxQueryLimit, Cursor: page})
		if err != nil {
			return out, err
		}
		done := next == ""
		for _, e := range es {
			scanned++
			if normalizeEmailID(e.ID) <= cursor {
				done = true
				break
			}
			fresh = append(fresh, e)
		}
		if done {
			break
		}
		page = next
	}
	slices.SortFunc(fresh, func(a, b mailbox.Email) int { return strings.Compare(a.ID, b.ID) })
	if len(fresh) > limit {
		fresh, out.More = fresh[:limit], true
	}
	for _, e := range fresh {
		out.Emails = append(out.Emails, summaryJSON(e))
		out.Cursor = e.ID
	}
	return out, nil
}

// normalizeEmailID upper-cases a well-formed email ID ("" if it is not one), so IDs compare
// as text in creation order.
func normalizeEmailID(id string) string {
	rest, ok := strings.CutPrefix(id, "em_")
	if !ok || len(rest) != 26 {
		return ""
	}
	rest = strings.ToUpper(rest)
	for i := 0; i < len(rest); i++ {
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", rune(rest[i])) {
			return ""
		}
	}
	return "em_" + rest
}

// rawEmail is GET /v1/emails/{email_id}/raw: the stored RFC 5322 bytes.
func (s *Server) rawEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	e, err := s.emailFor(r, p)
	if err != nil {
		return err
	}
	raw, err := s.opts.Store.Raw(r.Context(), e.ID)
	if err != nil {
		return err
	}
	download(w, "message/rfc822", e.ID+".eml")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
	return nil
}

// download sets the headers of a file download of untrusted content: never rendered or
// sniffed by a browser on this origin.
func download(w http.ResponseWriter, contentType, filename string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, no-store")
	cd := mime.FormatMediaType("attachment", map[string]string{"filename": filename})
	if cd == "" {
		cd = "attachment"
	}
	h.Set("Content-Disposition", cd)
}

// emailAttachment is GET /v1/emails/{email_id}/attachments/{n}: attachment n (0-based, the
// order of read_email's attachments) with its content type.
func (s *Server) emailAttachment(w http.ResponseWriter, r *http.Request, p *principal) error {
	ns, err := pathValue(r, "n")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 0 || n > 10000 {
		return errField("n", "must be an attachment index (0, 1, …)")
	}
	e, err := s.emailFor(r, p)
	if err != nil {
		return err
	}
	raw, err := s.opts.Store.Raw(r.Context(), e.ID)
	if err != nil {
		return err
	}
	mr, _ := mail.CreateReader(bytes.NewReader(raw))
	if mr == nil {
		return errNotFound("attachment")
	}
	defer mr.Close()
	var content []byte
	var ct, name string
	found := false
	walkParts(mr, &wire.Email{}, n, func(h *mail.AttachmentHeader, body io.Reader) {
		found = true
		ct, _, _ = h.ContentType()
		name, _ = h.Filename()
		content, _ = io.ReadAll(io.LimitReader(body, int64(len(raw))))
	})
	if !found {
		return errNotFound("attachment")
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil || ct == "" {
		ct = "application/octet-stream"
	}
	if name == "" {
		name = "attachment-" + ns
	}
	download(w, ct, name)
	w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(content)
	return nil
}

// moveEmail is POST /v1/emails/{email_id}/move {"folder"}: the email, now in that folder (IMAP
// clients see it move: same store).
func (s *Server) moveEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	var body wire.MoveRequest
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	if strings.TrimSpace(body.Folder) == "" {
		return errField("folder", "required")
	}
	if hasCRLF(body.Folder) {
		return errField("folder", "must be one line")
	}
	return s.fileTo(w, r, p, body.Folder)
}

// archiveEmail is POST /v1/emails/{email_id}/archive: move to Archive.
func (s *Server) archiveEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.fileTo(w, r, p, "Archive")
}

// deleteEmail is DELETE /v1/emails/{email_id}: move to Trash (never an expunge; an email
// already in Trash stays there).
func (s *Server) deleteEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.fileTo(w, r, p, "Trash")
}

func (s *Server) fileTo(w http.ResponseWriter, r *http.Request, p *principal, folder string) error {
	e, err := s.emailFor(r, p)
	if err != nil {
		return err
	}
	if e.Folder != folder {
		if e, err = s.opts.Store.Move(detached(r.Context()), e.ID, folder); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, summaryJSON(e))
	return nil
}

// markEmail is POST /v1/emails/{email_id}/mark {"read":bool,"flagged":bool}: sets or clears
// \Seen and \Flagged.
func (s *Server) markEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	var body wire.MarkRequest
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	if body.Read == nil && body.Flagged == nil {
		return errField("read", "give read or flagged")
	}
	var add, remove []string
	for _, f := range []struct {
		set  *bool
		flag string
	}{{body.Read, mailbox.FlagSeen}, {body.Flagged, mailbox.FlagFlagged}} {
		switch {
		case f.set == nil:
		case *f.set:
			add = append(add, f.flag)
		default:
			remove = append(remove, f.flag)
		}
	}
	e, err := s.emailFor(r, p)
	if err != nil {
		return err
	}
	if e, err = s.opts.Store.SetFlags(detached(r.Context()), e.ID, add, remove); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, summaryJSON(e))
	return nil
}
