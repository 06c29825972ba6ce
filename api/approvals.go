package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
)

// listApprovals is GET /v1/approvals?state=&mailbox_id=&limit=&cursor=: oldest first, only
// the key's mailboxes. The cursor is the last approval ID of the previous page.
func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	state, err := approvalState(r.URL.Query().Get("state"))
	if err != nil {
		return err
	}
	mbox := r.URL.Query().Get("mailbox_id")
	if mbox != "" && !p.may(mbox) {
		return errForbidden("this API key is not scoped to %s", mbox)
	}
	recs, err := s.opts.Queue.Approvals(r.Context(), state)
	if err != nil {
		return err
	}
	recs = slices.DeleteFunc(recs, func(a queue.ApprovalRecord) bool {
		return !p.may(a.Mailbox) || !p.seesTest(a.Test) || (mbox != "" && !strings.EqualFold(a.Mailbox, mbox))
	})
	slices.SortFunc(recs, func(a, b queue.ApprovalRecord) int { return strings.Compare(a.ID, b.ID) })
	page, next := pageAfter(recs, cursor, limit, func(a queue.ApprovalRecord) string { return a.ID })
	out := wire.ApprovalList{Approvals: make([]wire.Approval, 0, len(page)), NextCursor: next}
	for _, a := range page {
		out.Approvals = append(out.Approvals, approvalJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// approvalState parses ?state=; "" is pending, "all" is every state.
func approvalState(v string) (queue.ApprovalState, error) {
	switch v {
	case "", "pending":
		return queue.ApprovalPending, nil
	case "all":
		return "", nil
	case "approved", "rejected":
		return queue.ApprovalState(v), nil
	}
	return "", errField("state", "must be pending, approved, rejected or all")
}

// pageAfter returns up to limit items whose key sorts after cursor, and the next cursor.
func pageAfter[T any](items []T, cursor string, limit int, key func(T) string) ([]T, string) {
	start := 0
	if cursor != "" {
		start = len(items)
		for i, it := range items {
			if key(it) > cursor {
				start = i
				break
			}
		}
	}
	items = items[start:]
	if len(items) <= limit {
		return items, ""
	}
	return items[:limit], key(items[limit-1])
}

// approve is POST /v1/approvals/{approval_id}/approve.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.decide(w, r, p, s.opts.Submitter.Approve)
}

// reject is POST /v1/approvals/{approval_id}/reject.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.decide(w, r, p, s.opts.Submitter.Reject)
}

// decide applies an approval decision through the Submitter (which checks who may decide and
// copies an approved message to Sent) and answers with the updated record (409 if it was
// already decided).
func (s *Server) decide(w http.ResponseWriter, r *http.Request, p *principal, act func(ctx context.Context, id, reason string, auth submission.Principal) error) error {
	id, err := pathValue(r, "approval_id")
	if err != nil {
		return err
	}
	var body wire.DecisionRequest
	if err := decodeJSON(r, &body, true); err != nil {
		return err
	}
	if len(body.Reason) > 1000 {
		return errField("reason", "at most 1000 characters")
	}
	rec, err := s.opts.Queue.Approval(r.Context(), id)
	if err != nil {
		return err
	}
	if !p.may(rec.Mailbox) || !p.seesTest(rec.Test) {
		return errNotFound("approval") // another mailbox's: as if it did not exist
	}
	if err := p.forSend(rec.Mailbox).MayDecide(rec.Mailbox); err != nil {
		return err // a key that holds send never decides (a legacy key, checked at use time)
	}
	if err := act(detached(r.Context()), id, body.Reason, p.forSend(rec.Mailbox)); err != nil {
		return err
	}
	if rec, err = s.opts.Queue.Approval(r.Context(), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, approvalJSON(*rec))
	return nil
}
