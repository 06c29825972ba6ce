package api

import (
	"context"
	"net/http"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/submission"
)

// idempotencyHeader carries the idempotency key as an alternative to the body field.
const idempotencyHeader = "Idempotency-Key"

// sendEmail is POST /v1/send_email: validate, check the key may send as mailbox_id, and hand
// the request to submission, which enqueues it durably before we answer 202.
func (s *Server) sendEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	release, err := s.reserveBody(r)
	if err != nil {
		return err
	}
	defer release()
	req, err := decodeSendRequest(r)
	if err != nil {
		return err
	}
	if err := mergeIdempotencyKey(req, r.Header.Get(idempotencyHeader)); err != nil {
		return err
	}
	if req.MailboxID == "" {
		return errField("mailbox_id", "required")
	}
	if !p.may(req.MailboxID) {
		return errForbidden("this API key may not send as %s", req.MailboxID)
	}
	if err := s.checkSendOptions(r.Context(), req, p); err != nil {
		return err
	}
	rc, err := s.opts.Submitter.Send(detached(r.Context()), req, p.forSend(req.MailboxID))
	if err != nil {
		return err
	}
	if rc.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, wire.SendResponse{MessageID: rc.ID, Status: rc.Status, QueuedAt: wireTime(rc.QueuedAt)})
	return nil
}

// checkSendOptions checks the options of a send that need more than the send scope.
func (s *Server) checkSendOptions(_ context.Context, req *submission.SendRequest, p *principal) error {
	if req.IgnoreSuppression && !(p.owner || (p.holds(scopeAdmin) && p.holds(scopeSend))) {
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Field: "ignore_suppression",
			Message: "ignore_suppression: needs the admin scope on top of send (the CLI over the ctl socket)"}
	}
	return nil
}

// mergeIdempotencyKey applies the Idempotency-Key header; it must agree with the body field
// when both are given.
func mergeIdempotencyKey(req *submission.SendRequest, header string) error {
	if header == "" {
		return nil
	}
	if hasCRLF(header) {
		return errField("Idempotency-Key", "must be one line")
	}
	if req.IdempotencyKey != "" && req.IdempotencyKey != header {
		return errField("idempotency_key", "differs from the Idempotency-Key header")
	}
	req.IdempotencyKey = header
	return nil
}
