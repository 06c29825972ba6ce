package api

// audit.go is GET /v1/audit and the admin actions' records in the audit journal.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/mailbox"
)

// audit records an admin action that already committed (the directory and the admin queue
// actions cannot share the journal's batch: audit.Journal.Append, a synced batch of its own).
// Every admin action is also logged ("admin action"); without a journal nothing is recorded.
func (s *Server) audit(ctx context.Context, p *principal, rec audit.Record) error {
	rec.Actor = p.by()
	s.log.InfoContext(ctx, "admin action", "kind", rec.Kind, "actor", rec.Actor, "object", rec.Object, "mailbox", rec.Mailbox)
	if s.opts.Audit == nil {
		return nil
	}
	if err := s.opts.Audit.Append(ctx, rec); err != nil {
		s.log.ErrorContext(ctx, "audit record lost", "kind", rec.Kind, "err", err)
		return err
	}
	return nil
}

// listAudit is GET /v1/audit?cursor=&limit=&since=&mailbox=: a page of the journal's export.
// A "*" admin (or the CLI) gets the full export (header, anchor, checkpoints; with ?mailbox=,
// other mailboxes' records as hash stubs so the chain still links). A mailbox-scoped admin
// gets its mailboxes' records only, nothing else (naming another mailbox is 403).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.opts.Audit == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "no audit journal"}
	}
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	if f.Mailbox != "" && !p.administers(f.Mailbox) {
		return errForbidden("this API key does not administer %s", f.Mailbox)
	}
	if !p.superAdmin() {
		f.Mailboxes = make([]string, len(p.mailboxes))
		for i, m := range p.mailboxes {
			f.Mailboxes[i] = strings.ToLower(m) // records name mailboxes in lower case
		}
		if f.Mailbox != "" {
			f.Mailboxes = []string{f.Mailbox}
		}
		f.Mailbox = ""
	} else if f.After == 0 && f.Since.IsZero() && f.Mailbox == "" {
		// A full export's first page: sign the head, so the export ends checkpointed.
		if _, err := s.opts.Audit.Checkpoint(r.Context()); err != nil {
			return err
		}
	}
	lines, next, err := s.opts.Audit.Page(r.Context(), f)
	if err != nil {
		return err
	}
	out := wire.AuditPage{Lines: lines}
	if out.Lines == nil {
		out.Lines = []string{}
	}
	if next != 0 {
		out.NextCursor = strconv.FormatUint(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func auditFilter(r *http.Request) (audit.Filter, error) {
	v := r.URL.Query()
	f := audit.Filter{Limit: 200, Mailbox: strings.ToLower(v.Get("mailbox"))}
	if c := v.Get("cursor"); c != "" {
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			return f, errField("cursor", "not a cursor this server returned")
		}
		f.After = n
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return f, errField("limit", "must be an integer from 1 to 1000")
		}
		f.Limit = n
	}
	if t := v.Get("since"); t != "" {
		ts, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return f, errField("since", "must be an RFC 3339 time")
		}
		f.Since = ts
	}
	return f, nil
}

// keyRecord is the audit record of a key made or revoked: its id, mailboxes and scopes
// (never the secret or its hash). Mailbox is its first mailbox, for scoped views.
func keyRecord(kind string, k mailbox.APIKey) audit.Record {
	rec := audit.Record{Kind: kind, Object: k.ID, Detail: map[string]string{
		"mailboxes": strings.Join(k.Mailboxes, ","), "scopes": strings.Join(k.Scopes, ",")}}
	if len(k.Mailboxes) > 0 && k.Mailboxes[0] != mailbox.AllMailboxes {
		rec.Mailbox = strings.ToLower(k.Mailboxes[0])
	}
	return rec
}
