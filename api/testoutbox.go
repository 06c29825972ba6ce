package api

import (
	"errors"
	"net/http"
	"strconv"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/queue"
)

// testOutboxMailbox checks p may read the named mailbox's test outbox and returns its
// address: a test key of the mailbox (it holds send or read: the route's scopes) or its
// overseers and admins (approve, which admin implies). A live send/read key never sees test
// data: 404, as if the outbox did not exist. Another mailbox is 403, as on every named route.
func (s *Server) testOutboxMailbox(r *http.Request, p *principal) (string, error) {
	mbox, err := pathValue(r, "mailbox_id")
	if err != nil {
		return "", err
	}
	if !p.may(mbox) {
		return "", errForbidden("this API key is not scoped to %s", mbox)
	}
	if !p.test && !p.owner && !p.holds(scopeApprove) {
		return "", errNotFound("test outbox")
	}
	if _, err := s.opts.Store.Mailbox(r.Context(), mbox); err != nil {
		return "", err
	}
	return mbox, nil
}

// listTestOutbox is GET /v1/mailboxes/{mailbox_id}/test_outbox?limit=&cursor=: the test
// messages that reached the test sink, newest first (docs/sending.md, Test keys).
func (s *Server) listTestOutbox(w http.ResponseWriter, r *http.Request, p *principal) error {
	mbox, err := s.testOutboxMailbox(r, p)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	items, next, err := s.opts.Queue.TestOutbox(r.Context(), mbox, cursor, limit)
	if err != nil {
		if errors.Is(err, queue.ErrInvalid) {
			return errField("cursor", "not a cursor this server returned")
		}
		return err
	}
	out := wire.TestOutbox{Messages: make([]wire.TestOutboxItem, 0, len(items)), NextCursor: next}
	for _, it := range items {
		out.Messages = append(out.Messages, wire.TestOutboxItem{
			MessageID: it.MessageID, To: nonNil(it.To), Subject: it.Subject, QueuedAt: wireTime(it.QueuedAt),
			DeliveredAt: wireTime(it.DeliveredAt), Size: it.Size, ExpiresAt: wireTime(it.Expires),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// readTestMessage is GET /v1/mailboxes/{mailbox_id}/test_outbox/{message_id}: the bytes the
// test sink received (the DKIM-signed RFC 5322 message), as message/rfc822, never sniffed.
func (s *Server) readTestMessage(w http.ResponseWriter, r *http.Request, p *principal) error {
	mbox, err := s.testOutboxMailbox(r, p)
	if err != nil {
		return err
	}
	id, err := pathValue(r, "message_id")
	if err != nil {
		return err
	}
	_, raw, err := s.opts.Queue.TestMessage(r.Context(), mbox, id)
	if err != nil {
		return err
	}
	download(w, "message/rfc822", id+".eml")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
	return nil
}
