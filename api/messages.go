package api

import (
	"net/http"
	"time"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/queue"
)

// getMessage is GET /v1/messages/{message_id}: status, per-recipient status, event trail.
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, p *principal) error {
	st, err := s.messageFor(r, p, "message_id")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, messageJSON(st))
	return nil
}

// messageFor loads the message named by the path parameter and checks p may see it. A
// message of another mailbox is 404, as one that does not exist; a DSN (no mailbox) needs an
// all-mailbox key.
func (s *Server) messageFor(r *http.Request, p *principal, param string) (*queue.Status, error) {
	id, err := pathValue(r, param)
	if err != nil {
		return nil, err
	}
	st, err := s.opts.Queue.Status(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !p.all() && (st.Mailbox == "" || !p.may(st.Mailbox)) {
		return nil, errNotFound("message")
	}
	if !p.seesTest(st.Test) {
		return nil, errNotFound("message")
	}
	return st, nil
}

// messageJSON converts a queue status to its wire form.
func messageJSON(st *queue.Status) wire.Message {
	m := wire.Message{
		MessageID: st.ID, MailboxID: st.Mailbox, From: st.From, Subject: st.Subject,
		Status: st.State, Priority: st.Lane.String(), Tags: st.Tags,
		QueuedAt: wireTime(st.QueuedAt), ExpiresAt: timePtr(st.ExpiresAt), SendAt: timePtr(st.SendAt), Size: st.Size,
		Recipients: make([]wire.Recipient, 0, len(st.Recipients)), Test: st.Test,
	}
	for _, rc := range st.Recipients {
		m.Recipients = append(m.Recipients, wire.Recipient{
			Address: rc.Address, Status: rc.Status, Attempts: rc.Attempts,
			NextAttempt: timePtr(rc.NextAttempt), SMTPCode: rc.LastCode,
			EnhancedCode: rc.LastEnhanced, ErrorDetail: rc.LastDetail, UpdatedAt: timePtr(rc.UpdatedAt),
		})
	}
	if st.Approval != nil {
		a := approvalJSON(queue.ApprovalRecord{Approval: *st.Approval})
		m.Approval = &a
	}
	for _, ev := range st.Events {
		m.Events = append(m.Events, trailEvent(ev))
	}
	return m
}

func trailEvent(ev queue.Event) wire.TrailEvent {
	return wire.TrailEvent{
		Seq: ev.Seq, Event: string(ev.Type), Time: wireTime(ev.Time), Recipient: ev.Recipient,
		MXHost: ev.MXHost, SMTPCode: ev.SMTPCode, EnhancedCode: ev.EnhancedCode,
		ErrorDetail: ev.Detail, Attempt: ev.Attempt, TLS: ev.TLS, Tags: ev.Tags,
		By: ev.By, Rule: ev.Rule, Reason: ev.Reason, MailboxID: ev.MailboxID, EmailID: ev.EmailID,
		SendAt:   timePtr(ev.SendAt),
		SourceIP: ev.SourceIP, IPPool: ev.IPPool,
	}
}

// approvalJSON converts an approval record to its wire form.
func approvalJSON(a queue.ApprovalRecord) wire.Approval {
	return wire.Approval{
		ApprovalID: a.ID, State: string(a.State), MessageID: a.MsgID, MailboxID: a.Mailbox,
		Subject: a.Subject, To: a.To, Tags: a.Tags, By: a.By, Rule: a.Rule, Reason: a.Reason,
		CreatedAt: timePtr(a.CreatedAt), DecidedAt: timePtr(a.DecidedAt), Test: a.Test,
	}
}

// timePtr is nil for the zero time, else the UTC time.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := wireTime(t)
	return &u
}

// wireTime is how the API writes times: UTC, whole seconds (RFC 3339 as in the contract's
// examples, "2026-04-19T10:00:00Z"); event order is carried by seq, not sub-second times.
func wireTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
