package api

import (
	"net/http"
	"slices"
	"strings"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/queue"
)

// listQueue is GET /v1/admin/queue?state=&mailbox=&limit=&cursor=: messages in ID (time)
// order, without event trails. A mailbox-scoped admin sees its own mailboxes' messages only
// (naming another mailbox in ?mailbox= is 403); DSNs (no mailbox) are a super admin's.
func (s *Server) listQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	f := queue.ListFilter{Mailbox: v.Get("mailbox"), State: v.Get("state"), After: cursor, Limit: limit + 1}
	if f.State != "" && !slices.Contains(queueStates, f.State) {
		return errField("state", "must be one of %s", strings.Join(queueStates, ", "))
	}
	if f.Mailbox != "" && !p.may(f.Mailbox) {
		return errForbidden("this API key is not scoped to %s", f.Mailbox)
	}
	if f.Mailbox == "" && !p.all() && len(p.mailboxes) == 1 {
		f.Mailbox = p.mailboxes[0]
	}
	list, err := s.visibleQueue(r, p, f)
	if err != nil {
		return err
	}
	out := wire.MessageList{Messages: make([]wire.Message, 0, min(len(list), limit))}
	if len(list) > limit {
		list = list[:limit]
		out.NextCursor = list[limit-1].ID
	}
	for i := range list {
		out.Messages = append(out.Messages, messageJSON(&list[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// visibleQueue lists up to f.Limit messages p may see, reading further pages while the ones it
// may not see are filtered out (a key of several mailboxes, no ?mailbox=).
func (s *Server) visibleQueue(r *http.Request, p *principal, f queue.ListFilter) ([]queue.Status, error) {
	want := f.Limit
	var out []queue.Status
	for {
		list, err := s.opts.Queue.List(r.Context(), f)
		if err != nil {
			return nil, err
		}
		for _, st := range list {
			if p.all() || (st.Mailbox != "" && p.may(st.Mailbox)) {
				out = append(out, st)
			}
		}
		if len(out) >= want || len(list) < f.Limit {
			return out[:min(len(out), want)], nil
		}
		f.After = list[len(list)-1].ID
	}
}

// showQueue is GET /v1/admin/queue/{message_id}: as GET /v1/messages/{id} (another mailbox's
// message is 404).
func (s *Server) showQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.getMessage(w, r, p)
}

// retryQueue is POST /v1/admin/queue/{message_id}/retry: deferred recipients are due now.
// 409 when no recipient waits for delivery (all delivered, bounced, failed…, or held).
func (s *Server) retryQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	st, err := s.messageFor(r, p, "message_id")
	if err != nil {
		return err
	}
	if !hasRecipient(st, queue.RcptQueued, queue.RcptDeferred) {
		if hasRecipient(st, queue.RcptPendingApproval) {
			return errConflict("message %s is held for approval: approve or reject it, there is nothing to retry", st.ID)
		}
		return errConflict("message %s is %s: every recipient reached a final state, there is nothing to retry", st.ID, st.State)
	}
	if err := s.opts.Queue.Retry(detached(r.Context()), st.ID); err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, audit.Record{Kind: audit.KindQueueRetry, Mailbox: st.Mailbox, Object: st.ID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Done{MessageID: st.ID, Status: "retrying"})
	return nil
}

// deleteQueue is DELETE /v1/admin/queue/{message_id}: the message is dropped and its
// undelivered recipients reported failed ("deleted by admin"). 409 when every recipient is
// already final: there is nothing to stop.
func (s *Server) deleteQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	st, err := s.messageFor(r, p, "message_id")
	if err != nil {
		return err
	}
	if !hasRecipient(st, queue.RcptQueued, queue.RcptDeferred, queue.RcptPendingApproval) {
		return errConflict("message %s is %s: every recipient reached a final state, there is nothing left to delete", st.ID, st.State)
	}
	if err := s.opts.Queue.Delete(detached(r.Context()), st.ID); err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, audit.Record{Kind: audit.KindQueueDelete, Mailbox: st.Mailbox, Object: st.ID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Done{MessageID: st.ID, Status: "deleted"})
	return nil
}

// queueStates are the values of ?state= (queue.Status.State).
var queueStates = []string{queue.RcptQueued, queue.RcptDeferred, queue.RcptPendingApproval, queue.RcptDelivered,
	queue.RcptBounced, queue.RcptFailed, queue.RcptExpired, queue.RcptRejected, "completed"}

// hasRecipient reports whether a recipient of st is in one of the states.
func hasRecipient(st *queue.Status, states ...string) bool {
	for _, r := range st.Recipients {
		if slices.Contains(states, r.Status) {
			return true
		}
	}
	return false
}
