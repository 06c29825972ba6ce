package api

import (
	"net/http"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/queue"
)

// listQueue is GET /v1/admin/queue?state=&mailbox=&limit=&cursor=: messages in ID (time)
// order, without event trails.
func (s *Server) listQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	f := queue.ListFilter{Mailbox: v.Get("mailbox"), State: v.Get("state"), After: cursor, Limit: limit + 1}
	list, err := s.opts.Queue.List(r.Context(), f)
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

// showQueue is GET /v1/admin/queue/{message_id}: as GET /v1/messages/{id}.
func (s *Server) showQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.getMessage(w, r, p)
}

// retryQueue is POST /v1/admin/queue/{message_id}/retry: deferred recipients are due now.
func (s *Server) retryQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathValue(r, "message_id")
	if err != nil {
		return err
	}
	if err := s.opts.Queue.Retry(detached(r.Context()), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Done{MessageID: id, Status: "retrying"})
	return nil
}

// deleteQueue is DELETE /v1/admin/queue/{message_id}: the message is dropped and its
// undelivered recipients reported failed ("deleted by admin").
func (s *Server) deleteQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathValue(r, "message_id")
	if err != nil {
		return err
	}
	if err := s.opts.Queue.Delete(detached(r.Context()), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Done{MessageID: id, Status: "deleted"})
	return nil
}
