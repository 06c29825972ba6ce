package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
)

// batchWorkers is how many items of a batch are accepted at once (their commits share
// fsyncs).
const batchWorkers = 8

// sendBatch is POST /v1/send_batch: {"messages":[…]} of up to wire.MaxBatch send_email
// bodies. The batch itself is refused only when it is not a list of objects (400 naming
// "messages"); otherwise the answer is 200 with one result per item, each what send_email
// would have answered for it, each item committed (and idempotent) on its own.
func (s *Server) sendBatch(w http.ResponseWriter, r *http.Request, p *principal) error {
	release, err := s.reserveBody(r)
	if err != nil {
		return err
	}
	defer release()
	if r.Header.Get(idempotencyHeader) != "" {
		return errField(idempotencyHeader, "not used by send_batch: give each message its own idempotency_key")
	}
	var body struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	switch n := len(body.Messages); {
	case n == 0:
		return errField("messages", "at least one message is required")
	case n > wire.MaxBatch:
		return errField("messages", "at most %d messages, not %d", wire.MaxBatch, n)
	}
	if err := checkBatchMailboxes(body.Messages, p); err != nil {
		return err
	}
	out := wire.BatchResponse{Results: make([]wire.BatchResult, len(body.Messages))}
	ctx := detached(r.Context())
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(batchWorkers, len(body.Messages)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out.Results[i] = s.batchItem(ctx, i, body.Messages[i], p)
			}
		}()
	}
	for i := range body.Messages {
		next <- i
	}
	close(next)
	wg.Wait()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkBatchMailboxes refuses the whole batch (403) when an item names a mailbox the key does
// not hold, as send_email would, before anything is sent.
func checkBatchMailboxes(items []json.RawMessage, p *principal) error {
	for i, raw := range items {
		var m struct {
			MailboxID string `json:"mailbox_id"`
		}
		if json.Unmarshal(raw, &m) != nil || m.MailboxID == "" {
			continue // the item's own error
		}
		if !p.may(m.MailboxID) {
			e := errForbidden("messages[%d]: this API key may not send as %s", i, m.MailboxID)
			e.Field = fmt.Sprintf("messages[%d].mailbox_id", i)
			return e
		}
	}
	return nil
}

// batchItem accepts one message of a batch as sendEmail would, with its field errors named
// messages[i].field.
func (s *Server) batchItem(ctx context.Context, i int, raw json.RawMessage, p *principal) wire.BatchResult {
	res := wire.BatchResult{Index: i}
	rc, err := s.batchSend(ctx, raw, p)
	if err != nil {
		e := *toError(err)
		if e.Status >= 500 && e.Code != CodeInsufficientStorage {
			s.log.Error("send_batch item failed", "index", i, "err", err)
		}
		if e.Field != "" {
			f := fmt.Sprintf("messages[%d].%s", i, e.Field)
			e.Message, e.Field = f+": "+trimField(e.Message, e.Field), f
		}
		res.HTTPStatus, res.Error = e.Status, &wire.Error{Code: e.Code, Message: e.Message, Field: e.Field}
		return res
	}
	t := wireTime(rc.QueuedAt)
	res.HTTPStatus, res.MessageID, res.Status, res.QueuedAt = http.StatusAccepted, rc.ID, rc.Status, &t
	res.IdempotentReplayed = rc.Duplicate
	return res
}

// batchSend decodes and submits one item.
func (s *Server) batchSend(ctx context.Context, raw json.RawMessage, p *principal) (rc queue.Receipt, err error) {
	req, err := submission.DecodeSendRequest(bytes.NewReader(raw))
	if err != nil {
		return rc, err
	}
	if req.MailboxID == "" {
		return rc, errField("mailbox_id", "required")
	}
	if !p.may(req.MailboxID) {
		return rc, errForbidden("this API key may not send as %s", req.MailboxID)
	}
	if err := s.checkSendOptions(ctx, req, p); err != nil {
		return rc, err
	}
	return s.opts.Submitter.Send(ctx, req, p.forSend(req.MailboxID))
}

// trimField drops a leading "field: " from an error message.
func trimField(msg, field string) string {
	if len(msg) > len(field)+2 && msg[:len(field)+2] == field+": " {
		return msg[len(field)+2:]
	}
	return msg
}
