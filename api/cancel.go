package api

import (
	"net/http"

	"multimail.dev/multimail/api/wire"
)

// cancelMessage is POST /v1/messages/{message_id}/cancel: a key holding send (or admin) on the
// message's mailbox cancels every recipient not yet delivered (queue.Cancel). Another
// mailbox's message is 404; nothing left to cancel is 409 nothing_to_cancel.
func (s *Server) cancelMessage(w http.ResponseWriter, r *http.Request, p *principal) error {
	st, err := s.messageFor(r, p, "message_id")
	if err != nil {
		return err
	}
	res, err := s.opts.Queue.Cancel(detached(r.Context()), st.ID, p.by())
	if err != nil {
		return err
	}
	out := wire.CancelResponse{MessageID: st.ID, Cancelled: res.Cancelled, InFlight: res.InFlight}
	if out.Cancelled == nil {
		out.Cancelled = []string{}
	}
	if out.InFlight == nil {
		out.InFlight = []string{}
	}
	out.Status = st.State
	if now, err := s.opts.Queue.Status(r.Context(), st.ID); err == nil {
		out.Status = now.State
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
