package webhook

import (
	"encoding/json"
	"time"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/queue"
)

// Payload converts a journal event into the webhook body. It depends on the stored event alone,
// so a retry of the same outbox entry produces the same bytes.
func Payload(ev queue.Event) wire.WebhookEvent {
	p := wire.WebhookEvent{
		Event:        string(ev.Type),
		MessageID:    ev.MsgID,
		Version:      wire.WebhookVersion,
		Recipient:    ev.Recipient,
		MXHost:       ev.MXHost,
		SourceIP:     ev.SourceIP,
		IPPool:       ev.IPPool,
		SMTPCode:     ev.SMTPCode,
		EnhancedCode: ev.EnhancedCode,
		ErrorDetail:  ev.Detail,
		Tags:         ev.Tags,
		Attempt:      ev.Attempt,
		By:           ev.By,
		Rule:         ev.Rule,
		Reason:       ev.Reason,
		MailboxID:    ev.MailboxID,
		EmailID:      ev.EmailID,
		Seq:          ev.Seq,
		Test:         ev.Test,
	}
	if r := ev.Received; r != nil {
		p.From, p.To, p.Subject, p.Snippet, p.ThreadID = r.From, r.To, r.Subject, r.Snippet, r.ThreadID
		p.AuthenticationResults, p.Authentication = r.AuthResults, r.Auth
	}
	if isDeliveryAttempt(ev.Type) && ev.Attempt > 0 {
		tls := ev.TLS
		p.TLS = &tls
	}
	if !ev.SendAt.IsZero() {
		t := ev.SendAt.UTC()
		p.SendAt = &t
	}
	p.SetAt(ev.Time.UTC().Truncate(time.Second))
	return p
}

// isDeliveryAttempt reports whether events of type t come from an SMTP attempt, where the
// "tls" field is meaningful even when false.
func isDeliveryAttempt(t queue.EventType) bool {
	switch t {
	case queue.EventDelivered, queue.EventDeferred, queue.EventBounced:
		return true
	}
	return false
}

// Body is the JSON encoding of Payload(ev).
func Body(ev queue.Event) ([]byte, error) {
	return json.Marshal(Payload(ev))
}
